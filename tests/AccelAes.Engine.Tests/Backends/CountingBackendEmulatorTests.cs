using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tests.Benchmarks.Accounting;
using AccelAes.Engine.Weights;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The counting backend's launch rules against the emulated driver: a tiny SD3, FLUX and Lumina forward on the CUDA backend
/// (the CPU emulator's fake_cuda_counters, a fake cuBLASLt matmul counted as the one launch it queues; and with cuBLASLt off,
/// gemm.cu with its fused epilogues) launches exactly the
/// kernels the counting backend says, op by op. Needs the emulator (its counters); skipped on a real driver.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CountingBackendEmulatorTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("sd3", true, SwiGluGemm.Fused)]
    [InlineData("flux", true, SwiGluGemm.Fused)]
    [InlineData("lumina", true, SwiGluGemm.Fused)]
    [InlineData("lumina", true, SwiGluGemm.Split)]
    [InlineData("sd3", false, SwiGluGemm.Auto)]
    [InlineData("lumina", false, SwiGluGemm.Auto)]
    public void A_tiny_forward_launches_what_the_counting_backend_counts_op_by_op(string backbone, bool cublasLt, SwiGluGemm swiGlu)
    {
        CudaTests.SkipUnless(CudaDevice.Detect().IsAvailable && NativeLibraries.Load(CudaLibrary.Nvrtc).IsLoaded,
            $"no GPU or no NVRTC: {CudaDevice.Detect().Reason}");
        Skip.If(EmulatorCounters.Read() is null, "needs the CPU emulator's driver counters");
        var config = TinyRealConfigs.Named(backbone);
        int batch = config.UsesCfg ? 2 : 1;

        // SwiGLU's knob on both sides (auto with cuBLASLt would time both paths on the device: launches no count predicts).
        using var gpu = new CudaBackend(new CudaBackendOptions { UseGraphs = false, UseCublasLt = cublasLt, SwiGluGemm = swiGlu });
        // The build is compared too: weight and input uploads (RandomWeightSource hands over bf16, so no conversion launches).
        var recorder = new DriverLaunchRecorder(gpu);
        var onDevice = BenchModel.Build(config, new RandomWeightSource(5), recorder, TinyRealConfigs.Resolution, batch);
        onDevice.Forward();
        gpu.Synchronize();

        var engine = gpu.GemmEngine.StartsWith("cuBLASLt", StringComparison.Ordinal) ? CountedGemmEngine.CublasLt : CountedGemmEngine.GemmCu;
        using var counting = new CountingBackend(engine) { SwiGluGemm = swiGlu };
        var counted = BenchModel.Build(config, new RandomWeightSource(5), counting, TinyRealConfigs.Resolution, batch);
        counted.Forward();
        var predicted = counting.Ledger.Take().LaunchesByOp.Where(kv => kv.Value > 0).ToDictionary();

        output.WriteLine($"{gpu.GemmEngine}: {recorder.Launches.Values.Sum()} launches on the emulator, {predicted.Values.Sum()} counted");
        foreach (var op in recorder.Launches.Keys.Union(predicted.Keys).Order(StringComparer.Ordinal))
            output.WriteLine($"  {op}: {recorder.Launches.GetValueOrDefault(op)} / {predicted.GetValueOrDefault(op)}");
        Assert.Equal(recorder.Launches.OrderBy(kv => kv.Key, StringComparer.Ordinal), predicted.OrderBy(kv => kv.Key, StringComparer.Ordinal));
    }

    /// <summary>Kernel launches per op, from the emulated driver's counter read around every op.</summary>
    private sealed class DriverLaunchRecorder(IBackend inner) : DelegatingBackend(inner)
    {
        public Dictionary<string, long> Launches { get; } = new(StringComparer.Ordinal);

        protected override T Call<T>(string op, Func<T> run)
        {
            long before = EmulatorCounters.Read()!.Launches;
            T result = run();
            Add(op, EmulatorCounters.Read()!.Launches - before);
            return result;
        }

        protected override void Call(string op, Action run) => Call(op, () =>
        {
            run();
            return 0;
        });

        private void Add(string op, long launches)
        {
            if (launches > 0) Launches[op] = Launches.GetValueOrDefault(op) + launches;
        }
    }
}
