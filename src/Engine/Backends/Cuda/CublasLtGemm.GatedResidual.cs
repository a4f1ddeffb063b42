using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// The gated-residual matmul (issue 16): residual[b] ← gate[b] ⊙ (W·x[b]) + 1·residual[b] + gate[b] ⊙ bias, one strided-batch
/// cuBLASLt call over the B batch items, C = D = the residual.
/// </summary>
/// <remarks>
/// What cuBLASLt documents and this relies on (cuBLAS docs, cublasLtMatmulDescAttributes_t, cublasLtPointerMode_t and
/// cublasLtMatmul, CUDA 12.x; cublasLt.h of CUDA 11.4.2+, where ALPHA_DEVICE_VECTOR_BETA_HOST appeared):
/// <list type="bullet">
/// <item>POINTER_MODE = ALPHA_DEVICE_VECTOR_BETA_HOST: alpha is a device array of the scale type (fp32 here) with one entry
/// per row of D — rows of D are the output features in <see cref="GemmMapping.ForLinear"/> — and beta a host scalar;
/// ALPHA_VECTOR_BATCH_STRIDE moves to the next batch item's vector.</item>
/// <item>The BIAS epilogue adds a vector of rows(D) entries after the scaling ("added before applying the final
/// postprocessing"), of D's type (bf16) for bf16 outputs, BIAS_BATCH_STRIDE apart per batch item: so the bias is
/// pre-multiplied by the gate (<c>gated_epilogue_vectors</c>, residual.cu) and rounded to bf16 once there.</item>
/// <item>The notes say that for the best performance with a bias, beta should be zero and the pointer mode HOST: this call
/// is not the fastest cuBLASLt GEMM, but it saves a full read and write of the residual plus the product's round trip.</item>
/// <item>Not every algorithm supports every pointer mode (CUBLASLT_ALGO_CAP_POINTER_MODE_MASK): when the heuristic offers
/// none, or every offered one refuses, the shape falls back for good (the caller runs GEMM + add_gated_bf16), with one
/// warning per shape. A cuBLASLt older than 11.4.2 refuses the pointer mode when it is set: the same fallback.</item>
/// </list>
/// The weight is shared by the batch items with a batch stride of 0.
/// </remarks>
internal sealed partial class CublasLtGemm
{
    /// <param name="XBatchStride">Elements from one batch item's x to the next; 0: packed (rows × K). A row range of a
    /// longer sequence (LinearOfRowsAddGatedInPlace) reads its rows in place with the whole sequence's stride.</param>
    private readonly record struct GatedKey(GemmMapping Mapping, int Batch, bool AlphaVector, bool Bias, long XBatchStride = 0);

    private readonly Dictionary<GatedKey, Plan> _gatedPlans = new();

    /// <summary>Gated-residual shapes planned (accepted by cuBLASLt or not).</summary>
    public int GatedShapesPlanned => _gatedPlans.Count;

    /// <summary>Gated-residual shapes that run as GEMM + add_gated_bf16 because cuBLASLt could not (each warned about once).</summary>
    public int GatedShapesWithoutAlgorithm => _gatedPlans.Values.Count(p => p.Fallback is not null);

    /// <summary>
    /// Plans (once per shape) the gated-residual matmul of <paramref name="batch"/> items of the per-item product
    /// <paramref name="g"/>; false when cuBLASLt cannot run it (the shape has fallen back, and was reported).
    /// </summary>
    public bool CanRunGatedResidual(GemmMapping g, int batch, bool alphaVector, bool bias, string op, long xBatchStride = 0)
    {
        var key = new GatedKey(g, batch, alphaVector, bias, xBatchStride);
        if (!_gatedPlans.TryGetValue(key, out var plan))
        {
            plan = CreateGatedPlan(key, op);
            _gatedPlans[key] = plan;
            if (plan.Fallback is not null)
                _warn(plan.Fallback);
        }
        return plan.Fallback is null;
    }

    /// <summary>
    /// Runs the planned gated-residual matmul: D = C = <paramref name="residual"/>, alpha = <paramref name="alphaVector"/>
    /// (fp32 [batch, N]; default: the scalar 1), bias = <paramref name="bias"/> (bf16 [batch, N], or [N] without an alpha
    /// vector; default: none), β = 1. False when every algorithm refused (the shape then falls back for good, reported once).
    /// </summary>
    public bool TryGatedResidual(GemmMapping g, int batch, CuDevicePtr weight, CuDevicePtr x, CuDevicePtr residual,
        CuDevicePtr alphaVector, CuDevicePtr bias, string op, long xBatchStride = 0)
    {
        if (!CanRunGatedResidual(g, batch, !alphaVector.IsNull, !bias.IsNull, op, xBatchStride))
            return false;
        var plan = _gatedPlans[new GatedKey(g, batch, !alphaVector.IsNull, !bias.IsNull, xBatchStride)];
        if (!bias.IsNull)
            CublasLt.SetEpilogue(plan.Desc, CublasLtEpilogue.Bias, bias);
        var workspace = new CuDevicePtr(_workspace.Address);
        return RunAlgorithms(plan, op, i => alphaVector.IsNull
            ? CublasLt.TryMatmul(_handle, plan.Desc, 1f, weight, plan.A, x, plan.B, 1f, residual, plan.D, residual, plan.D,
                plan.Algorithms[i].Algo, workspace, plan.Algorithms[i].WorkspaceSize, _stream)
            : CublasLt.TryMatmulAlphaVector(_handle, plan.Desc, alphaVector, weight, plan.A, x, plan.B, 1f, residual, plan.D,
                residual, plan.D, plan.Algorithms[i].Algo, workspace, plan.Algorithms[i].WorkspaceSize, _stream),
            search => GatedFallbackWarning(plan.Op, plan.Shape, AllRefused(plan, search)));
    }

    /// <summary>The once-per-shape note of a gated residual that runs unfused: which op and shape, and why.</summary>
    internal static string GatedFallbackWarning(string op, string shape, string reason) =>
        $"Gated-residual epilogue fallback: {op} {shape} runs as GEMM + add_gated_bf16 (one more pass over the residual): {reason}. Reported once per shape.";

    private Plan CreateGatedPlan(GatedKey key, string op)
    {
        var g = key.Mapping;
        string shape = $"{GemmDispatch.DescribeShape(g, CudaDataType.R16BF, key.Bias ? CublasLtEpilogue.Bias : CublasLtEpilogue.Default)}, " +
            $"batch {key.Batch}{(key.XBatchStride != 0 ? $" (x stride {key.XBatchStride})" : "")}, alpha {(key.AlphaVector ? "device vector" : "1")}, beta 1, C = D";
        // An attribute this cuBLASLt does not know (the pointer mode before 11.4.2): not an error, a fallback.
        return CreateFallbackPlan(op, shape, plan =>
        {
            plan.Desc = CublasLt.MatmulDescCreate(CublasComputeType.Compute32F, CudaDataType.R32F);
            plan.A = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.ARows, g.ACols, g.Lda);
            plan.B = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.BRows, g.BCols, g.Ldb);
            plan.D = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.DRows, g.DCols, g.Ldd);
            CublasLt.SetTranspose(plan.Desc, g.TransA, g.TransB);
            if (key.Batch > 1)
            {
                CublasLt.SetBatch(plan.A, key.Batch, 0); // one weight for every batch item
                CublasLt.SetBatch(plan.B, key.Batch, key.XBatchStride != 0 ? key.XBatchStride : g.Ldb * (long)g.BCols);
                CublasLt.SetBatch(plan.D, key.Batch, g.Ldd * (long)g.DCols);
            }
            if (key.AlphaVector)
            {
                CublasLt.SetPointerMode(plan.Desc, CublasLtPointerMode.AlphaDeviceVectorBetaHost);
                if (key.Batch > 1)
                    CublasLt.SetInt64(plan.Desc, CublasLtMatmulDescAttribute.AlphaVectorBatchStride, g.M);
            }
            // The heuristic reads the bias pointer only for its alignment; pool blocks are 256-byte aligned, as is any
            // workspace address, so the workspace stands in until the call sets the real vector.
            CublasLt.SetEpilogue(plan.Desc, key.Bias ? CublasLtEpilogue.Bias : CublasLtEpilogue.Default, new CuDevicePtr(_workspace.Address));
            if (key.Bias && key.Batch > 1)
                CublasLt.SetInt64(plan.Desc, CublasLtMatmulDescAttribute.BiasBatchStride, key.AlphaVector ? g.M : 0);
        }, reason => GatedFallbackWarning(op, shape, reason));
    }
}
