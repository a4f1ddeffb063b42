using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Ras;

/// <summary>What a forward does with RAS's key/value caches.</summary>
public enum RasKeyValueMode
{
    /// <summary>Nothing: keys and values are the forward's own.</summary>
    Off,

    /// <summary>A dense forward stores every image token's keys and values (the official step start−1 and error-reset steps).</summary>
    Fill,

    /// <summary>
    /// A RAS forward (image rows = the active tokens of <see cref="SparseForward.FocusTokens"/>): the active tokens'
    /// fresh keys and values overwrite theirs in the cache, and attention reads the whole cache, so a dropped token
    /// attends as it was last computed.
    /// </summary>
    Merge,
}

/// <summary>
/// RAS's per-layer image keys and values [B, N, heads, head_dim], as the official attention processors keep them
/// (microsoft/RAS src/ras/modules/attention_processor.py, <c>RASJointAttnProcessor2_0</c> and
/// <c>RASLuminaAttnProcessor2_0</c>, at commit a9c5ec8fb2147ef450a7e3b5ec3b7bdd0006de3f): keys after the q/k norm and
/// (Lumina) after RoPE; self-attention only (text keys and Lumina's cross-attention are always computed). Models read it
/// from <see cref="SparseForward.KeyValues"/>; the batch rows of the active tokens come from the same forward's focus set.
/// </summary>
public sealed class RasKeyValueCache
{
    private readonly Dictionary<(int Layer, string Name), (Tensor Key, Tensor Value)> _entries = [];

    public RasKeyValueMode Mode { get; set; }

    /// <summary>Bytes held (fp32 count of every cached element).</summary>
    public long Bytes => _entries.Values.Sum(e => 4L * (e.Key.Shape.ElementCount + e.Value.Shape.ElementCount));

    /// <summary>
    /// The keys and values attention uses in layer <paramref name="layer"/>'s attention <paramref name="name"/>, given the
    /// forward's own image keys and values [B, rows, heads, head_dim].
    /// </summary>
    public (Tensor Key, Tensor Value) Resolve(SparseForward tokens, int layer, string name, Tensor key, Tensor value)
    {
        switch (Mode)
        {
            case RasKeyValueMode.Fill:
            {
                IBackend be = key.Backend;
                if (_entries.TryGetValue((layer, name), out var old))
                {
                    old.Key.Dispose();
                    old.Value.Dispose();
                }
                _entries[(layer, name)] = (be.Copy(key), be.Copy(value));
                return (key, value);
            }
            case RasKeyValueMode.Merge:
            {
                if (!_entries.TryGetValue((layer, name), out var cached))
                    throw new InvalidOperationException($"RAS: no cached keys for layer {layer} '{name}'; a filling step must come first.");
                Scatter(tokens, cached.Key, key);
                Scatter(tokens, cached.Value, value);
                return cached;
            }
            default:
                return (key, value);
        }
    }

    /// <summary>Frees the caches (the official code drops them after the last RAS step).</summary>
    public void Release()
    {
        foreach (var (k, v) in _entries.Values)
        {
            k.Dispose();
            v.Dispose();
        }
        _entries.Clear();
    }

    private static void Scatter(SparseForward tokens, Tensor cache, Tensor rows)
    {
        int batch = cache.Shape[0], n = cache.Shape[1], width = cache.Shape[2] * cache.Shape[3];
        if (rows.Shape[0] != batch || rows.Shape[1] != tokens.FocusCount || n != tokens.ImageTokens)
            throw new InvalidOperationException($"RAS: keys {rows.Shape} do not match the cache {cache.Shape} and {tokens.FocusCount} active tokens.");
        IBackend be = cache.Backend;
        be.ScatterRowsInPlace(cache.Reshape(batch * n, width), tokens.FocusRows(be, batch), rows.Reshape(batch * tokens.FocusCount, width));
    }
}
