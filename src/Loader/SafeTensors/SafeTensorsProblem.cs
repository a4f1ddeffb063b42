namespace AccelAes.Loader.SafeTensors;

/// <summary>What is wrong with a safetensors file or a sharded checkpoint index (see <see cref="SafeTensorsFormatException"/>).</summary>
public enum SafeTensorsProblem
{
    /// <summary>The file (or, for a component, every candidate file) does not exist.</summary>
    FileNotFound,
    /// <summary>The path names a directory or another non-file.</summary>
    NotAFile,
    /// <summary>The file exists but cannot be opened or mapped (permissions, I/O error).</summary>
    Unreadable,
    /// <summary>The file has zero bytes.</summary>
    EmptyFile,
    /// <summary>The file is shorter than the 8-byte header length prefix.</summary>
    Truncated,
    /// <summary>The declared header length exceeds the 100 MB limit.</summary>
    HeaderTooLarge,
    /// <summary>The declared header length runs past the end of the file.</summary>
    HeaderPastEnd,
    /// <summary>The header is not valid UTF-8 JSON, or does not begin with <c>{</c>.</summary>
    InvalidJson,
    /// <summary>The header is JSON but not an object.</summary>
    NotAnObject,
    /// <summary>A tensor entry is not a JSON object.</summary>
    EntryNotAnObject,
    /// <summary>A tensor entry lacks <c>dtype</c>, <c>shape</c> or <c>data_offsets</c>.</summary>
    MissingField,
    /// <summary>A tensor entry field has the wrong JSON type or form, or appears twice.</summary>
    InvalidField,
    /// <summary>The dtype string is not one this loader knows.</summary>
    UnknownDType,
    /// <summary>A shape dimension is negative.</summary>
    NegativeDimension,
    /// <summary>The element count or byte size of a shape does not fit in 64 bits.</summary>
    ElementCountOverflow,
    /// <summary>Shape × dtype size differs from the byte range given by <c>data_offsets</c>.</summary>
    ByteLengthMismatch,
    /// <summary><c>data_offsets</c> are negative or reversed (begin &gt; end).</summary>
    InvalidOffsets,
    /// <summary><c>data_offsets</c> reach past the end of the data section.</summary>
    OffsetsOutOfRange,
    /// <summary>Two tensors share bytes.</summary>
    OverlappingTensors,
    /// <summary>Bytes of the data section between tensors belong to no tensor.</summary>
    DataGap,
    /// <summary>Bytes at the end of the data section belong to no tensor.</summary>
    TrailingBytes,
    /// <summary>A tensor name (or <c>__metadata__</c>) appears twice in the header.</summary>
    DuplicateName,
    /// <summary><c>__metadata__</c> is not a string → string map.</summary>
    InvalidMetadata,
    /// <summary>A JSON file (a config, model_index.json) was given where a safetensors checkpoint was expected.</summary>
    JsonNotCheckpoint,
    /// <summary>A sharded checkpoint's index file is malformed (JSON, <c>weight_map</c>, shard file names).</summary>
    InvalidIndex,
    /// <summary>A shard file named by the index does not exist.</summary>
    MissingShard,
    /// <summary>The index maps a tensor to a shard that does not contain it.</summary>
    TensorNotInShard,
    /// <summary>The same tensor name is stored in two shard files.</summary>
    TensorInTwoShards,
    /// <summary>A shard holds a tensor the index does not list.</summary>
    UnindexedTensor,
}
