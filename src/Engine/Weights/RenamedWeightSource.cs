using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Weights;

/// <summary>
/// A weight source read under other names: the model asks for <c>name</c>, the inner source is asked for
/// <c>sourceName(name)</c>. Used where a cut-down model's block is filled from another block of a checkpoint.
/// </summary>
public sealed class RenamedWeightSource(IWeightSource inner, Func<string, string> sourceName, string description) : IWeightSource
{
    public string Description => description;

    public bool Contains(string name) => inner.Contains(sourceName(name));

    /// <summary>The inner source's names (what the checkpoint holds, for unused-tensor reports).</summary>
    public IEnumerable<string> Names => inner.Names;

    public Tensor Load(string name, Shape shape, IBackend backend) => inner.Load(sourceName(name), shape, backend);
}
