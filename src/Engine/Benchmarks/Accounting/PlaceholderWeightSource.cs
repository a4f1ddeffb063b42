using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Benchmarks.Accounting;

/// <summary>
/// Weights for the counting backend: every tensor a placeholder of the requested shape (no bytes generated or moved), so a
/// 12 G-parameter model is "loaded" in milliseconds. Each tensor's identity is its name, except where the published
/// checkpoints hold the same values under two names and the engine's host logic looks: Lumina-Next-SFT's converter copies
/// the original <c>wq</c> and <c>q_norm</c> into both attn1 and attn2 of every layer (architectures.md §5.1), which makes
/// <c>LuminaNextDiTBlock</c> reuse the self-attention query for the cross-attention. Mirroring that tie counts the
/// forward the real checkpoint runs (one D×D GEMM fewer per layer than independent random weights would give).
/// <paramref name="publishedTies"/> false gives every name its own values, as `bench --arch`'s generated weights have.
/// </summary>
public sealed class PlaceholderWeightSource(bool publishedTies = true) : IWeightSource
{
    public string Description => "placeholder weights (shapes only, for the counting backend)";

    public bool Contains(string name) => false;

    public IEnumerable<string> Names => [];

    /// <summary>Parameters requested so far.</summary>
    public long Parameters { get; private set; }

    public Tensor Load(string name, Shape shape, IBackend backend)
    {
        if (backend is not CountingBackend counting)
            throw new InvalidOperationException($"Placeholder weights exist only on the counting backend, not on {backend.Name}.");
        Parameters += shape.ElementCount;
        return counting.PlaceholderWeight(shape, publishedTies ? Identity(name) : name);
    }

    /// <summary>The name whose values <paramref name="name"/> holds in the published checkpoints.</summary>
    public static string Identity(string name)
    {
        foreach (string leaf in (string[])[".attn2.to_q.weight", ".attn2.norm_q.weight", ".attn2.norm_q.bias"])
            if (name.StartsWith("layers.", StringComparison.Ordinal) && name.EndsWith(leaf, StringComparison.Ordinal))
                return name[..^leaf.Length] + leaf.Replace("attn2", "attn1", StringComparison.Ordinal);
        return name;
    }
}
