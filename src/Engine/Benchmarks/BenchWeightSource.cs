using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Benchmarks;

/// <summary>
/// Generated weights for benchmarking real configurations without a download: every requested tensor is made by
/// <see cref="BenchRandom"/> with the scales of <see cref="RandomWeightSource"/> (norm weights ≈ 1, small biases,
/// matrices with std 1/√fan_in, so activations stay finite through 57 blocks) and uploaded as bf16. Unlike
/// RandomWeightSource nothing is kept on the host: FLUX.1-dev's 12 G parameters would not fit twice.
/// Optional tensors are absent, as in RandomWeightSource.
/// </summary>
public sealed class BenchWeightSource(ulong seed = 1) : IWeightSource
{
    private long _tensors;

    public string Description => $"generated benchmark weights (seed {seed})";

    public bool Contains(string name) => false;

    public IEnumerable<string> Names => [];

    /// <summary>Elements generated so far.</summary>
    public long Parameters { get; private set; }

    public Tensor Load(string name, Shape shape, IBackend backend)
    {
        string leaf = name[(name.LastIndexOf('.') + 1)..];
        bool isNorm = name.Contains("norm", StringComparison.Ordinal) && leaf == "weight" && shape.Rank == 1;
        double fanIn = shape.Rank == 0 ? 1 : Math.Max(1.0, (double)shape.ElementCount / Math.Max(1, shape[0]));
        double std = leaf == "bias" ? 0.05 : isNorm ? 0.1 : 1.0 / Math.Sqrt(fanIn);
        // Tensor i gets its own stretch of the counter space (2^40 values apart: no tensor is that large).
        ulong start = BenchRandom.SplitMix64(seed) + ((ulong)_tensors++ << 40);
        Parameters += shape.ElementCount;
        return backend.UploadWeight(BenchRandom.Bf16Bytes(shape.ElementCount, std, isNorm ? 1.0 : 0.0, start), DType.BF16, shape);
    }
}
