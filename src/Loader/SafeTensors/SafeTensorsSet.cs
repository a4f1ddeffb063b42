using AccelAes.Loader.Files;
using System.Diagnostics.CodeAnalysis;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// The weights of one checkpoint or model component: a single safetensors file or the shards named by a
/// <c>*.safetensors.index.json</c>, seen as one name → tensor map. Tensor names are unique across shards. PyTorch
/// checkpoints (<c>pytorch_model.bin</c>, sharded <c>*.bin.index.json</c>, <c>.pt</c>/<c>.pth</c>) are opened through
/// <see cref="PyTorch.PyTorchCheckpoint"/> and served the same way, mapped from the file.
/// </summary>
public sealed class SafeTensorsSet : IDisposable
{
    private readonly SafeTensorsFile[] _files;
    private readonly Dictionary<string, (SafeTensorInfo Info, SafeTensorsFile File)> _byName;
    private readonly SafeTensorInfo[] _tensors;

    private SafeTensorsSet(string source, SafeTensorsFile[] files)
    {
        Source = source;
        _files = files;
        _tensors = files.SelectMany(f => f.Tensors).ToArray();
        _byName = new(_tensors.Length, StringComparer.Ordinal);
        foreach (var file in files)
            foreach (var tensor in file.Tensors)
                _byName.Add(tensor.Name, (tensor, file));
        TotalBytes = _tensors.Sum(t => t.ByteLength);
    }

    /// <summary>What was opened, for messages: the file path, or the index path of a sharded checkpoint.</summary>
    public string Source { get; }

    /// <summary>The open files: one, or the shards in file-name order.</summary>
    public IReadOnlyList<SafeTensorsFile> Files => _files;

    /// <summary>Every tensor: file by file, each file's tensors by offset.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors => _tensors;

    /// <summary>Sum of all tensors' byte lengths.</summary>
    public long TotalBytes { get; }

    /// <summary>Opens a single safetensors file.</summary>
    /// <exception cref="SafeTensorsFormatException">The file is missing or invalid.</exception>
    public static SafeTensorsSet OpenFile(string path)
    {
        // A shard index names the files that hold the tensors; any other JSON (a config, model_index.json) is no checkpoint.
        if (path.EndsWith(".safetensors.index.json", StringComparison.OrdinalIgnoreCase)
            || path.EndsWith(".bin.index.json", StringComparison.OrdinalIgnoreCase))
            return OpenSharded(InputFile.RequireRegularFile(path, "Shard index"));
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            throw new SafeTensorsFormatException(SafeTensorsProblem.JsonNotCheckpoint, UserPath.Full(path, "The safetensors file"), null,
                "this is a JSON file, not a safetensors checkpoint (for a model_index.json or config.json, give its folder).");
        var file = OpenTensorFile(path);
        return new SafeTensorsSet(file.Path, [file]);
    }

    // PyTorch checkpoints (.bin, .pt, .pth, or a zip/pickle by content) are read by the restricted torch.load
    // reader and served as the same mapped tensors; everything else is safetensors.
    private static SafeTensorsFile OpenTensorFile(string path) =>
        PyTorch.PyTorchCheckpoint.IsPyTorchFile(path) ? PyTorch.PyTorchCheckpoint.Open(path).TensorFile : SafeTensorsFile.Open(path);

    /// <summary>
    /// Opens a component's weights from a folder. <paramref name="baseName"/> is <c>diffusion_pytorch_model</c> for
    /// diffusers models and <c>model</c> for transformers text encoders; <paramref name="variant"/> (e.g. <c>bf16</c>,
    /// <c>fp16</c>) selects <c>&lt;base&gt;.&lt;variant&gt;.safetensors</c> or the variant's shard index, and null
    /// selects the unsuffixed files. A single file is preferred over an index when both exist.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">
    /// No candidate file exists (<see cref="SafeTensorsProblem.FileNotFound"/>; the message lists the names tried and
    /// the variants present), or a file or the index is invalid.
    /// </exception>
    public static SafeTensorsSet OpenComponent(string folder, string baseName, string? variant)
    {
        ArgumentException.ThrowIfNullOrEmpty(baseName);
        var fullFolder = UserPath.Full(folder, "The component folder");
        PathRules.RequireVariant(variant);

        var candidates = ComponentWeightsLocator.Candidates(fullFolder, baseName, variant);
        foreach (var candidate in candidates)
        {
            if (!InputFile.Exists(candidate.Path))
                continue;
            return candidate.IsIndex ? OpenSharded(candidate.Path) : OpenFile(candidate.Path);
        }
        throw NotFound(fullFolder, baseName, variant, candidates);
    }

    /// <summary>The variants present in a folder for a base name, e.g. <c>["bf16", "fp16"]</c>.</summary>
    public static IReadOnlyList<string> FindVariants(string folder, string baseName) =>
        ComponentWeightsLocator.Variants(Path.GetFullPath(folder), baseName);

    /// <summary>Whether a tensor of that exact name exists.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Looks a tensor up by its exact name.</summary>
    public bool TryGet(string name, [MaybeNullWhen(false)] out SafeTensorInfo info)
    {
        var found = _byName.TryGetValue(name, out var entry);
        info = entry.Info;
        return found;
    }

    /// <summary>The tensor of that exact name.</summary>
    /// <exception cref="MissingTensorException">No such tensor; the message lists up to five closest names.</exception>
    public SafeTensorInfo Get(string name) =>
        _byName.TryGetValue(name, out var entry)
            ? entry.Info
            : throw new MissingTensorException(name, Source, TensorNameSuggestions.Closest(name, _byName.Keys));

    /// <summary>The file holding a tensor of this set.</summary>
    public SafeTensorsFile FileOf(SafeTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!_byName.TryGetValue(tensor.Name, out var entry) || !ReferenceEquals(entry.Info, tensor))
            throw new ArgumentException($"Tensor '{tensor.Name}' from '{tensor.FilePath}' does not belong to {Source}.", nameof(tensor));
        return entry.File;
    }

    /// <summary>The tensor's bytes, without copying (see <see cref="SafeTensorsFile.GetBytes(SafeTensorInfo)"/>).</summary>
    public ReadOnlySpan<byte> GetBytes(SafeTensorInfo tensor) => FileOf(tensor).GetBytes(tensor);

    /// <summary>Address of the tensor's first byte (see <see cref="SafeTensorsFile.GetPointer"/>).</summary>
    public unsafe byte* GetPointer(SafeTensorInfo tensor) => FileOf(tensor).GetPointer(tensor);

    /// <summary>A copy of the named tensor converted to float32 (from any float, integer or bool dtype).</summary>
    /// <exception cref="MissingTensorException">No such tensor.</exception>
    /// <exception cref="AccelAesException">The dtype cannot be converted, or the tensor is too large for one array.</exception>
    public float[] ReadAsFloat32(string name)
    {
        var tensor = Get(name);
        if (!DTypeConversion.CanConvertToFloat32(tensor.DType))
            throw Unconvertible(tensor, "F32");
        var result = new float[CheckArrayLength(tensor)];
        ReadInChunks(tensor, result.AsSpan(), static (bytes, dtype, destination) => DTypeConversion.ToFloat32(bytes, dtype, destination));
        return result;
    }

    /// <summary>A copy of the named integer or bool tensor (token ids, masks) as int64.</summary>
    /// <exception cref="MissingTensorException">No such tensor.</exception>
    /// <exception cref="AccelAesException">The dtype is not an integer type, or the tensor is too large for one array.</exception>
    public long[] ReadAsInt64(string name)
    {
        var tensor = Get(name);
        if (!DTypeConversion.CanConvertToInt64(tensor.DType))
            throw Unconvertible(tensor, "I64");
        var result = new long[CheckArrayLength(tensor)];
        ReadInChunks(tensor, result.AsSpan(), static (bytes, dtype, destination) => DTypeConversion.ToInt64(bytes, dtype, destination));
        return result;
    }

    /// <summary>Unmaps every file.</summary>
    public void Dispose()
    {
        foreach (var file in _files)
            file.Dispose();
    }

    private delegate void ChunkConverter<T>(ReadOnlySpan<byte> bytes, SafeTensorDType dtype, Span<T> destination);

    // Tensors over 2 GB cannot be one span, so conversion walks them in whole-element chunks.
    private void ReadInChunks<T>(SafeTensorInfo tensor, Span<T> destination, ChunkConverter<T> convert)
    {
        const int chunkElements = 1 << 24;
        var file = FileOf(tensor);
        var size = tensor.DType.ByteSize();
        for (var first = 0; first < destination.Length; first += chunkElements)
        {
            var count = Math.Min(chunkElements, destination.Length - first);
            convert(file.GetBytes(tensor, (long)first * size, count * size), tensor.DType, destination.Slice(first, count));
        }
    }

    private int CheckArrayLength(SafeTensorInfo tensor) =>
        tensor.ElementCount <= Array.MaxLength
            ? (int)tensor.ElementCount
            : throw new AccelAesException(
                $"Tensor '{tensor.Name}' in '{tensor.FilePath}' has {tensor.ElementCount} elements, more than one array can hold.");

    private static AccelAesException Unconvertible(SafeTensorInfo tensor, string target) =>
        new($"Tensor '{tensor.Name}' in '{tensor.FilePath}' is {tensor.DType.HeaderName()}, which cannot be converted to {target}.");

    private static SafeTensorsSet OpenSharded(string indexPath)
    {
        var index = ShardIndex.Read(indexPath);
        var folder = Path.GetDirectoryName(indexPath)!;
        var shardNames = index.WeightMap.Select(e => e.Value).Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal).ToArray();
        foreach (var shard in shardNames)
        {
            var shardPath = Path.Combine(folder, shard);
            if (!InputFile.Exists(shardPath))
                throw new SafeTensorsFormatException(SafeTensorsProblem.MissingShard, indexPath, null,
                    $"shard file '{shard}' does not exist in '{folder}'.");
        }

        var files = new List<SafeTensorsFile>(shardNames.Length);
        try
        {
            foreach (var shard in shardNames)
                files.Add(OpenTensorFile(Path.Combine(folder, shard)));
            CheckShardsAgainstIndex(index, files);
            return new SafeTensorsSet(indexPath, files.ToArray());
        }
        catch
        {
            foreach (var file in files)
                file.Dispose();
            throw;
        }
    }

    private static void CheckShardsAgainstIndex(ShardIndex index, List<SafeTensorsFile> shards)
    {
        var shardOf = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        foreach (var shard in shards)
            foreach (var tensor in shard.Tensors)
                if (!shardOf.TryAdd(tensor.Name, shard))
                    throw new SafeTensorsFormatException(SafeTensorsProblem.TensorInTwoShards, index.Path, tensor.Name,
                        $"both '{Path.GetFileName(shardOf[tensor.Name].Path)}' and '{Path.GetFileName(shard.Path)}' hold it.");

        var mapped = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (tensor, shardName) in index.WeightMap)
        {
            mapped.Add(tensor);
            if (!shardOf.TryGetValue(tensor, out var holder) || Path.GetFileName(holder.Path) != shardName)
                throw new SafeTensorsFormatException(SafeTensorsProblem.TensorNotInShard, index.Path, tensor,
                    $"the index maps it to '{shardName}', which does not hold it"
                    + (holder is null ? "." : $" (it is in '{Path.GetFileName(holder.Path)}')."));
        }

        foreach (var (tensor, shard) in shardOf)
            if (!mapped.Contains(tensor))
                throw new SafeTensorsFormatException(SafeTensorsProblem.UnindexedTensor, index.Path, tensor,
                    $"shard '{Path.GetFileName(shard.Path)}' holds it, but the index's weight_map does not list it.");
    }

    private static SafeTensorsFormatException NotFound(string folder, string baseName, string? variant,
        IReadOnlyList<ComponentWeightsLocator.Location> candidates)
    {
        var tried = string.Join(", ", candidates.Select(c => Path.GetFileName(c.Path)));
        if (!Directory.Exists(folder))
            return new(SafeTensorsProblem.FileNotFound, folder, null, $"the folder does not exist (looked for {tried}).");

        var variants = ComponentWeightsLocator.Variants(folder, baseName);
        var unsuffixedExists = ComponentWeightsLocator.Candidates(folder, baseName, null).Any(c => File.Exists(c.Path));
        string detail;
        if (variant is null)
            detail = variants.Count > 0
                ? $"no unsuffixed weights (tried {tried}); only variant files exist: {string.Join(", ", variants)}. Choose one as the variant."
                : $"no weights found (tried {tried}).";
        else
        {
            var available = new List<string>(variants);
            if (unsuffixedExists) available.Insert(0, "none (unsuffixed files)");
            detail = $"no weights for variant '{variant}' (tried {tried}); "
                + (available.Count > 0 ? $"variants present: {string.Join(", ", available)}." : "no other variants are present either.");
        }
        return new(SafeTensorsProblem.FileNotFound, Path.Combine(folder, baseName), null, detail);
    }
}
