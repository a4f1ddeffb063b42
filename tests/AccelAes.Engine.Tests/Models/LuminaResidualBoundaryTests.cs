using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tests.Benchmarks.Accounting;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Tests.Models;

/// <summary>
/// Issue 16: a Lumina layer's FFN residual update is applied by the next layer's norm1 in one row kernel
/// (RmsNormAddTanhGatedThenModulate) instead of RmsNormAddTanhGatedInPlace then RmsNormModulate. The unfused order is
/// still what the model runs when the stack is cut into one-layer ranges (each range completes x before it returns), so
/// the two runs of one step compare the fused path with the order it replaces.
/// </summary>
public class LuminaResidualBoundaryTests
{
    private const int Layers = 3, Batch = 2;

    /// <summary>The tiny Lumina of the accounting tests with three layers: two layer boundaries.</summary>
    internal static RealConfig ThreeLayers { get; } = TinyRealConfigs.Lumina with { Lumina = TinyRealConfigs.Lumina.Lumina! with { NumLayers = Layers } };

    private static BenchModel Build(IBackend backend) =>
        BenchModel.Build(ThreeLayers, new RandomWeightSource(5), backend, TinyRealConfigs.Resolution, Batch);

    /// <summary>The stack in one call, then a fresh embedding of the same step through one-layer ranges (the unfused order).</summary>
    internal static (Tensor Fused, Tensor Unfused) RunBothOrders(BenchModel model, Action? between = null)
    {
        Tensor fused = model.SplitStep().RunBlocks();
        between?.Invoke();
        var split = model.SplitStep();
        for (int i = 0; i < Layers; i++)
            split.RunBlockRange(i, i + 1);
        return (fused, split.ImageAfterBlockRanges());
    }

    [Fact]
    public void The_stack_applies_each_boundarys_residual_in_the_next_norm1_and_gives_the_unfused_orders_bits()
    {
        var recorder = new OpRecorder(new CpuBackend());
        var model = Build(recorder);
        recorder.Calls.Clear();

        var (fused, unfused) = RunBothOrders(model, between: () =>
        {
            // Per layer one fused op after the attention; per boundary one more, so only layer 0's norm1 and the last
            // layer's residual are the separate ops.
            Assert.Equal(2 * Layers - 1, recorder.Count(nameof(IBackend.RmsNormAddTanhGatedThenModulate)));
            Assert.Equal(1, recorder.Count(nameof(IBackend.RmsNormModulate)));
            Assert.Equal(1, recorder.Count(nameof(IBackend.RmsNormAddTanhGatedInPlace)));
            recorder.Calls.Clear();
        });
        Assert.Equal(Layers, recorder.Count(nameof(IBackend.RmsNormAddTanhGatedThenModulate)));
        Assert.Equal(Layers, recorder.Count(nameof(IBackend.RmsNormModulate)));
        Assert.Equal(Layers, recorder.Count(nameof(IBackend.RmsNormAddTanhGatedInPlace)));

        Assert.Equal(recorder.Download(unfused), recorder.Download(fused));
    }

    [Fact]
    public void Each_layer_boundary_saves_one_launch_and_one_read_of_the_stream()
    {
        using var counting = new CountingBackend();
        var model = Build(counting);
        counting.Ledger.Take();
        TrafficTotals fused = default!;
        RunBothOrders(model, between: () => fused = counting.Ledger.Take());
        TrafficTotals unfused = counting.Ledger.Take();

        // Lumina's tiny grid: 64 px → latent 8 → 4×4 = 16 tokens of D = 32, bf16: one read of x is 2·16·32·2 bytes.
        const long streamBytes = Batch * 16 * 32 * 2;
        const int boundaries = Layers - 1;
        Assert.Equal(boundaries, unfused.Launches - fused.Launches);
        Assert.Equal(boundaries * streamBytes, unfused.MemoryBoundBytes - fused.MemoryBoundBytes);
        long Calls(TrafficTotals t, string kernel) => t.Classes.Where(c => c.Kernel == kernel).Sum(c => c.Calls);
        Assert.Equal((1L, 1L, 2L * Layers - 1),
            (Calls(fused, "rmsnorm_add_tanh_gated_bf16"), Calls(fused, "rmsnorm_modulate_bf16"), Calls(fused, "rmsnorm_add_tanh_gated_modulate_bf16")));
    }

    /// <summary>Lumina-Next-SFT at 1024², CFG batch 2: 24 layers, 23 boundaries, each one read of x [2, 4096, 2304] bf16 less.</summary>
    [Fact]
    public void Lumina_next_sft_fuses_its_23_layer_boundaries()
    {
        var r = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2));
        TrafficClass Kernel(string name) => Assert.Single(r.Forward.Classes, c => c.Kernel == name);
        Assert.Equal(1, Kernel("rmsnorm_add_tanh_gated_bf16").Calls);
        Assert.Equal(1, Kernel("rmsnorm_modulate_bf16").Calls);
        Assert.Equal(47, Kernel("rmsnorm_add_tanh_gated_modulate_bf16").Calls);
    }

    /// <summary>
    /// --offload sequential keeps two blocks' weights on the device and refills layer i's slot once layer i + 1 starts, so
    /// a boundary kernel would read ffn_norm2's weight from a slot being overwritten: every layer completes x itself.
    /// </summary>
    [Fact]
    public void With_streamed_block_weights_each_layer_applies_its_own_residual()
    {
        var recorder = new OpRecorder(new CpuBackend());
        var streamed = BenchModel.Build(ThreeLayers, new StreamingWeights(new RandomWeightSource(5)), recorder, TinyRealConfigs.Resolution, Batch);
        recorder.Calls.Clear();

        Tensor image = streamed.SplitStep().RunBlocks();
        Assert.Equal(Layers, recorder.Count(nameof(IBackend.RmsNormAddTanhGatedThenModulate)));
        Assert.Equal(Layers, recorder.Count(nameof(IBackend.RmsNormModulate)));
        Assert.Equal(Layers, recorder.Count(nameof(IBackend.RmsNormAddTanhGatedInPlace)));
        Assert.Equal(recorder.Download(Build(recorder).SplitStep().RunBlocks()), recorder.Download(image));
    }

    [Fact]
    public void A_pending_update_applies_once_and_only_to_its_own_stream()
    {
        var cpu = new CpuBackend();
        Tensor Values(int seed, params int[] dims) => cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed), new Shape(dims));
        Tensor x = Values(1, 2, 3, 8), other = Values(1, 2, 3, 8);
        var pending = new PendingResidual(x, Values(2, 2, 3, 8), 1e-6f, Values(3, 8), Values(4, 2, 8));

        Assert.Throws<InvalidOperationException>(() => pending.Apply(other));
        pending.Apply(x);
        Assert.Throws<InvalidOperationException>(() => pending.ApplyThenModulate(x, 1e-6f, null, null));
        Assert.Equal(cpu.Download(Values(1, 2, 3, 8)), cpu.Download(other));
        Assert.NotEqual(cpu.Download(other), cpu.Download(x));
    }

    /// <summary>Weights that say they are streamed per block (as StreamedBlockWeightSource does), kept in host memory here.</summary>
    private sealed class StreamingWeights(IWeightSource inner) : IWeightSource
    {
        public string Description => inner.Description;

        public bool Contains(string name) => inner.Contains(name);

        public IEnumerable<string> Names => inner.Names;

        public Tensor Load(string name, Shape shape, IBackend backend) => inner.Load(name, shape, backend);

        public bool StreamsBlocks => true;
    }

    /// <summary>Counts the IBackend ops a model calls.</summary>
    private sealed class OpRecorder(IBackend inner) : DelegatingBackend(inner)
    {
        public List<string> Calls { get; } = [];

        public int Count(string op) => Calls.Count(c => c == op);

        protected override T Call<T>(string op, Func<T> run)
        {
            Calls.Add(op);
            return run();
        }

        protected override void Call(string op, Action run)
        {
            Calls.Add(op);
            run();
        }
    }
}
