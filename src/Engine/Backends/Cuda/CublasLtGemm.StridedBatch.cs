using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// Fusion 10 of issue 16: one product over B batch items as one strided-batch cuBLASLt matmul — A (the weight) shared with
/// a batch stride of 0, B and D each <c>BATCH_COUNT</c> matrices a given stride apart (cuBLASLt docs,
/// cublasLtMatrixLayoutAttribute_t: BATCH_COUNT / STRIDED_BATCH_OFFSET; the BIAS epilogue's vector is shared by the
/// batch while BIAS_BATCH_STRIDE is left at its default 0). Used where the items' rows are not one contiguous block, so
/// a single GEMM over B·rows rows cannot do it (LinearIntoRows: each item's rows sit at their row offset of a longer
/// packed sequence). A shape cuBLASLt has no algorithm for, or refuses with every one, falls back for good (the caller
/// runs one GEMM per item) with one warning naming the reason.
/// </summary>
internal sealed partial class CublasLtGemm
{
    /// <param name="BStride">Elements from one batch item's B (the input rows) to the next.</param>
    /// <param name="DStride">Elements from one batch item's D (the output rows) to the next.</param>
    private readonly record struct BatchKey(GemmMapping Mapping, int Batch, long BStride, long DStride, CublasLtEpilogue Epilogue);

    private readonly Dictionary<BatchKey, Plan> _batchPlans = new();

    /// <summary>Strided-batch shapes that run one GEMM per batch item because cuBLASLt could not (each warned about once).</summary>
    public int BatchShapesWithoutAlgorithm => _batchPlans.Values.Count(p => p.Fallback is not null);

    /// <summary>
    /// D_b = op(A)·op(B_b) (+ bias) for b &lt; <paramref name="batch"/>, bf16 out, B_b at <paramref name="b"/> + b·bStride and
    /// D_b at <paramref name="d"/> + b·dStride (elements), A shared. False when cuBLASLt cannot run it (reported once per shape).
    /// </summary>
    public bool TryStridedBatchMatmul(GemmMapping g, int batch, long bStride, long dStride, CuDevicePtr a, CuDevicePtr b, CuDevicePtr d,
        CublasLtEpilogue epilogue, CuDevicePtr bias, string op)
    {
        var key = new BatchKey(g, batch, bStride, dStride, epilogue);
        if (!_batchPlans.TryGetValue(key, out var plan))
        {
            plan = CreateBatchPlan(key, op);
            _batchPlans[key] = plan;
            if (plan.Fallback is not null)
                _warn(plan.Fallback);
        }
        if (plan.Fallback is not null)
            return false;
        if (epilogue is CublasLtEpilogue.Bias)
            CublasLt.SetEpilogue(plan.Desc, epilogue, bias);
        var workspace = new CuDevicePtr(_workspace.Address);
        return RunAlgorithms(plan, op, i =>
            CublasLt.TryMatmul(_handle, plan.Desc, 1f, a, plan.A, b, plan.B, 0f, d, plan.D, d, plan.D, plan.Algorithms[i].Algo,
                workspace, plan.Algorithms[i].WorkspaceSize, _stream),
            search => BatchFallbackWarning(plan.Op, plan.Shape, AllRefused(plan, search)));
    }

    /// <summary>The once-per-shape note of a strided batch that runs per item: which op and shape, and why.</summary>
    internal static string BatchFallbackWarning(string op, string shape, string reason) =>
        $"Strided-batch fallback: {op} {shape} runs one GEMM per batch item: {reason}. Reported once per shape.";

    private Plan CreateBatchPlan(BatchKey key, string op)
    {
        var g = key.Mapping;
        string shape = $"{GemmDispatch.DescribeShape(g, CudaDataType.R16BF, key.Epilogue)}, batch {key.Batch} (B stride {key.BStride}, D stride {key.DStride}, A shared)";
        return CreateFallbackPlan(op, shape, plan =>
        {
            plan.Desc = CublasLt.MatmulDescCreate(CublasComputeType.Compute32F, CudaDataType.R32F);
            plan.A = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.ARows, g.ACols, g.Lda);
            plan.B = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.BRows, g.BCols, g.Ldb);
            plan.D = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.DRows, g.DCols, g.Ldd);
            CublasLt.SetTranspose(plan.Desc, g.TransA, g.TransB);
            CublasLt.SetBatch(plan.A, key.Batch, 0); // one weight for every batch item
            CublasLt.SetBatch(plan.B, key.Batch, key.BStride);
            CublasLt.SetBatch(plan.D, key.Batch, key.DStride);
            // The heuristic reads the bias pointer only for its alignment; the workspace (256-byte aligned, as every pool
            // block) stands in until the call sets the real vector.
            CublasLt.SetEpilogue(plan.Desc, key.Epilogue, new CuDevicePtr(_workspace.Address));
        }, reason => BatchFallbackWarning(op, shape, reason));
    }
}
