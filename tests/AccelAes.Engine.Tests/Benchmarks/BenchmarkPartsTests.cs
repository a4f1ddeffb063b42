using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Benchmarks;

/// <summary>The parts of `accelaes bench` that have exact answers: FLOP counts, the config catalog, generated weights.</summary>
public class BenchmarkPartsTests
{
    [Fact]
    public void Profiling_CountsMatmulFlopsFromShapes_AndPassesResultsThrough()
    {
        using var cpu = new CpuBackend();
        using var profiler = new ProfilingBackend(cpu);
        var x = profiler.Upload(BenchRandom.Floats(3 * 5 * 7, 1, 1), new Shape(3, 5, 7));
        var w = profiler.Upload(BenchRandom.Floats(11 * 7, 1, 2), new Shape(11, 7));
        var y = profiler.Linear(x, w, null);
        var q = profiler.Upload(BenchRandom.Floats(2 * 6 * 4 * 8, 1, 3), new Shape(2, 6, 4, 8));
        var k = profiler.Upload(BenchRandom.Floats(2 * 9 * 4 * 8, 1, 4), new Shape(2, 9, 4, 8));
        var v = profiler.Upload(BenchRandom.Floats(2 * 9 * 4 * 16, 1, 5), new Shape(2, 9, 4, 16));
        var a = profiler.Attention(q, k, v, 0.3f);

        var ops = profiler.Profile.ToDictionary(p => p.Op);
        Assert.Equal(2.0 * 15 * 11 * 7, ops["Linear"].Flops);
        Assert.Equal(2.0 * 2 * 4 * 6 * 9 * (8 + 16), ops["Attention"].Flops);
        Assert.Equal(5, ops["Upload"].Calls);
        Assert.Equal(ops["Linear"].Flops + ops["Attention"].Flops, profiler.TotalFlops);
        // Same values as the undecorated backend, in the shapes the op promises.
        Assert.Equal(new Shape(3, 5, 11), y.Shape);
        Assert.Equal(cpu.Download(cpu.Linear(DelegatingBackendUnwrap(x), DelegatingBackendUnwrap(w), null)), profiler.Download(y));
        Assert.Equal(new Shape(2, 6, 4, 16), a.Shape);
        Assert.Same(profiler, a.Reshape(2, 6, 64).Backend); // views stay on the decorator, so models keep using it
    }

    [Fact]
    public void Profiling_RecordsNothingWhileOff()
    {
        using var cpu = new CpuBackend();
        using var profiler = new ProfilingBackend(cpu) { Recording = false };
        profiler.Scale(profiler.Upload([1f, 2f], new Shape(2)), 2f);
        Assert.Empty(profiler.Profile);
    }

    [Fact]
    public void RealConfigs_AreThePublishedShapes_AndTruncateToAFewBlocks()
    {
        Assert.Equal(1536, RealConfigs.Sd3Medium.Sd3!.InnerDim);
        Assert.Equal(2432, RealConfigs.Sd35Large.Sd3!.InnerDim);
        Assert.Equal("rms_norm", RealConfigs.Sd35Large.Sd3!.QkNorm);
        Assert.Equal(57, RealConfigs.FluxDev.Layers);
        Assert.Equal(72, RealConfigs.LuminaNextSft.Lumina!.HeadDim);
        Assert.Equal(576, RealConfigs.LuminaNextSft.Lumina!.KvDim);
        Assert.Equal(6144, RealConfigs.LuminaNextSft.Lumina!.FfnInnerDim);

        var flux = RealConfigs.FluxDev.Truncated(3);
        Assert.Equal(3, flux.Layers);
        Assert.True(flux.Flux!.NumLayers >= 1 && flux.Flux.NumSingleLayers >= 1);
        Assert.Equal(2, RealConfigs.Sd3Medium.Truncated(2).Sd3!.NumLayers);
        Assert.Same(RealConfigs.LuminaNextSft, RealConfigs.LuminaNextSft.Truncated(99));
    }

    [Fact]
    public void GeneratedBf16Values_HaveTheAskedSpread_AndDoNotDependOnTheThreadCount()
    {
        byte[] bytes = BenchRandom.Bf16Bytes(3_000_000, std: 0.02, mean: 1.0, seed: 9);
        var values = new float[bytes.Length / 2];
        for (int i = 0; i < values.Length; i++)
            values[i] = Kernels.BFloat16Bits.ToSingle(BitConverter.ToUInt16(bytes, 2 * i));
        double mean = values.Average(v => (double)v), std = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
        Assert.Equal(1.0, mean, 2);
        Assert.Equal(0.02, std, 3);
        Assert.Equal(bytes, BenchRandom.Bf16Bytes(3_000_000, 0.02, 1.0, 9)); // parallel chunks, same result
    }

    [Fact]
    public void TheAttentionMicroBenchmark_CountsFourBHSSD()
    {
        using var cpu = new CpuBackend();
        var r = Assert.Single(MicroBenchmarks.Attention(cpu, [40], [(8, 3)], batch: 2, warmup: 0, repeats: 1));
        Assert.Equal(4.0 * 2 * 3 * 40 * 40 * 8, r.Flops);
        Assert.Equal("B 2 H 3 S 40 D 8", r.Shape);
    }

    private static Tensor DelegatingBackendUnwrap(Tensor t) => Engine.Backends.DelegatingBackend.Unwrap(t);
}
