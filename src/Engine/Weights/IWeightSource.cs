using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Weights;

/// <summary>Where a model's tensors come from: a checkpoint on disk, or generated weights (tiny models, benchmarks).</summary>
public interface IWeightSource
{
    /// <summary>Describes the source in errors ("…/diffusion_pytorch_model.safetensors").</summary>
    string Description { get; }

    bool Contains(string name);

    /// <summary>All tensor names the source holds (for unused-tensor reports and listings).</summary>
    IEnumerable<string> Names { get; }

    /// <summary>
    /// Loads <paramref name="name"/> onto <paramref name="backend"/>, checking that it has <paramref name="shape"/>.
    /// Throws <see cref="WeightShapeException"/> or a missing-tensor error naming the tensor.
    /// </summary>
    Tensor Load(string name, Shape shape, IBackend backend);

    /// <summary>
    /// Whether the transformer's block weights are on the device only around their own block (<c>--offload sequential</c>,
    /// <see cref="StreamedBlockWeightSource"/>): then no kernel may read the weights of two blocks.
    /// </summary>
    bool StreamsBlocks => false;
}
