using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Diagnostics;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The GEMM dispatch end to end on the CPU emulator with its fake cuBLASLt (tests/AccelAes.Kernels.Tests/Emulator:
/// fake_cublaslt.cpp), whose failure knobs stand in for what real cuBLASLt builds do on some shapes, devices and drivers:
/// refusing algorithms, offering none, failing to initialise, being too new for the driver. Every case checks the
/// results against the CPU reference (<see cref="OpSelfTest"/>'s Linear and Conv2d cases) and what was reported. Each
/// test makes its own backend, because GEMM plans (and the cuBLASLt decision) live per backend. Skipped on a real GPU:
/// the knobs exist only in the fake library.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaGemmDispatchTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    /// <summary>The Linear and Conv2d cases of the op self-test, except the biggest (gemm.cu is slow on the emulator).</summary>
    private static bool GemmCase(OpCase c) =>
        c.Op is "Linear" or "Conv2d" && c.Inputs.Sum(i => i.Shape.Aggregate(1L, (a, d) => a * d)) <= 40_000;

    /// <summary>Skips without a device or without the fake cuBLASLt; then sets its knobs (undone by disposing the result).</summary>
    private IDisposable Knobs(int refuse = 0, bool noAlgo = false, bool createFails = false, int version = 120400)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.IfNot(FakeCublasLt.IsLoaded, "needs the CPU emulator's fake cuBLASLt (ACCELAES_CUDA_LIB_DIR from build.py)");
        return FakeCublasLt.Configure(refuse, noAlgo, createFails, version);
    }

    private static CudaBackend NewBackend(bool useCublasLt = true)
    {
        return new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, UseCublasLt = useCublasLt });
    }

    private IReadOnlyList<OpCheckResult> RunGemmCases(CudaBackend gpu, int seed)
    {
        var results = OpSelfTest.RunAll(gpu, fixture.Cpu, seed, GemmCase);
        foreach (var r in results.Where(r => !r.Passed))
            output.WriteLine(r.ToString());
        Assert.NotEmpty(results);
        Assert.Contains(results, r => r.Op == "Conv2d");
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
        return results;
    }

    [SkippableFact]
    public void RefusedAlgorithms_AreSkipped_TheNextOneRuns_AndNothingIsReported()
    {
        using var knobs = Knobs(refuse: 2);
        using var gpu = NewBackend();
        Assert.StartsWith("cuBLASLt", gpu.GemmEngine);
        RunGemmCases(gpu, seed: 12);
        var fake = FakeCublasLt.Counters();
        output.WriteLine($"{gpu.GemmPlans.Planned} shapes; fake cuBLASLt: {fake}");

        Assert.Empty(gpu.Warnings);
        Assert.Equal(0, gpu.GemmPlans.WithoutAlgorithm);
        Assert.True(fake.Matmuls > 0, "cuBLASLt ran the GEMMs");
        Assert.Equal(2, fake.LastAlgorithm);
        Assert.All(gpu.GemmShapes, s => Assert.Equal(2, s.Algorithm));
        // Algorithms 0 and 1 are refused once per shape: the one that ran is cached, the refused ones are not retried.
        Assert.Equal(2L * gpu.GemmPlans.Planned, fake.Refusals);
        Assert.Equal(gpu.GemmPlans.Planned, fake.HeuristicQueries);
    }

    [SkippableFact]
    public void AllAlgorithmsRefused_GemmCuRuns_WithOneWarningPerShape()
    {
        using var knobs = Knobs(refuse: 4); // the fake offers 4
        using var gpu = NewBackend();
        RunGemmCases(gpu, seed: 34);
        var shapes = gpu.GemmPlans.Planned;
        Assert.True(shapes > 1);
        Assert.Equal(shapes, gpu.GemmPlans.WithoutAlgorithm);
        Assert.Equal(0, FakeCublasLt.Counters().Matmuls);
        AssertOneWarningPerShape(gpu, "refused all 4 algorithm(s)", "CUBLAS_STATUS_NOT_SUPPORTED");

        // The same shapes again: gemm.cu without asking cuBLASLt or warning again.
        var refusals = FakeCublasLt.Counters().Refusals;
        RunGemmCases(gpu, seed: 35);
        Assert.Equal(shapes, gpu.Warnings.Count);
        Assert.Equal(refusals, FakeCublasLt.Counters().Refusals);
    }

    [SkippableFact]
    public void NoAlgorithmFromTheHeuristic_GemmCuRuns_WithOneWarningPerShape()
    {
        using var knobs = Knobs(noAlgo: true);
        using var gpu = NewBackend();
        RunGemmCases(gpu, seed: 56);
        Assert.Equal(gpu.GemmPlans.Planned, gpu.GemmPlans.WithoutAlgorithm);
        AssertOneWarningPerShape(gpu, "offered no algorithm", "CUBLAS_STATUS_NOT_SUPPORTED");
    }

    [SkippableFact]
    public void CublasLtCreateFails_TheBackendRunsOnGemmCu_WithOneWarning()
    {
        using var knobs = Knobs(createFails: true);
        using var gpu = NewBackend();
        output.WriteLine(gpu.GemmEngine);
        Assert.StartsWith("gemm.cu", gpu.GemmEngine);
        var warning = Assert.Single(gpu.Warnings);
        output.WriteLine(warning);
        Assert.Contains(NativeLibraries.Load(CudaLibrary.CublasLt).LoadedPath!, warning);
        Assert.Contains("12.4.0", warning); // the fake's default version
        Assert.Contains("cublasLtCreate returned CUBLAS_STATUS_NOT_INITIALIZED", warning);

        RunGemmCases(gpu, seed: 78);
        Assert.Single(gpu.Warnings); // no per-shape warnings on top: the library was bypassed as a whole
        Assert.Equal(0, FakeCublasLt.Counters().HeuristicQueries);
    }

    [SkippableFact]
    public void CublasLtNewerThanTheDriver_IsBypassed_WithOneWarning()
    {
        using var knobs = Knobs(version: 130000); // the emulator's driver is CUDA 12.4
        using var gpu = NewBackend();
        var warning = Assert.Single(gpu.Warnings);
        output.WriteLine(warning);
        Assert.Contains("13.0.0", warning);
        Assert.Contains("needs a CUDA 13.x driver", warning);
        Assert.StartsWith("gemm.cu", gpu.GemmEngine);
        RunGemmCases(gpu, seed: 79);
        Assert.Single(gpu.Warnings);
        Assert.Equal(0, FakeCublasLt.Counters().Matmuls);
    }

    /// <summary>gemm.cu keeps its own coverage now that the emulator has a cuBLASLt: every Linear and Conv2d case with it disabled.</summary>
    [SkippableFact]
    public void GemmCu_WithCublasLtDisabled_MatchesTheCpu_Silently()
    {
        using var knobs = Knobs();
        using var gpu = NewBackend(useCublasLt: false);
        Assert.Equal("gemm.cu (cuBLASLt disabled)", gpu.GemmEngine);
        RunGemmCases(gpu, seed: 90);
        Assert.Empty(gpu.Warnings); // disabled on purpose: nothing to report
        Assert.Equal(0, FakeCublasLt.Counters().Matmuls);
    }

    private void AssertOneWarningPerShape(CudaBackend gpu, params string[] reason)
    {
        foreach (var w in gpu.Warnings)
            output.WriteLine(w);
        Assert.Equal(gpu.GemmPlans.Planned, gpu.Warnings.Count);
        Assert.Equal(gpu.Warnings.Count, gpu.Warnings.Distinct().Count());
        Assert.All(gpu.Warnings, w =>
        {
            Assert.Contains("gemm.cu", w);
            Assert.Matches(@"^GEMM fallback: (Linear|Conv2d) m×n×k \d+×\d+×\d+", w);
            foreach (var part in reason)
                Assert.Contains(part, w);
        });
        Assert.All(gpu.GemmShapes, s => Assert.Contains(s.FallbackReason, gpu.Warnings));
        // Both ops, both output types and the epilogues fell back and were reported.
        Assert.Contains(gpu.Warnings, w => w.StartsWith("GEMM fallback: Conv2d", StringComparison.Ordinal));
        Assert.Contains(gpu.Warnings, w => w.Contains("→ fp32") && w.Contains("epilogue DEFAULT"));
        Assert.Contains(gpu.Warnings, w => w.Contains("→ bf16") && w.Contains("epilogue GELU_BIAS"));
    }
}

/// <summary>The fake cuBLASLt's test controls (fake_cublaslt.cpp exports), when that is the cuBLASLt this process loaded.</summary>
internal static unsafe class FakeCublasLt
{
    public sealed record Stats(long Matmuls, long Refusals, long HeuristicQueries, long LastAlgorithm);

    private static nint Export(string name)
    {
        var library = NativeLibraries.Load(CudaLibrary.CublasLt);
        return library.IsLoaded && NativeLibrary.TryGetExport(library.Handle, name, out var fn) ? fn : 0;
    }

    public static bool IsLoaded => Export("fake_cublaslt_configure") != 0;

    /// <summary>Sets the knobs (and zeroes the counters) until the result is disposed; then the environment's FAKE_CUBLASLT_* apply again.</summary>
    public static IDisposable Configure(int refuse = 0, bool noAlgo = false, bool createFails = false, int version = 120400)
    {
        Set(refuse, noAlgo ? 1 : 0, createFails ? 1 : 0, version);
        return new Reset();
    }

    private static void Set(int refuse, int noAlgo, int createFails, int version)
    {
        var fn = Export("fake_cublaslt_configure");
        if (fn == 0)
            throw new InvalidOperationException("the loaded cuBLASLt is not the emulator's fake");
        ((delegate* unmanaged<int, int, int, int, void>)fn)(refuse, noAlgo, createFails, version);
    }

    public static Stats Counters()
    {
        var counters = stackalloc long[4];
        ((delegate* unmanaged<long*, void>)Export("fake_cublaslt_counters"))(counters);
        return new Stats(counters[0], counters[1], counters[2], counters[3]);
    }

    private sealed class Reset : IDisposable
    {
        public void Dispose() => Set(-1, -1, -1, -1);
    }
}
