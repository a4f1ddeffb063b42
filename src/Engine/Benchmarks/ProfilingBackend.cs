using System.Diagnostics;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Benchmarks;

/// <summary>Time and FLOPs one op name accumulated in a profiling pass.</summary>
public sealed record OpProfile(string Op, int Calls, double Milliseconds, double Flops);

/// <summary>
/// A decorator that times every op (wall time between a synchronisation before and one after it) and counts the
/// FLOPs of the matmul-like ops from their shapes. Synchronising around each op serialises the device, so the totals
/// are larger than an unprofiled forward's time: `accelaes bench` uses it only for the per-op breakdown and the FLOP
/// count, in a pass separate from the timed runs. Works on any backend (the CPU is synchronous already).
/// </summary>
public sealed class ProfilingBackend : DelegatingBackend
{
    private readonly Action _synchronize;
    private readonly Dictionary<string, (int Calls, double Ms, double Flops)> _ops = new(StringComparer.Ordinal);
    private double _pendingFlops;

    public ProfilingBackend(IBackend inner) : base(inner)
    {
        _synchronize = inner is CudaBackend cuda ? cuda.Synchronize : () => { };
    }

    /// <summary>False while the ops of a phase that should not be counted run (model construction, input upload).</summary>
    public bool Recording { get; set; } = true;

    /// <summary>Ops by total time, largest first.</summary>
    public IReadOnlyList<OpProfile> Profile =>
        _ops.Select(kv => new OpProfile(kv.Key, kv.Value.Calls, kv.Value.Ms, kv.Value.Flops)).OrderByDescending(p => p.Milliseconds).ToList();

    /// <summary>FLOPs counted since the last <see cref="Reset"/>.</summary>
    public double TotalFlops => _ops.Values.Sum(v => v.Flops);

    public void Reset() => _ops.Clear();

    protected override T Call<T>(string op, Func<T> run)
    {
        if (!Recording) return run();
        _synchronize();
        long start = Stopwatch.GetTimestamp();
        T result = run();
        _synchronize();
        Record(op, Stopwatch.GetElapsedTime(start).TotalMilliseconds, TakePendingFlops());
        return result;
    }

    protected override void Call(string op, Action run)
    {
        if (!Recording)
        {
            run();
            return;
        }
        _synchronize();
        long start = Stopwatch.GetTimestamp();
        run();
        _synchronize();
        // LinearInto and AttentionInto are in-place matmuls: their FLOPs were set by BeforeMatmul (0 for the others).
        Record(op, Stopwatch.GetElapsedTime(start).TotalMilliseconds, TakePendingFlops());
    }

    /// <summary>The FLOPs <see cref="BeforeMatmul"/> computed for the call that just ran (0 for other ops).</summary>
    private double TakePendingFlops()
    {
        double f = _pendingFlops;
        _pendingFlops = 0;
        return f;
    }

    private void Record(string op, double ms, double flops)
    {
        _ops.TryGetValue(op, out var v);
        _ops[op] = (v.Calls + 1, v.Ms + ms, v.Flops + flops);
    }

    /// <summary>
    /// FLOPs of the matmul about to run, from its operand shapes: a GEMM is 2·M·N·K; attention 2·B·H·Sq·Sk·(D + Dv)
    /// (QKᵀ and P·V; FlashAttention's 4·B·H·Sq·Sk·D when Dv = D).
    /// </summary>
    protected override void BeforeMatmul(string op, Shape a, Shape b, Shape? c)
    {
        if (!Recording) return;
        _pendingFlops = op switch
        {
            // x [..., K] · weight [N, K]ᵀ
            nameof(Linear) => 2.0 * a.Rows * b[0] * a.Last,
            // q [B, Sq, H, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv]
            nameof(Attention) or nameof(AttentionWithAffinity) => 2.0 * a[0] * a[2] * a[1] * b[1] * (a[3] + (c ?? b)[3]),
            // x [B, Cin, H, W] with weight [Cout, Cin, kh, kw]; the output size is taken as H×W (stride 1, same padding:
            // the VAE's convs), an over-estimate for strided ones, which a transformer benchmark does not run.
            nameof(Conv2d) => 2.0 * a[0] * a[2] * a[3] * b[0] * b[1] * b[2] * b[3],
            _ => 0,
        };
    }
}
