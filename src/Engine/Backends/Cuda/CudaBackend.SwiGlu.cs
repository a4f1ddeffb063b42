using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>One shape's choice of <see cref="SwiGluGemm.Auto"/>: both paths timed on the card, the faster kept.</summary>
/// <param name="FusedMs">Median time of gemm_swiglu_bf16 (ms).</param>
/// <param name="SplitMs">Median time of the GEMM of N = 2F plus silu_mul (ms).</param>
public sealed record SwiGluDecision(int M, int K, int F, double FusedMs, double SplitMs, bool Fused)
{
    public string Describe() =>
        $"SwiGLU [M {M}, K {K}, F {F}]: fused {FusedMs:F3} ms, split {SplitMs:F3} ms → {(Fused ? "fused" : "split")}";
}

/// <summary>
/// SwiGLU's gate-and-up projection with its gating (issue 16, Fusion 11): one tensor-core GEMM with a SiLU·mul epilogue
/// (gemm_swiglu.cu), or the split path (the GEMM of N = 2F through cuBLASLt or gemm.cu, then silu_mul_bf16), chosen by
/// <see cref="CudaBackendOptions.SwiGluGemm"/>.
/// </summary>
/// <remarks>
/// Where the fused kernel cannot serve, the split path runs and the reason is counted (<see cref="SwiGluFallbacks"/>): K or
/// a row not 16-byte aligned (K % 8 ≠ 0, a pointer off 16 bytes), more rows than its grid holds, or an fp8 weight the FP8
/// GEMM reads (<c>--fp8-gemm</c>: the kernel has no fp8 operand; an fp8 weight that would be dequantised anyway is
/// dequantised for the kernel as for the bf16 GEMM). Auto with cuBLASLt times both paths on the card at the first call
/// of a shape (M, K, F) outside a graph capture (events on the stream, one warm-up and the median of five, into scratch
/// outputs) and keeps the faster for that shape (<see cref="SwiGluDecisions"/>); a capture that meets a shape with no
/// decision yet runs the split path (timing waits for the device, which a capture cannot) and decides nothing.
/// </remarks>
public sealed partial class CudaBackend
{
    private const int SwiGluRowsPerCta = 128, SwiGluFeaturesPerCta = 64, SwiGluThreads = 256, SwiGluMaxRowTiles = 65535;
    private const uint SwiGluSharedBytes = 3 * (128 + 2 * 64) * (32 + 8) * 2; // gemm_swiglu.cu: 3 stages of x and W tiles
    private const int SwiGluTimingWarmup = 1, SwiGluTimingRepeats = 5;

    private readonly Dictionary<(int M, int K, int F), SwiGluDecision> _swiGluDecisions = [];
    private readonly Dictionary<string, long> _swiGluFallbacks = new(StringComparer.Ordinal);

    /// <summary>LinearSwiGlu calls the fused kernel served so far.</summary>
    public long FusedSwiGluCount { get; private set; }

    /// <summary>LinearSwiGlu calls the split path served so far (chosen, or a fallback).</summary>
    public long SplitSwiGluCount { get; private set; }

    /// <summary>The shapes <see cref="SwiGluGemm.Auto"/> timed, in order, with both times and the choice.</summary>
    public IReadOnlyList<SwiGluDecision> SwiGluDecisions => [.. _swiGluDecisions.Values];

    /// <summary>Calls the fused kernel could not serve, by reason (the split path ran them).</summary>
    public IReadOnlyDictionary<string, long> SwiGluFallbacks => _swiGluFallbacks;

    public Tensor LinearSwiGlu(Tensor x, Tensor gateUpWeight)
    {
        const string name = "LinearSwiGlu";
        CpuBackend.RequireSwiGluWeight(gateUpWeight, name);
        var (cx, cw, _, m, n, k) = CheckLinear(x, gateUpWeight, null);
        int f = n / 2;
        using var op = Enter(name, x, gateUpWeight);
        // K = 0 (m is 0 then) and the refusals: Linear and SiluMul as before the fusion (zeros for K = 0, as Linear writes).
        if (m == 0)
            return SplitSwiGlu(x, gateUpWeight);
        if (SwiGluRefusal(cx, cw, m, k) is { } refusal)
        {
            if (Options.SwiGluGemm != SwiGluGemm.Split)
                _swiGluFallbacks[refusal] = _swiGluFallbacks.GetValueOrDefault(refusal) + 1;
            return SplitSwiGlu(x, gateUpWeight);
        }
        int[] dims = x.Shape.ToArray();
        dims[^1] = f;
        var y = New(new Shape(dims), DType.BF16);
        if (y.ElementCount == 0)
            return y;
        var (bx, bw) = (Bf16(cx), Bf16(cw));
        if (ChooseFusedSwiGlu(bx, bw, m, k, f))
        {
            FusedSwiGluCount++;
            LaunchSwiGlu(bx.Pointer, bw.Pointer, y.Pointer, m, f, k);
        }
        else
        {
            SplitSwiGluCount++;
            SplitSwiGluTo(bx, bw, Temporary(new Shape(m, n), DType.BF16).Pointer, y.Pointer, m, f, k);
        }
        return y;
    }

    /// <summary>Why the fused kernel cannot serve this call, or null (the split path needs none of these).</summary>
    private string? SwiGluRefusal(CudaTensor x, CudaTensor w, int m, int k)
    {
        if (Options.SwiGluGemm == SwiGluGemm.Split)
            return "--swiglu-gemm split";
        if (w.DType == DType.F8E4M3 && UsesFp8Gemm)
            return "fp8 weight on the FP8 GEMM";
        if (k % 8 != 0)
            return "K not a multiple of 8";
        if (LaunchConfig.CeilDiv(m, SwiGluRowsPerCta) > SwiGluMaxRowTiles)
            return $"more than {SwiGluMaxRowTiles * SwiGluRowsPerCta} rows";
        // A dequantised fp8 weight or a converted fp32 input is a fresh (aligned) pool block; these are the operands as held.
        bool xAligned = x.DType != DType.BF16 || Aligned16(x.Pointer);
        bool wAligned = w.DType != DType.BF16 || Aligned16(w.Pointer);
        return xAligned && wAligned ? null : "operand not 16-byte aligned";
    }

    /// <summary>
    /// Fused or split for a call the kernel can serve: the knob, or for Auto without cuBLASLt the kernel (a tensor-core GEMM
    /// against gemm.cu's CUDA cores), with cuBLASLt the shape's timed decision (made now when there is none and no capture runs).
    /// </summary>
    private bool ChooseFusedSwiGlu(CudaTensor x, CudaTensor w, int m, int k, int f)
    {
        if (Options.SwiGluGemm == SwiGluGemm.Fused || _gemm is null)
            return true;
        if (_swiGluDecisions.TryGetValue((m, k, f), out var decided))
            return decided.Fused;
        if (IsCapturing)
            return false;
        var output = Temporary(new Shape(m, f), DType.BF16);
        var gateAndUp = Temporary(new Shape(m, 2 * f), DType.BF16);
        double fused = MeasureMilliseconds(() => LaunchSwiGlu(x.Pointer, w.Pointer, output.Pointer, m, f, k), SwiGluTimingWarmup, SwiGluTimingRepeats);
        double split = MeasureMilliseconds(() => SplitSwiGluTo(x, w, gateAndUp.Pointer, output.Pointer, m, f, k), SwiGluTimingWarmup, SwiGluTimingRepeats);
        var decision = new SwiGluDecision(m, k, f, fused, split, fused <= split);
        _swiGluDecisions[(m, k, f)] = decision;
        return decision.Fused;
    }

    /// <summary>gemm_swiglu_bf16 over x [m, k] (rows <paramref name="ldx"/> elements apart; dense: k), w [2f, k] and out [m, f] (rows <paramref name="ldo"/> apart; dense: f).</summary>
    private void LaunchSwiGlu(CuDevicePtr x, CuDevicePtr w, CuDevicePtr y, int m, int f, int k, long? ldx = null, long? ldo = null) =>
        Launch("gemm_swiglu_bf16", new Dim3((uint)LaunchConfig.CeilDiv(f, SwiGluFeaturesPerCta), (uint)LaunchConfig.CeilDiv(m, SwiGluRowsPerCta)),
            SwiGluThreads, SwiGluSharedBytes, x, w, y, m, f, k, ldx ?? k, ldo ?? f);

    /// <summary>
    /// The fused kernel over row views (tests of its strides; no op reads row views yet): x [m, ≥ k] with rows
    /// <paramref name="ldx"/> elements apart (a multiple of 8), out [m, ≥ f] with rows <paramref name="ldo"/> apart (any).
    /// </summary>
    internal void LinearSwiGluRows(Tensor x, long ldx, Tensor gateUpWeight, Tensor output, long ldo)
    {
        var (cx, cw, cy) = (Own(x), Own(gateUpWeight), Own(output));
        int k = gateUpWeight.Shape[1], f = gateUpWeight.Shape[0] / 2, m = x.Shape.Rows;
        if (cx.DType != DType.BF16 || cw.DType != DType.BF16 || cy.DType != DType.BF16 || ldx % 8 != 0 || k % 8 != 0 || ldx < k || ldo < f
            || x.Shape.Last != ldx || output.Shape.Last != ldo || output.Shape.Rows != m || !Aligned16(cx.Pointer, cw.Pointer))
            throw new ArgumentException($"LinearSwiGluRows: x {x.Shape} (ldx {ldx}), weight {gateUpWeight.Shape}, out {output.Shape} (ldo {ldo}) is not a bf16 row view the kernel reads.");
        using var op = Enter("LinearSwiGluRows", x, gateUpWeight, output);
        LaunchSwiGlu(cx.Pointer, cw.Pointer, cy.Pointer, m, f, k, ldx, ldo);
    }

    /// <summary>The split path into given buffers: the GEMM of N = 2F into <paramref name="gateAndUp"/> [m, 2f], then silu_mul into y.</summary>
    private void SplitSwiGluTo(CudaTensor x, CudaTensor w, CuDevicePtr gateAndUp, CuDevicePtr y, int m, int f, int k)
    {
        LinearTo(x, w, null, Activation.None, gateAndUp, 2L * f, m, 2 * f, k, "LinearSwiGlu");
        ulong count = (ulong)m * (ulong)f;
        Elementwise("silu_mul_bf16", count, gateAndUp, y, (ulong)m, (ulong)f, f % 8 == 0 && Aligned16(gateAndUp, y));
    }

    /// <summary>The split path as ops (fp8 weights take the FP8 GEMM where it is on, K = 0 writes zeros): Linear, then SiluMul.</summary>
    private Tensor SplitSwiGlu(Tensor x, Tensor gateUpWeight)
    {
        SplitSwiGluCount++;
        using var gateAndUp = Linear(x, gateUpWeight, null);
        return SiluMul(gateAndUp);
    }
}
