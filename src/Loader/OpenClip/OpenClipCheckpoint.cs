using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.OpenClip;

/// <summary>
/// An open_clip ViT CLIP checkpoint (e.g. HPSv2.1's <c>HPS_v2.1_compressed.pt</c>, a <c>{"state_dict": …}</c> of
/// ViT-H-14; or an open_clip <c>.safetensors</c>) seen under transformers' <c>CLIPModel</c> names with the config its
/// shapes imply, so the CLIP model code loads it as it loads a transformers folder. Renamed tensors and q/k/v rows are
/// served from the file mapping without copying; the two projections are transposed once, on first use.
/// </summary>
public sealed class OpenClipCheckpoint : IDisposable
{
    // DistributedDataParallel saves every key under "module."; open_clip's own loader strips it too.
    private const string DataParallelPrefix = "module.";

    private readonly SafeTensorsSet _set;
    private readonly string _prefix;
    private readonly Dictionary<string, byte[]> _transposed = new(StringComparer.Ordinal);

    private OpenClipCheckpoint(SafeTensorsSet set, string prefix, OpenClipKeyMap.Result mapping, OpenClipConfig config)
    {
        _set = set;
        _prefix = prefix;
        Mapping = mapping;
        Config = config;
    }

    /// <summary>transformers name → where it comes from; and the source tensors nothing maps (reported, not loaded).</summary>
    public OpenClipKeyMap.Result Mapping { get; }

    /// <summary>The inferred configuration (see <see cref="OpenClipConfigInference"/>).</summary>
    public OpenClipConfig Config { get; }

    /// <summary>The file opened, for messages.</summary>
    public string Source => _set.Source;

    /// <summary>Every transformers tensor name available.</summary>
    public IEnumerable<string> Names => Mapping.Targets.Keys;

    /// <summary>Opens a checkpoint (PyTorch or safetensors) and maps it.</summary>
    /// <exception cref="AccelAesException">The file is unreadable or not an open_clip ViT CLIP.</exception>
    public static OpenClipCheckpoint Open(string path, OpenClipConfigOverrides? overrides = null)
    {
        var set = SafeTensorsSet.OpenFile(path);
        try
        {
            var prefix = set.Tensors.Count > 0 && set.Tensors.All(t => t.Name.StartsWith(DataParallelPrefix, StringComparison.Ordinal))
                ? DataParallelPrefix : "";
            var shapes = set.Tensors.ToDictionary(t => t.Name[prefix.Length..], t => t.Shape, StringComparer.Ordinal);
            var config = OpenClipConfigInference.Infer(shapes, set.Source, overrides);
            return new OpenClipCheckpoint(set, prefix, OpenClipKeyMap.Map(shapes), config);
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>Whether <paramref name="name"/> (a transformers name) is available.</summary>
    public bool Contains(string name) => Mapping.Targets.ContainsKey(name);

    /// <summary>The element type of a transformers tensor (that of its open_clip source).</summary>
    public SafeTensorDType DTypeOf(string name) => SourceInfo(Target(name)).DType;

    /// <summary>The shape of a transformers tensor.</summary>
    public IReadOnlyList<long> ShapeOf(string name) => Target(name).Shape;

    /// <summary>The tensor's bytes in transformers' layout. Valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var target = Target(name);
        var info = SourceInfo(target);
        switch (target.Transform)
        {
            case OpenClipTransform.Rename:
                return _set.GetBytes(info);
            case OpenClipTransform.RowSlice:
                var rowBytes = info.ByteLength / info.Shape[0];
                var rows = target.Shape[0];
                return _set.FileOf(info).GetBytes(info, target.RowStart * rowBytes, checked((int)(rows * rowBytes)));
            default:
                lock (_transposed)
                {
                    if (!_transposed.TryGetValue(name, out var bytes))
                        _transposed[name] = bytes = Transpose(_set.GetBytes(info), (int)info.Shape[0], (int)info.Shape[1], info.DType.ByteSize());
                    return bytes;
                }
        }
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose() => _set.Dispose();

    private OpenClipTensorSource Target(string name) =>
        Mapping.Targets.TryGetValue(name, out var target)
            ? target
            : throw new MissingTensorException(name, Source, TensorNameSuggestions.Closest(name, Mapping.Targets.Keys));

    private SafeTensorInfo SourceInfo(OpenClipTensorSource target) => _set.Get(_prefix + target.SourceName);

    // [rows, columns] → [columns, rows], element by element of any width. Every index is below the span's length,
    // so int arithmetic cannot overflow.
    private static byte[] Transpose(ReadOnlySpan<byte> source, int rows, int columns, int elementBytes)
    {
        var result = new byte[source.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < columns; c++)
                source.Slice((r * columns + c) * elementBytes, elementBytes).CopyTo(result.AsSpan((c * rows + r) * elementBytes));
        return result;
    }
}
