using AccelAes.Kernels;
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
    /// <param name="ldy">The output's row stride in elements (default N): a larger one writes Y into a column slice of a
    /// wider row-major buffer, which column-major is D with leading dimension ldy (LinearInto).</param>
    public static GemmMapping ForLinear(int m, int n, int k, long ldy = 0) => new(
        CublasOperation.T, CublasOperation.N,
        (ulong)k, (ulong)n, k,
        (ulong)k, (ulong)m, k,
        (ulong)n, (ulong)m, ldy == 0 ? n : ldy,
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
/// BIAS / GELU / GELU_BIAS epilogue. Per (mapping, D type, epilogue) it caches the descriptors, layouts, up to
/// <see cref="GemmDispatch.HeuristicCandidates"/> algorithms from the heuristic and the one that ran, so a shape pays for
/// the heuristic query once. A matmul that refuses an algorithm moves on to the next; a shape for which every
/// algorithm is refused, or the heuristic offers none, is left to gemm.cu (the caller's fallback) for good, with one
/// warning naming the reason. All pointers are pool blocks (256-byte aligned), which is the alignment cuBLASLt's
/// heuristics assume by default.
/// </summary>
internal sealed partial class CublasLtGemm : IDisposable
{
    private readonly record struct Key(GemmMapping Mapping, CudaDataType DType, CublasLtEpilogue Epilogue);

    private sealed class Plan
    {
        public CublasLtMatmulDesc Desc;
        public CublasLtMatrixLayout A, B, D;
        public CublasLtMatmulHeuristicResult[] Algorithms = [];
        public CublasStatus HeuristicStatus;
        /// <summary>Index of the algorithm that last ran (or is to be tried first).</summary>
        public int Current;
        public string Op = "", Shape = "";
        /// <summary>Set when gemm.cu takes the shape: the warning that said so.</summary>
        public string? Fallback;
    }

    private readonly CublasLtHandle _handle;
    private readonly CuStream _stream;
    private readonly DeviceMemoryPool _pool;
    private readonly PoolBlock _workspace;
    private readonly Action<string> _warn;
    private readonly Dictionary<Key, Plan> _plans = new();

    /// <summary>Takes a handle from cublasLtCreate (the backend decides what a failure there means) and rents the workspace.</summary>
    public CublasLtGemm(CublasLtHandle handle, CuStream stream, DeviceMemoryPool pool, ulong workspaceBytes, Action<string> warn)
    {
        _handle = handle;
        _stream = stream;
        _pool = pool;
        _warn = warn;
        _workspace = pool.Rent(workspaceBytes, "cuBLASLt workspace");
        WorkspaceBytes = workspaceBytes;
    }

    public ulong WorkspaceBytes { get; }

    /// <summary>Number of distinct GEMM shapes planned so far.</summary>
    public int PlannedShapes => _plans.Count;

    /// <summary>Shapes that gemm.cu runs because cuBLASLt offered no algorithm or refused them all (each was warned about once).</summary>
    public int ShapesWithoutAlgorithm => _plans.Values.Count(p => p.Fallback is not null);

    /// <summary>Matmul attempts cuBLASLt refused (each followed by the next algorithm, or by gemm.cu).</summary>
    public int Refusals { get; private set; }

    /// <summary>Every planned shape: the algorithm in use, or why it fell back.</summary>
    public IReadOnlyList<GemmShapeReport> Shapes =>
        _plans.Values.Select(p => new GemmShapeReport(p.Op, p.Shape, p.Algorithms.Length, p.Fallback is null ? p.Current : null, p.Fallback)).ToList();

    /// <summary>Runs D = op(A)·op(B) (+ epilogue). False when cuBLASLt cannot run the shape (the caller falls back to gemm.cu).</summary>
    public bool TryMatmul(GemmMapping g, CuDevicePtr a, CuDevicePtr b, CuDevicePtr d, CudaDataType dType,
        CublasLtEpilogue epilogue, CuDevicePtr bias, string op)
    {
        var key = new Key(g, dType, epilogue);
        if (!_plans.TryGetValue(key, out var plan))
        {
            plan = CreatePlan(g, dType, epilogue, bias, op);
            _plans[key] = plan;
        }
        if (plan.Fallback is not null)
            return false;
        if (epilogue is CublasLtEpilogue.Bias or CublasLtEpilogue.GeluBias)
            CublasLt.SetEpilogue(plan.Desc, epilogue, bias);
        var workspace = new CuDevicePtr(_workspace.Address);
        // From the algorithm that ran last time: one that refused once is not asked again (refusals are properties of
        // the algorithm and problem, and a refused call wrote nothing).
        return RunAlgorithms(plan, op, i =>
            CublasLt.TryMatmul(_handle, plan.Desc, 1f, a, plan.A, b, plan.B, 0f, d, plan.D, d, plan.D, plan.Algorithms[i].Algo,
                workspace, plan.Algorithms[i].WorkspaceSize, _stream),
            search => GemmDispatch.FallbackWarning(plan.Op, plan.Shape, plan.Algorithms.Length, plan.HeuristicStatus, search));
    }

    /// <summary>
    /// Tries <paramref name="plan"/>'s algorithms from the one that ran last (<see cref="GemmDispatch.Search"/>): true when one
    /// ran. A fatal status throws, naming the op, shape and algorithm; when every algorithm refused, the plan falls back for
    /// good with <paramref name="fallbackWarning"/>'s note, written once. Shared by every cuBLASLt plan kind (plain, gated
    /// residual, FP8, strided batch) so that refusals, fatal errors and fallbacks mean one thing.
    /// </summary>
    private bool RunAlgorithms(Plan plan, string op, Func<int, CublasStatus> tryAlgorithm, Func<AlgorithmSearch, string> fallbackWarning)
    {
        var search = GemmDispatch.Search(plan.Current, plan.Algorithms.Length, tryAlgorithm);
        Refusals += search.Refused;
        if (search.Fatal is { } fatal)
            CublasLt.Check(fatal, "cublasLtMatmul", $"{op} {plan.Shape}, algorithm {plan.Current + search.Refused} of {plan.Algorithms.Length}");
        if (search.Chosen is { } chosen)
        {
            plan.Current = chosen;
            return true;
        }
        plan.Current = plan.Algorithms.Length;
        plan.Fallback = fallbackWarning(search);
        _warn(plan.Fallback);
        return false;
    }

    /// <summary>
    /// A plan of the kinds after the plain one (gated residual, FP8, strided batch), which fall back rather than fail:
    /// <paramref name="describe"/> creates its descriptor and layouts, then the heuristic is asked for algorithms. A
    /// descriptor this cuBLASLt refuses (an attribute or type it does not know) or a heuristic with no algorithm leaves
    /// the plan fallen back for good, with <paramref name="fallbackWarning"/>'s note of the reason.
    /// </summary>
    private Plan CreateFallbackPlan(string op, string shape, Action<Plan> describe, Func<string, string> fallbackWarning)
    {
        var plan = new Plan { Op = op, Shape = shape };
        try
        {
            describe(plan);
        }
        catch (CudaException e)
        {
            plan.Algorithms = [];
            plan.Fallback = fallbackWarning($"cuBLASLt refused the descriptor ({e.Message})");
            return plan;
        }
        QueryAlgorithms(plan, op);
        if (plan.Algorithms.Length == 0)
            plan.Fallback = fallbackWarning("cuBLASLt's heuristic offered no algorithm" +
                (plan.HeuristicStatus == CublasStatus.CUBLAS_STATUS_SUCCESS ? " (0 results)" : $" ({StatusNames.Cublas((int)plan.HeuristicStatus)})"));
        return plan;
    }

    /// <summary>The reason a plan's every algorithm refused, for the fallback notes of the plan kinds after the plain one.</summary>
    private static string AllRefused(Plan plan, AlgorithmSearch search) =>
        $"cuBLASLt refused all {plan.Algorithms.Length} algorithm(s) its heuristic offered" +
        (search.LastRefusal is { } last ? $" (last: {StatusNames.Cublas((int)last)})" : "");

    /// <summary>Destroys the descriptors of <paramref name="plans"/> (a handle a failed plan never created is skipped) and empties it.</summary>
    private static void DestroyPlans<TKey>(Dictionary<TKey, Plan> plans) where TKey : notnull
    {
        foreach (var plan in plans.Values)
        {
            if (plan.D.Handle != 0) CublasLt.MatrixLayoutDestroy(plan.D);
            if (plan.B.Handle != 0) CublasLt.MatrixLayoutDestroy(plan.B);
            if (plan.A.Handle != 0) CublasLt.MatrixLayoutDestroy(plan.A);
            if (plan.Desc.Handle != 0) CublasLt.MatmulDescDestroy(plan.Desc);
        }
        plans.Clear();
    }

    private Plan CreatePlan(GemmMapping g, CudaDataType dType, CublasLtEpilogue epilogue, CuDevicePtr bias, string op)
    {
        var plan = new Plan
        {
            Desc = CublasLt.MatmulDescCreate(CublasComputeType.Compute32F, CudaDataType.R32F),
            A = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.ARows, g.ACols, g.Lda),
            B = CublasLt.MatrixLayoutCreate(CudaDataType.R16BF, g.BRows, g.BCols, g.Ldb),
            D = CublasLt.MatrixLayoutCreate(dType, g.DRows, g.DCols, g.Ldd),
            Op = op,
            Shape = GemmDispatch.DescribeShape(g, dType, epilogue),
        };
        CublasLt.SetTranspose(plan.Desc, g.TransA, g.TransB);
        CublasLt.SetEpilogue(plan.Desc, epilogue, bias);
        QueryAlgorithms(plan, op);
        return plan;
    }

    /// <summary>
    /// Asks cuBLASLt's heuristic for <paramref name="plan"/>'s algorithms (C = D): sets HeuristicStatus and Algorithms
    /// (empty when the heuristic refuses the shape); any other failure throws, naming the op and shape.
    /// </summary>
    private void QueryAlgorithms(Plan plan, string op)
    {
        var preference = CublasLt.PreferenceCreate(WorkspaceBytes);
        try
        {
            var (status, results) = CublasLt.TryHeuristic(_handle, plan.Desc, plan.A, plan.B, plan.D, plan.D, preference,
                GemmDispatch.HeuristicCandidates);
            if (status != CublasStatus.CUBLAS_STATUS_SUCCESS && !GemmDispatch.IsRefusal(status))
                CublasLt.Check(status, "cublasLtMatmulAlgoGetHeuristic", $"{op} {plan.Shape}");
            plan.HeuristicStatus = status;
            // A result whose state is not SUCCESS is a slot the heuristic could not fill: not an algorithm.
            plan.Algorithms = results.Where(r => r.State == CublasStatus.CUBLAS_STATUS_SUCCESS).ToArray();
        }
        finally
        {
            CublasLt.PreferenceDestroy(preference);
        }
    }

    public void Dispose()
    {
        DestroyPlans(_plans);
        DestroyPlans(_gatedPlans);
        DestroyPlans(_fp8Plans);
        DestroyPlans(_batchPlans);
        CublasLt.Destroy(_handle);
        _pool.Return(_workspace);
    }
}
