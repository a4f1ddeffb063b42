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
    /// Loads the named tensors (each checked against its shape) and joins them along axis 0, in order, into one tensor:
    /// weights a model concatenates once at load (fused q/k/v rows, SwiGLU's w1;w3). The parts are freed. A source that
    /// places what it loads (<see cref="StreamedBlockWeightSource"/>, which streams block weights) places the joined
    /// tensor, not the parts, so the join never reads a weight that is no longer on the device.
    /// </summary>
    Tensor LoadJoinedRows(IReadOnlyList<(string Name, Shape Shape)> parts, IBackend backend)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ArgumentException("A join needs at least one tensor.", nameof(parts));
        var loaded = new List<Tensor>(parts.Count);
        try
        {
            foreach (var (name, shape) in parts) loaded.Add(Load(name, shape, backend));
            return loaded.Count == 1 ? loaded[0] : backend.Concat(0, [.. loaded]);
        }
        finally
        {
            if (loaded.Count > 1)
                foreach (var t in loaded) t.Dispose();
        }
    }
}
