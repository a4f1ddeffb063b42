using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Fora;

/// <summary>
/// FORA's per-block cache: on a computing step each block stores its attention and MLP outputs (before their gates);
/// on a reusing step each block adds the stored outputs through this step's gates instead of running attention and
/// MLP. Keyed by block index and output name.
/// </summary>
public sealed class BlockOutputCache
{
    private readonly Dictionary<(int Layer, string Name), Tensor> _outputs = [];

    /// <summary>True on a step that reuses the stored outputs; false on one that computes and stores them.</summary>
    public bool Reusing { get; private set; }

    /// <summary>Bytes of every stored output (fp32 on the host's count).</summary>
    public long Bytes => _outputs.Values.Sum(t => 4L * t.Shape.ElementCount);

    /// <summary>Starts a step: computing (store) or reusing (read).</summary>
    public void BeginStep(bool compute)
    {
        if (!compute && _outputs.Count == 0)
            throw new InvalidOperationException("FORA cannot reuse block outputs before a step has computed them.");
        Reusing = !compute;
    }

    public void Store(int layer, string name, Tensor output)
    {
        if (Reusing) throw new InvalidOperationException($"Block {layer} stored '{name}' on a reusing step.");
        _outputs[(layer, name)] = output;
    }

    public Tensor Get(int layer, string name) => _outputs.TryGetValue((layer, name), out Tensor? t)
        ? t
        : throw new InvalidOperationException($"FORA has no cached '{name}' output for block {layer}.");
}
