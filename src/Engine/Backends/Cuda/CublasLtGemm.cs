using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// A GEMM as cuBLASLt takes it, column-major: D[m×n] = op(A)[m×k] · op(B)[k×n], where A is stored as an
/// ARows×ACols column-major matrix with leading dimension Lda (likewise B, D), and op is identity (N) or
/// transpose (T). The factories map the engine's row-major products onto it; <see cref="Evaluate"/> runs
/// the column-major definition on the host so the mappings are unit-tested without a GPU.
/// </summary>
/// <remarks>
/// The one fact everything rests on: a row-major R×C matrix with row stride C is, byte for byte, the
/// column-major C×R matrix with leading dimension C — its transpose. So a row-major product is computed by
/// asking cuBLAS for the transposed product, with the operands' roles swapped.
/// </remarks>
public readonly record struct GemmMapping(
    CublasOperation TransA, CublasOperation TransB,
    ulong ARows, ulong ACols, long Lda,
    ulong BRows, ulong BCols, long Ldb,
    ulong DRows, ulong DCols, long Ldd,
    int M, int N, int K)
{
    /// <summary>
    /// Linear: row-major Y[M×N] = X[M×K] · W[N×K]ᵀ (PyTorch weight layout). Read column-major, the buffers are
    /// X_cm = Xᵀ (K×M, ld K), W_cm = Wᵀ (K×N, ld K), Y_cm = Yᵀ (N×M, ld N), and Yᵀ = W·Xᵀ = (W_cm)ᵀ·X_cm.
    /// So A = the weight buffer with TransA = T (op(A) is N×K), B = the input buffer with TransB = N (K×M),
    /// D = the output buffer as N×M with ld N: cuBLAS m = N, n = M, k = K. A bias epilogue adds a vector of
    /// length rows(D) = N broadcast along the columns (tokens): exactly the per-feature bias.
    /// </summary>
    public static GemmMapping ForLinear(int m, int n, int k) => new(
        CublasOperation.T, CublasOperation.N,
        (ulong)k, (ulong)n, k,
        (ulong)k, (ulong)m, k,
        (ulong)n, (ulong)m, n,
        M: n, N: m, K: k);

    /// <summary>
    /// One column chunk of a convolution: row-major T[Cout×nc] = W[Cout×K] · col[K×nc]. Column-major:
    /// T_cm = Tᵀ (nc×Cout, ld nc), W_cm = Wᵀ (K×Cout, ld K), col_cm = colᵀ (nc×K, ld nc), and
    /// Tᵀ = colᵀ·Wᵀ = col_cm·W_cm: A = the col buffer (N), B = the weight buffer (N), m = nc, n = Cout, k = K.
    /// (Here rows(D) = nc, so cuBLASLt's bias epilogue would be per pixel, not per channel: the conv adds its
    /// bias in the store kernel instead.)
    /// </summary>
    public static GemmMapping ForConvChunk(int cout, int nc, int k) => new(
        CublasOperation.N, CublasOperation.N,
        (ulong)nc, (ulong)k, nc,
        (ulong)k, (ulong)cout, k,
        (ulong)nc, (ulong)cout, nc,
        M: nc, N: cout, K: k);

    /// <summary>D = op(A)·op(B) by the column-major definition (host reference for tests; fp64 accumulation).</summary>
    public void Evaluate(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d)
    {
        for (int j = 0; j < N; j++)
            for (int i = 0; i < M; i++)
            {
                double sum = 0;
                for (int p = 0; p < K; p++)
                {
                    float av = TransA == CublasOperation.N ? a[(int)(i + p * Lda)] : a[(int)(p + i * Lda)];
                    float bv = TransB == CublasOperation.N ? b[(int)(p + j * Ldb)] : b[(int)(j + p * Ldb)];
                    sum += (double)av * bv;
                }
                d[(int)(i + j * Ldd)] = (float)sum;
            }
    }

    /// <summary>The checks cuBLASLt makes on layouts: op(A) is m×k, op(B) is k×n, D is m×n, ld ≥ rows.</summary>
    public bool IsConsistent =>
        (TransA == CublasOperation.N ? (ARows, ACols) : (ACols, ARows)) == ((ulong)M, (ulong)K)
        && (TransB == CublasOperation.N ? (BRows, BCols) : (BCols, BRows)) == ((ulong)K, (ulong)N)
        && (DRows, DCols) == ((ulong)M, (ulong)N)
        && Lda >= (long)ARows && Ldb >= (long)BRows && Ldd >= (long)DRows;
}

/// <summary>
/// cuBLASLt matmuls on the backend's stream: bf16 A/B, fp32 compute and scale, bf16 or fp32 D, optional
/// BIAS / GELU / GELU_BIAS epilogue. Descriptors, layouts and the heuristic's first algorithm are cached
/// per (mapping, D type, epilogue), so a shape pays for the heuristic query once. All pointers are pool
/// blocks (256-byte aligned), which is the alignment cuBLASLt's heuristics assume by default.
/// </summary>
internal sealed class CublasLtGemm : IDisposable
{
    private readonly record struct Key(GemmMapping Mapping, CudaDataType DType, CublasLtEpilogue Epilogue);

    private sealed class Plan
    {
        public CublasLtMatmulDesc Desc;
        public CublasLtMatrixLayout A, B, D;
        public CublasLtMatmulAlgo Algo;
        public ulong WorkspaceBytes;
        public bool HasAlgorithm;
    }

    private readonly CublasLtHandle _handle;
    private readonly CuStream _stream;
    private readonly DeviceMemoryPool _pool;
    private readonly PoolBlock _workspace;
    private readonly Dictionary<Key, Plan> _plans = new();

    public CublasLtGemm(CuStream stream, DeviceMemoryPool pool, ulong workspaceBytes)
    {
        _handle = CublasLt.Create();
        _stream = stream;
        _pool = pool;
        _workspace = pool.Rent(workspaceBytes, "cuBLASLt workspace");
        WorkspaceBytes = workspaceBytes;
    }

    public ulong WorkspaceBytes { get; }

    /// <summary>Number of distinct GEMM shapes planned so far.</summary>
    public int PlannedShapes => _plans.Count;

    /// <summary>Shapes for which cuBLASLt had no algorithm (the backend used gemm.cu for them).</summary>
    public int ShapesWithoutAlgorithm => _plans.Values.Count(p => !p.HasAlgorithm);

    /// <summary>Matmuls cuBLASLt refused after its heuristic had offered an algorithm.</summary>
    public int Refusals { get; private set; }

    /// <summary>Runs D = op(A)·op(B) (+ epilogue). False when cuBLASLt has no algorithm for it (the caller falls back).</summary>
    public bool TryMatmul(GemmMapping g, CuDevicePtr a, CuDevicePtr b, CuDevicePtr d, CudaDataType dType,
        CublasLtEpilogue epilogue, CuDevicePtr bias, string op)
    {
        var key = new Key(g, dType, epilogue);
        if (!_plans.TryGetValue(key, out var plan))
        {
            plan = CreatePlan(g, dType, epilogue, bias, op);
            _plans[key] = plan;
        }
        if (!plan.HasAlgorithm)
            return false;
        if (epilogue is CublasLtEpilogue.Bias or CublasLtEpilogue.GeluBias)
            CublasLt.SetEpilogue(plan.Desc, epilogue, bias);
        try
        {
            CublasLt.Matmul(_handle, plan.Desc, 1f, a, plan.A, b, plan.B, 0f, d, plan.D, d, plan.D, plan.Algo,
                new CuDevicePtr(_workspace.Address), plan.WorkspaceBytes, _stream, op);
        }
        catch (AccelAes.Kernels.CudaException e) when (e.Status == (int)CublasStatus.CUBLAS_STATUS_NOT_SUPPORTED)
        {
            // The heuristic offered an algorithm the call then refuses (it happens with odd alignments): never
            // try this shape again, let the caller use gemm.cu. Nothing was written.
            plan.HasAlgorithm = false;
            Refusals++;
            return false;
        }
        return true;
    }

    private Plan CreatePlan(GemmMapping g, CudaDataType dType, CublasLtEpilogue epilogue, CuDevicePtr bias, string op)
    {
        var plan = new Plan
        {
            Desc = CublasLt.MatmulDescCreate(CublasComputeType.Compute32F, CudaDataType.R32F),
            A = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.ARows, g.ACols, g.Lda),
            B = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.BRows, g.BCols, g.Ldb),
            D = CublasLt.MatrixLayoutCreate(dType, g.DRows, g.DCols, g.Ldd),
        };
        CublasLt.SetTranspose(plan.Desc, g.TransA, g.TransB);
        CublasLt.SetEpilogue(plan.Desc, epilogue, bias);
        var preference = CublasLt.PreferenceCreate(WorkspaceBytes);
        try
        {
            var results = CublasLt.Heuristic(_handle, plan.Desc, plan.A, plan.B, plan.D, plan.D, preference, 1, op);
            if (results.Length > 0 && results[0].State == CublasStatus.CUBLAS_STATUS_SUCCESS)
            {
                plan.Algo = results[0].Algo;
                plan.WorkspaceBytes = results[0].WorkspaceSize;
                plan.HasAlgorithm = true;
            }
        }
        finally
        {
            CublasLt.PreferenceDestroy(preference);
        }
        return plan;
    }

    public void Dispose()
    {
        foreach (var plan in _plans.Values)
        {
            CublasLt.MatrixLayoutDestroy(plan.D);
            CublasLt.MatrixLayoutDestroy(plan.B);
            CublasLt.MatrixLayoutDestroy(plan.A);
            CublasLt.MatmulDescDestroy(plan.Desc);
        }
        _plans.Clear();
        CublasLt.Destroy(_handle);
        _pool.Return(_workspace);
    }
}
