using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// The FP8 Linear (issue 15): D (bf16) = diag(w_scale) · s_x · (A_e4m3 · B_e4m3) (+ bias, GELU), A = the weight's e4m3
/// codes [N, K], B = the activations quantised to e4m3 with one scale s_x per tensor (fp8.cu), fp32 accumulation.
/// </summary>
/// <remarks>
/// What cuBLASLt documents and this relies on (cuBLAS docs, "cublasLtMatmul" datatype table for FP8 and
/// cublasLtMatmulDescAttributes_t, CUDA 12.x):
/// <list type="bullet">
/// <item>FP8 (CUDA_R_8F_E4M3 A and B) needs compute type 32F, scale type 32F, the "TN" format (A transposed, B not) —
/// which <see cref="GemmMapping.ForLinear"/> is — and a GPU of compute capability 8.9 or later; C / D may be bf16, and
/// the bias of a BIAS epilogue is then bf16.</item>
/// <item>B_SCALE_POINTER: a device fp32 scalar multiplying B (here s_x, written on the device by the quantise kernel, so
/// no host round trip); A_SCALE_POINTER is left unset (1).</item>
/// <item>POINTER_MODE = ALPHA_DEVICE_VECTOR_BETA_ZERO: alpha is a device fp32 vector of rows(D) = N entries — the
/// weight's per-output-channel scales, which lie in the weight's buffer (<see cref="Fp8WeightLayout"/>).</item>
/// </list>
/// Whether a real cuBLASLt offers FP8 algorithms with the alpha-vector pointer mode is not verified here (no GPU; the
/// emulator's fake cuBLASLt implements the documented semantics): where the heuristic offers none, or every algorithm
/// refuses, the shape falls back for good to the dequantise-to-bf16 path, with one warning per shape.
/// </remarks>
internal sealed partial class CublasLtGemm
{
    private readonly record struct Fp8Key(GemmMapping Mapping, CublasLtEpilogue Epilogue);

    private readonly Dictionary<Fp8Key, Plan> _fp8Plans = new();

    /// <summary>FP8 Linear shapes planned (offered an algorithm or not).</summary>
    public int Fp8ShapesPlanned => _fp8Plans.Count;

    /// <summary>FP8 Linear shapes that run dequantised because cuBLASLt could not (each warned about once).</summary>
    public int Fp8ShapesWithoutAlgorithm => _fp8Plans.Values.Count(p => p.Fallback is not null);

    /// <summary>FP8 matmuls run (tests and diagnostics: which path a Linear took).</summary>
    public long Fp8Matmuls { get; private set; }

    /// <summary>
    /// D[N×M as cuBLAS sees it] = alpha[n] · (*bScale) · Σ_k A[n, k] · B[m, k] (+ bias, epilogue), A and B e4m3, D bf16.
    /// False when cuBLASLt cannot run the shape (the caller dequantises the weight and runs the bf16 GEMM).
    /// </summary>
    public bool TryFp8Linear(GemmMapping g, CuDevicePtr weightCodes, CuDevicePtr weightScales, CuDevicePtr inputCodes, CuDevicePtr inputScale,
        CuDevicePtr d, CublasLtEpilogue epilogue, CuDevicePtr bias, string op)
    {
        var key = new Fp8Key(g, epilogue);
        if (!_fp8Plans.TryGetValue(key, out var plan))
        {
            plan = CreateFp8Plan(key, op);
            _fp8Plans[key] = plan;
            if (plan.Fallback is not null)
                _warn(plan.Fallback);
        }
        if (plan.Fallback is not null)
            return false;
        CublasLt.SetPointer(plan.Desc, CublasLtMatmulDescAttribute.BScalePointer, inputScale);
        if (epilogue is CublasLtEpilogue.Bias or CublasLtEpilogue.GeluBias)
            CublasLt.SetEpilogue(plan.Desc, epilogue, bias);
        var workspace = new CuDevicePtr(_workspace.Address);
        if (!RunAlgorithms(plan, op, i =>
                CublasLt.TryMatmulAlphaVector(_handle, plan.Desc, weightScales, weightCodes, plan.A, inputCodes, plan.B, 0f, d, plan.D, d, plan.D,
                    plan.Algorithms[i].Algo, workspace, plan.Algorithms[i].WorkspaceSize, _stream),
                search => Fp8FallbackWarning(plan.Op, plan.Shape, AllRefused(plan, search))))
            return false;
        Fp8Matmuls++;
        return true;
    }

    /// <summary>The once-per-shape note of an FP8 Linear that runs dequantised: which op and shape, and why.</summary>
    internal static string Fp8FallbackWarning(string op, string shape, string reason) =>
        $"FP8 GEMM fallback: {op} {shape} dequantises its fp8 weight to bf16 and runs the bf16 GEMM: {reason}. Reported once per shape.";

    private Plan CreateFp8Plan(Fp8Key key, string op)
    {
        var g = key.Mapping;
        string shape = $"{GemmDispatch.DescribeShape(g, CudaDataType.R16BF, key.Epilogue)}, A/B e4m3, alpha device vector, B scale pointer";
        // A type or attribute this cuBLASLt does not know (FP8 arrived in 11.8): not an error, the dequantise path.
        return CreateFallbackPlan(op, shape, plan =>
        {
            plan.Desc = CublasLt.MatmulDescCreate(CublasComputeType.Compute32F, CudaDataType.R32F);
            plan.A = CublasLt.MatrixLayoutCreate(CudaDataType.R8FE4M3, g.ARows, g.ACols, g.Lda);
            plan.B = CublasLt.MatrixLayoutCreate(CudaDataType.R8FE4M3, g.BRows, g.BCols, g.Ldb);
            plan.D = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.DRows, g.DCols, g.Ldd);
            CublasLt.SetTranspose(plan.Desc, g.TransA, g.TransB);
            CublasLt.SetPointerMode(plan.Desc, CublasLtPointerMode.AlphaDeviceVectorBetaZero);
            // The heuristic reads pointers only for their alignment: the workspace (256-byte aligned) stands in for the
            // bias and the B scale until a call sets the real ones.
            var standIn = new CuDevicePtr(_workspace.Address);
            CublasLt.SetPointer(plan.Desc, CublasLtMatmulDescAttribute.BScalePointer, standIn);
            CublasLt.SetEpilogue(plan.Desc, key.Epilogue, key.Epilogue is CublasLtEpilogue.Bias or CublasLtEpilogue.GeluBias ? standIn : default);
        }, reason => Fp8FallbackWarning(op, shape, reason));
    }
}
