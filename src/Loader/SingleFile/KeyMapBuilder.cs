using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// Builds diffusers-named <see cref="MappedTensor"/> views over a single file's (prefix-stripped) tensors, recording
/// which file keys a rule consumed. Shared by the layouts' key maps (BFL FLUX.1, SAI SD3 / SD3.5, LDM VAE, text
/// encoders); <paramref name="layout"/> names the layout in messages ("the BFL FLUX.1 layout").
/// </summary>
internal sealed class KeyMapBuilder(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source, string layout)
{
    private readonly Dictionary<string, MappedTensor> _mapped = new(StringComparer.Ordinal);
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors => tensors;

    public IReadOnlyDictionary<string, MappedTensor> Mapped => _mapped;

    public IReadOnlySet<string> Consumed => _consumed;

    public SafeTensorInfo Require(string key)
    {
        if (tensors.TryGetValue(key, out var t)) return t;
        var close = TensorNameSuggestions.Closest(key, tensors.Keys);
        throw new AccelAesException($"{source}: {layout} needs tensor '{key}', which the file lacks"
            + (close.Count == 0 ? "" : $" (closest: {string.Join(", ", close)})") + ".");
    }

    public AccelAesException Bad(string key, string problem) => new($"{source}: tensor '{key}' {problem}.");

    /// <summary>A Linear module: weight (with its scale) and bias, renamed.</summary>
    public void Copy(string from, string to)
    {
        CopyTensor(from + ".weight", to + ".weight");
        CopyTensor(from + ".bias", to + ".bias");
    }

    public void CopyTensor(string from, string to)
    {
        var t = Require(from);
        Add(to, t.Shape.ToArray(), [new RowSlice(t, 0, t.Rank == 0 ? 1 : t.Shape[0])], from);
    }

    /// <summary>
    /// A renamed tensor read with another shape of the same element count (LDM's 1×1 attention convolutions
    /// [C, C, 1, 1] → diffusers' Linear [C, C], as diffusers' <c>[:, :, 0, 0]</c>): the same bytes in the same order.
    /// </summary>
    public void CopyReshaped(string from, string to, long[] shape)
    {
        var t = Require(from);
        if (shape.Aggregate(1L, (a, d) => a * d) != t.ElementCount || shape.Length == 0 || t.Rank == 0 || shape[0] != t.Shape[0])
            throw Bad(from, $"has shape [{string.Join(", ", t.Shape)}], which is not [{string.Join(", ", shape)}] with trailing 1s");
        Add(to, shape, [new RowSlice(t, 0, t.Shape[0])], from);
    }

    /// <summary>
    /// A fused Linear whose rows are parts of <c>factor × width</c> rows each, weight and bias alike
    /// (<paramref name="widthOrigin"/> says where the width was read, for the message).
    /// </summary>
    public void Split(string from, long width, (string To, int Factor)[] parts, string widthOrigin)
    {
        long expected = parts.Sum(p => p.Factor) * width;
        foreach (string leaf in new[] { ".weight", ".bias" })
        {
            var t = Require(from + leaf);
            long rows = t.Rank == 0 ? 0 : t.Shape[0];
            if (rows != expected)
                throw Bad(from + leaf, $"has {rows} rows, but splitting it into {string.Join(" | ", parts.Select(p => p.To[(p.To.LastIndexOf('.') + 1)..]))} "
                    + $"needs {string.Join(" + ", parts.Select(p => p.Factor * width))} = {expected} (width {width} from {widthOrigin})");
            long first = 0;
            foreach (var (to, factor) in parts)
            {
                long count = factor * width;
                Add(to + leaf, [count, .. t.Shape.Skip(1)], [new RowSlice(t, first, count)], from + leaf);
                first += count;
            }
        }
    }

    /// <summary>[a; b] → [b; a] over dimension 0 (weight and bias): the original (shift, scale) → diffusers (scale, shift).</summary>
    public void SwapHalves(string from, string to)
    {
        foreach (string leaf in new[] { ".weight", ".bias" })
        {
            var t = Require(from + leaf);
            long rows = t.Rank == 0 ? 0 : t.Shape[0];
            if (rows == 0 || rows % 2 != 0)
                throw Bad(from + leaf, $"has {rows} rows; its (shift, scale) halves need an even, non-zero row count");
            long half = rows / 2;
            Add(to + leaf, t.Shape.ToArray(), [new RowSlice(t, half, half), new RowSlice(t, 0, half)], from + leaf);
        }
    }

    /// <summary>A tensor no file key holds: the n×n identity (diffusers' <c>torch.eye</c> for SD3's CLIP-L projection).</summary>
    public void Identity(string to, long n) => _mapped[to] = MappedTensor.IdentityMatrix(to, n);

    /// <summary>Marks keys consumed without mapping them (markers, and tensors the conversion drops on purpose).</summary>
    public void Consume(string key) => _consumed.Add(key);

    private void Add(string to, long[] shape, RowSlice[] parts, string from)
    {
        SafeTensorInfo? scale = null;
        if (from.EndsWith(".weight", StringComparison.Ordinal))
        {
            string scaleKey = ComfyQuantLayers.ScaleKeyOf(tensors, from[..^".weight".Length]);
            if (tensors.TryGetValue(scaleKey, out scale))
            {
                ScaleCheck.RequireScalar(scale, scaleKey, source);
                _consumed.Add(scaleKey);
            }
        }
        if (!_mapped.TryAdd(to, new MappedTensor(to, shape, parts, scale)))
            throw new AccelAesException($"{source}: two tensors of the file map to '{to}' (the second is '{from}').");
        _consumed.Add(from);
    }

    /// <summary>
    /// The keys (among <paramref name="keys"/>, default all) that no rule consumed, sorted; ComfyUI's quantisation
    /// parameters (fp8 marker, <c>comfy_quant</c> configs, input scales) count as consumed.
    /// </summary>
    public IReadOnlyList<string> Unconsumed(IEnumerable<string>? keys = null)
    {
        foreach (string key in tensors.Keys)
            if (ComfyQuantLayers.IsQuantisationParameter(key))
                _consumed.Add(key);
        return (keys ?? tensors.Keys).Where(k => !_consumed.Contains(k)).Order(StringComparer.Ordinal).ToList();
    }
}
