namespace AccelAes.Loader.PyTorch;

/// <summary>What is wrong with a PyTorch checkpoint (see <see cref="PyTorchCheckpointException"/>).</summary>
public enum PyTorchCheckpointProblem
{
    /// <summary>The file does not exist, is not a regular file, is empty or cannot be read.</summary>
    Unreadable,
    /// <summary>The file is a <c>torch.save</c> file from before PyTorch 1.6 (a bare pickle stream), which is not read.</summary>
    LegacyFormat,
    /// <summary>The zip structure is broken: truncated, records out of range, compressed or encrypted entries.</summary>
    InvalidZip,
    /// <summary>A record <c>torch.save</c> writes (<c>data.pkl</c>, <c>data/&lt;key&gt;</c>) is missing, or the byte order is not little-endian.</summary>
    MissingRecord,
    /// <summary>The pickle stream is malformed: truncated, an unknown opcode, a stack or memo misuse.</summary>
    InvalidPickle,
    /// <summary>
    /// The pickle names a global (function or class) outside <c>torch.load(weights_only=True)</c>'s allow-list, or uses
    /// an opcode that would construct arbitrary objects. Nothing it names is ever executed.
    /// </summary>
    ForbiddenGlobal,
    /// <summary>The pickle is well-formed and safe but holds something this reader does not turn into tensors (sparse, quantized).</summary>
    Unsupported,
    /// <summary>A tensor's shape, strides or offset do not fit its storage, overflow, or are not contiguous.</summary>
    InvalidTensor,
    /// <summary>The pickle exceeds a bound of <see cref="Validation.InputLimits"/> (size, nesting, memo, tensor count).</summary>
    LimitExceeded,
    /// <summary>The pickle holds no tensors at all.</summary>
    NoTensors,
}
