using System.Runtime.InteropServices;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The self-test's fp8 cases (OpSelfTest.Fp8.cs) on the emulator: at 8.0 every fp8 Linear is dequantised, at 9.0 the
/// FP8 GEMM runs on the fake cuBLASLt; both pass, and say which path they took. A device that reads its fp8 weights with
/// a wrong scale fails them (so the check can fail), and a cuBLASLt without alpha-vector algorithms shows in the report
/// (<see cref="CublasLtPathReport"/>) as the FP8 and gated-residual fallbacks a real GPU run is asked to reveal.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaFp8SelfTestTests(ITestOutputHelper output)
{
    /// <summary>4 dequantisations, 1 join, 3 dequantised Linears, 1 gated residual, 5 FP8 GEMMs (OpSelfTest.AddFp8).</summary>
    private const int Fp8CaseCount = 14;

    private static bool IsFp8Case(OpCase c) => c.Op.Contains("fp8", StringComparison.OrdinalIgnoreCase);

    private static CudaBackend Backend() => new(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true });

    private IReadOnlyList<OpCheckResult> RunFp8Cases(IBackend device, int seed)
    {
        using var cpu = new CpuBackend();
        var results = OpSelfTest.RunAll(device, cpu, seed, IsFp8Case);
        foreach (var r in results)
            output.WriteLine(r.ToString());
        Assert.Equal(Fp8CaseCount, results.Count);
        return results;
    }

    [SkippableTheory]
    [InlineData("8.0", 51)]
    [InlineData("9.0", 52)]
    public void The_fp8_cases_pass_and_say_which_path_each_linear_took(string cc, int seed)
    {
        using var knob = EmulatorKnobs.Set("FAKE_CUDA_CC", cc);
        using var gpu = Backend();
        var results = RunFp8Cases(gpu, seed);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
        // The dequantisations are held bit for bit (a bound of 0), not within a tolerance.
        Assert.All(results.Where(r => r.Op is "UploadFp8Weight" or "Concat[fp8 rows]"), r => Assert.Equal(0, r.Bound));

        var gemm = results.Where(r => r.Op == "Linear[FP8 GEMM]").ToList();
        Assert.Equal(5, gemm.Count);
        Assert.All(gemm, r => Assert.Equal(OpSelfTest.Fp8GemmRelativeL2Bound, r.Bound));
        var report = CublasLtPathReport.Of(gpu);
        output.WriteLine(report.Fp8Line);
        output.WriteLine(report.GatedLine);
        if (cc == "9.0")
        {
            Assert.All(gemm, r => Assert.EndsWith(": ran as FP8 GEMM", r.Case, StringComparison.Ordinal));
            Assert.True(report.Fp8Offered);
            Assert.Equal(5, report.Fp8Shapes);
            Assert.Equal(5, report.Fp8Matmuls);
            Assert.StartsWith("FP8 GEMM: cuBLASLt offered an FP8 algorithm for all 5 shapes", report.Fp8Line, StringComparison.Ordinal);
        }
        else
        {
            Assert.All(gemm, r => Assert.EndsWith(": dequantised (FP8 GEMM not enabled on 8.0)", r.Case, StringComparison.Ordinal));
            Assert.False(report.Fp8Enabled);
            Assert.Null(report.Fp8Offered);
            Assert.Equal("FP8 GEMM: not tried (compute capability 8.0 is below 8.9 (--fp8-gemm auto)); fp8 Linears ran dequantised", report.Fp8Line);
        }
        // The gated fp8 case went through cuBLASLt's alpha-vector epilogue, which the fake accepts.
        Assert.True(report.GatedEpilogueAccepted);
        Assert.Equal(0, report.GatedFallbackCalls);
    }

    [SkippableTheory]
    [InlineData("8.0")]
    [InlineData("9.0")]
    public void A_device_that_reads_fp8_weights_with_a_wrong_scale_fails_every_fp8_case(string cc)
    {
        using var knob = EmulatorKnobs.Set("FAKE_CUDA_CC", cc);
        using var gpu = Backend();
        using var wrong = new WrongFp8ScaleBackend(gpu);
        var results = RunFp8Cases(wrong, seed: 53);
        Assert.All(results, r => Assert.False(r.Passed, $"passed with every scale 25 % too large: {r}"));
    }

    [SkippableFact]
    public void Without_alpha_vector_algorithms_the_report_shows_both_fallbacks_and_the_cases_still_pass()
    {
        using var knob = EmulatorKnobs.Set("FAKE_CUDA_CC", "9.0");
        Skip.IfNot(FakeCublasLt.IsLoaded, "needs the CPU emulator's fake cuBLASLt (ACCELAES_CUDA_LIB_DIR from build.py)");
        using var knobs = FakeCublasLt.Configure();
        SetNoAlphaVector(1);
        try
        {
            using var gpu = Backend();
            var results = RunFp8Cases(gpu, seed: 54);
            Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
            Assert.All(results.Where(r => r.Op == "Linear[FP8 GEMM]"),
                r => Assert.EndsWith(": FP8 GEMM fell back, dequantised", r.Case, StringComparison.Ordinal));
            var report = CublasLtPathReport.Of(gpu);
            output.WriteLine(report.Fp8Line);
            output.WriteLine(report.GatedLine);
            Assert.False(report.Fp8Offered);
            Assert.Equal((5, 5, 0L), (report.Fp8Shapes, report.Fp8FallbackShapes, report.Fp8Matmuls));
            Assert.StartsWith("FP8 GEMM: cuBLASLt offered no usable FP8 algorithm for 5 of 5 shapes", report.Fp8Line, StringComparison.Ordinal);
            Assert.False(report.GatedEpilogueAccepted);
            Assert.Equal(1, report.GatedFallbackCalls);
            Assert.StartsWith("gated-residual epilogue (cuBLASLt alpha vector): not accepted for 1 of 1 shapes", report.GatedLine, StringComparison.Ordinal);
        }
        finally
        {
            SetNoAlphaVector(-1);
        }
    }

    /// <summary>
    /// A "device" that reads every fp8 weight 25 % too large (its scales taken as amax / 358 instead of amax / 448, say):
    /// the uploaded weight comes back as its dequantised values × 1.25.
    /// </summary>
    private sealed class WrongFp8ScaleBackend(IBackend inner) : DelegatingBackend(inner)
    {
        protected override T Call<T>(string op, Func<T> run)
        {
            T result = run();
            if (op != nameof(UploadFp8Weight) || result is not Tensor weight)
                return result;
            var wrong = Inner.Scale(weight, 1.25f);
            weight.Dispose();
            return (T)(object)wrong;
        }
    }

    /// <summary>fake_cublaslt_set_no_alpha_vector: 1 refuses both alpha-vector pointer modes (FP8 GEMM and gated epilogue), −1 resets.</summary>
    private static unsafe void SetNoAlphaVector(int value)
    {
        var library = NativeLibraries.Load(CudaLibrary.CublasLt);
        nint fn = 0;
        Assert.True(library.IsLoaded && NativeLibrary.TryGetExport(library.Handle, "fake_cublaslt_set_no_alpha_vector", out fn),
            "the fake cuBLASLt exports fake_cublaslt_set_no_alpha_vector");
        ((delegate* unmanaged<int, void>)fn)(value);
    }
}
