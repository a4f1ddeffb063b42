using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// LinearAddGatedInPlace's three device paths on the CPU emulator with its fake cuBLASLt: the cuBLASLt epilogue (alpha
/// vector = the gate, β = 1, C = D = the residual), the logged GEMM + add_gated fallback when the heuristic has no
/// algorithm for that pointer mode, and gemm.cu's fused entry without cuBLASLt — each against the CPU reference (the op
/// harness's bf16 rule); and the fake refusing what cuBLASLt's documentation rules out. Skipped on a real GPU (the knobs
/// exist only in the fake).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaGatedResidualTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    private void RequireFake()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.IfNot(FakeCublasLt.IsLoaded, "needs the CPU emulator's fake cuBLASLt (ACCELAES_CUDA_LIB_DIR from build.py)");
    }

    private static CudaBackend NewBackend(bool useCublasLt = true) =>
        new(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, UseCublasLt = useCublasLt });

    private void RunCases(CudaBackend gpu, int seed)
    {
        var results = OpSelfTest.RunAll(gpu, fixture.Cpu, seed, c => c.Op == "LinearAddGatedInPlace");
        foreach (var r in results)
            output.WriteLine(r.ToString());
        Assert.Equal(5, results.Count);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
    }

    [SkippableFact]
    public void The_gated_residual_runs_in_the_cublaslt_epilogue()
    {
        RequireFake();
        using var knobs = FakeCublasLt.Configure();
        using var gpu = NewBackend();
        RunCases(gpu, seed: 31);
        Assert.True(FakeCublasLt.Counters().Matmuls > 0, "cuBLASLt ran the products");
        Assert.Equal(0, gpu.GatedResidualFallbacks);
        Assert.Empty(gpu.Warnings);
    }

    [SkippableFact]
    public void Without_an_alpha_vector_algorithm_it_falls_back_with_one_note_per_shape_and_counts_every_call()
    {
        RequireFake();
        using var knobs = FakeCublasLt.Configure();
        SetNoAlphaVector(1);
        using var gpu = NewBackend();
        RunCases(gpu, seed: 32);
        RunCases(gpu, seed: 33);
        foreach (var w in gpu.Warnings)
            output.WriteLine(w);
        // Four gated shapes (the bias-only case needs no alpha vector), each noted once although it ran twice; every gated
        // call counted.
        Assert.Equal(4, gpu.Warnings.Count(w => w.StartsWith("Gated-residual epilogue fallback: LinearAddGatedInPlace", StringComparison.Ordinal)
                                             && w.Contains("heuristic offered no algorithm", StringComparison.Ordinal)));
        Assert.Equal(8, gpu.GatedResidualFallbacks);
    }

    [SkippableFact]
    public void Without_cublaslt_gemm_cu_fuses_the_gated_residual()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var gpu = NewBackend(useCublasLt: false);
        Assert.StartsWith("gemm.cu", gpu.GemmEngine);
        RunCases(gpu, seed: 34);
        Assert.Equal(0, gpu.GatedResidualFallbacks);
    }

    /// <summary>An fp32 residual is the unfused ops' arithmetic exactly (a bf16 product, then add_gated_f32 / the norm kernels).</summary>
    [SkippableFact]
    public void An_fp32_residual_is_the_composition_of_the_unfused_ops()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        Tensor Values(int seed, params int[] dims) =>
            gpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed), new Shape(dims));
        Tensor Bf16(int seed, params int[] dims) => gpu.ToBf16(Values(seed, dims));
        var (x, w, b, g, y, nw) = (Bf16(1, 2, 4, 16), Bf16(2, 8, 16), Bf16(3, 8), Bf16(4, 2, 8), Bf16(5, 2, 4, 8), Bf16(6, 8));

        var fused = Values(7, 2, 4, 8);
        var composed = Values(7, 2, 4, 8);
        gpu.LinearAddGatedInPlace(fused, x, w, b, g);
        gpu.AddGatedInPlace(composed, gpu.Linear(x, w, b), g);
        Assert.Equal(gpu.Download(composed), gpu.Download(fused));

        gpu.RmsNormAddTanhGatedInPlace(fused, y, 1e-5f, nw, g);
        gpu.AddGatedInPlace(composed, gpu.RmsNorm(y, 1e-5f, nw), gpu.Activate(g, Activation.Tanh));
        Assert.Equal(gpu.Download(composed), gpu.Download(fused));
        Assert.Equal(DType.F32, ((CudaTensor)fused).DType);
    }

    [SkippableFact]
    public void The_fake_refuses_what_the_cublaslt_documentation_rules_out()
    {
        RequireFake();
        using var knobs = FakeCublasLt.Configure();
        var handle = CublasLt.Create();
        var a = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, 16, 8, 16);
        var b = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, 16, 4, 16);
        var d = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, 8, 4, 8);
        var preference = CublasLt.PreferenceCreate(1 << 20);
        try
        {
            CublasStatus Heuristic(Action<CublasLtMatmulDesc> configure)
            {
                var desc = CublasLt.MatmulDescCreate();
                try
                {
                    CublasLt.SetTranspose(desc, CublasOperation.T, CublasOperation.N);
                    configure(desc);
                    return CublasLt.TryHeuristic(handle, desc, a, b, d, d, preference, 4).Status;
                }
                finally
                {
                    CublasLt.MatmulDescDestroy(desc);
                }
            }
            var bias = new CuDevicePtr(256);
            Assert.Equal(CublasStatus.CUBLAS_STATUS_SUCCESS, Heuristic(desc =>
            {
                CublasLt.SetPointerMode(desc, CublasLtPointerMode.AlphaDeviceVectorBetaHost);
                CublasLt.SetEpilogue(desc, CublasLtEpilogue.Bias, bias);
            }));
            // ALPHA_DEVICE_VECTOR_BETA_ZERO "doesn't support batched alpha vector": its batch stride must be 0.
            Assert.Equal(CublasStatus.CUBLAS_STATUS_INVALID_VALUE, Heuristic(desc =>
            {
                CublasLt.SetPointerMode(desc, CublasLtPointerMode.AlphaDeviceVectorBetaZero);
                CublasLt.SetInt64(desc, CublasLtMatmulDescAttribute.AlphaVectorBatchStride, 8);
            }));
            // A bf16 output takes a bf16 bias (BIAS_DATA_TYPE: the D type outside IMMA and FP8 kernels).
            Assert.Equal(CublasStatus.CUBLAS_STATUS_NOT_SUPPORTED, Heuristic(desc =>
                CublasLt.SetEpilogue(desc, CublasLtEpilogue.Bias, bias, CudaDataType.R32F)));
            // A pointer mode outside cublasLtPointerMode_t is refused when it is set.
            Assert.Throws<CudaException>(() => Heuristic(desc => CublasLt.SetPointerMode(desc, (CublasLtPointerMode)7)));
        }
        finally
        {
            CublasLt.PreferenceDestroy(preference);
            CublasLt.MatrixLayoutDestroy(d);
            CublasLt.MatrixLayoutDestroy(b);
            CublasLt.MatrixLayoutDestroy(a);
            CublasLt.Destroy(handle);
        }
    }

    /// <summary>FAKE_CUBLASLT_NO_ALPHA_VECTOR from the test (fake_cublaslt_configure, which the knobs' disposal calls, resets it).</summary>
    private static unsafe void SetNoAlphaVector(int value)
    {
        var library = NativeLibraries.Load(CudaLibrary.CublasLt);
        nint fn = 0;
        Assert.True(library.IsLoaded && NativeLibrary.TryGetExport(library.Handle, "fake_cublaslt_set_no_alpha_vector", out fn),
            "the fake cuBLASLt exports fake_cublaslt_set_no_alpha_vector");
        ((delegate* unmanaged<int, void>)fn)(value);
    }
}
