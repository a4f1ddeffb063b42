using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// The residual path of issue 16: a gated residual add folded into the op before it, so the residual is read and written
/// once, by that op, and the product (or the normalised row) is never stored.
/// </summary>
public sealed partial class CudaBackend
{
    /// <summary>
    /// Gated-residual calls that ran as GEMM + add_gated_bf16 because cuBLASLt had no algorithm for the gated epilogue
    /// (each such shape is also reported once in <see cref="Warnings"/>). Calls without cuBLASLt (gemm.cu's fused entry)
    /// are not counted: they are fused.
    /// </summary>
    public int GatedResidualFallbacks { get; private set; }

    /// <summary>
    /// residual [B, S, N] += gate[b] ⊙ (x·Wᵀ + bias). cuBLASLt: <c>gated_epilogue_vectors</c> makes the fp32 alpha vector
    /// (the gate) and the bf16 bias pre-multiplied by it, then one strided-batch matmul with C = D = residual, β = 1
    /// (<see cref="CublasLtGemm.TryGatedResidual"/>): D = bf16(g·acc + r + bf16(g·bias)) — the sum rounded once, the
    /// gated bias rounded to bf16 before it as cuBLASLt's bias type requires. No gate: alpha 1, the bias as it is, no
    /// vectors. When cuBLASLt has no algorithm for it: the product into a temporary (Linear's path) and add_gated_bf16,
    /// counted in <see cref="GatedResidualFallbacks"/>. Without cuBLASLt: gemm.cu's <c>gemm_bf16_add_gated</c>, one launch,
    /// bf16(r + g·(acc + bias)). An fp32 residual or K = 0: Linear then AddGatedInPlace.
    /// </summary>
    public void LinearAddGatedInPlace(Tensor residual, Tensor x, Tensor weight, Tensor? bias, Tensor? gate)
        => LinearAddGated(residual, x, weight, bias, gate, prepared: null);

    /// <summary>The gated projection; <paramref name="prepared"/>: the gate's epilogue vectors from <see cref="PrepareGates"/> (null: made here).</summary>
    private void LinearAddGated(Tensor residual, Tensor x, Tensor weight, Tensor? bias, Tensor? gate, CudaGateVectors? prepared)
    {
        CpuBackend.RequireLinearResidual(residual, x, weight);
        var (cx, cw, cb, m, n, k) = CheckLinear(x, weight, bias);
        var cr = Float(residual, "LinearAddGatedInPlace");
        int batch = 1, seq = m;
        CudaTensor? g = null;
        if (gate is not null)
        {
            RequireRank(residual, 3, "LinearAddGatedInPlace", "residual");
            (batch, seq) = (residual.Shape[0], residual.Shape[1]);
            g = OptionalPerBatch(gate, batch, n, "LinearAddGatedInPlace gate");
        }
        using var op = Enter("LinearAddGatedInPlace", residual, x, weight);
        if (residual.ElementCount == 0)
            return;
        if (cr.DType != DType.BF16 || m == 0)
        {
            using var product = Linear(x, weight, bias);
            AddGatedInPlace(residual, product, gate);
            return;
        }
        var xb = Bf16(cx);
        var wb = Bf16(cw);
        var bb = cb is null ? null : Bf16(cb);
        var gb = g is null ? null : Bf16(g);
        if (_gemm is null)
        {
            if (LaunchConfig.CeilDiv(m, 64) > 65535)
                throw new NotSupportedException($"gemm.cu: {m} rows exceed its grid limit ({65535 * 64}).");
            Launch("gemm_bf16_add_gated", new Dim3((uint)LaunchConfig.CeilDiv(n, 64), (uint)LaunchConfig.CeilDiv(m, 64)), 256, 0,
                xb.Pointer, wb.Pointer, cr.Pointer, PointerOf(bb), PointerOf(gb), m, n, k, (long)k, 1L, (long)k, 1L, (long)n, (long)seq);
            return;
        }
        var mapping = GemmMapping.ForLinear(seq, n, k);
        if (_gemm.CanRunGatedResidual(mapping, batch, gb is not null, bb is not null, "LinearAddGatedInPlace"))
        {
            var (alpha, scaledBias) = gb is null ? (default(CuDevicePtr), PointerOf(bb)) : GateVectors(gb, bb, batch, n, prepared);
            if (_gemm.TryGatedResidual(mapping, batch, wb.Pointer, xb.Pointer, cr.Pointer, alpha, scaledBias, "LinearAddGatedInPlace"))
                return;
        }
        // The note was written once per shape by the planner; every call that lands here is counted.
        GatedResidualFallbacks++;
        var y = Temporary(new Shape(m, n), DType.BF16);
        LinearTo(xb, wb, bb, Activation.None, y.Pointer, n, m, n, k, "LinearAddGatedInPlace");
        ulong elements = (ulong)m * (ulong)n;
        Elementwise("add_gated_bf16", elements, cr.Pointer, y.Pointer, PointerOf(gb), elements,
            gb is null ? 1UL : (ulong)seq * (ulong)n, gb is null ? 1 : n);
    }

    /// <summary>
    /// rmsnorm_add_tanh_gated_bf16 (residual.cu): residual += tanh(gate[b]) ⊙ RMSNorm(y, eps, weight), one row kernel, the
    /// normalised row and tanh kept in fp32 and the sum rounded once. An fp32 residual: the three ops composed.
    /// </summary>
    public void RmsNormAddTanhGatedInPlace(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate)
    {
        ArgumentNullException.ThrowIfNull(gate);
        RequireSameShape(residual, y, "RmsNormAddTanhGatedInPlace");
        RequireRank(residual, 3, "RmsNormAddTanhGatedInPlace", "residual");
        int batch = residual.Shape[0], seq = residual.Shape[1], d = residual.Shape[2];
        var cr = Float(residual, "RmsNormAddTanhGatedInPlace");
        var cy = Float(y, "RmsNormAddTanhGatedInPlace");
        var w = OptionalVector(weight, d, "RmsNorm weight");
        var g = OptionalPerBatch(gate, batch, d, "RmsNormAddTanhGatedInPlace gate")!;
        using var op = Enter("RmsNormAddTanhGatedInPlace", residual, y, gate);
        ulong rows = (ulong)residual.Shape.Rows;
        if (rows == 0 || d == 0)
            return;
        if (cr.DType != DType.BF16)
        {
            AddGatedInPlace(residual, RmsNorm(y, eps, weight), Activate(gate, Activation.Tanh));
            return;
        }
        bool vec = d % 8 == 0;
        Launch("rmsnorm_add_tanh_gated_bf16", LaunchConfig.RowGrid(rows), (uint)LaunchConfig.RowBlock(d, vec ? 8 : 1), 0,
            cr.Pointer, Bf16(cy).Pointer, PointerOf(w is null ? null : Bf16(w)), Bf16(g).Pointer, rows, (ulong)seq, d, eps, vec);
    }

    /// <summary>
    /// rmsnorm_add_tanh_gated_modulate_bf16 (residual.cu): <see cref="RmsNormAddTanhGatedInPlace"/> and the RmsNormModulate of
    /// the updated rows in one row kernel; the statistics are taken from the rows as stored (bf16), so the output is the
    /// two kernels' (the residual's second read is the block's own writes, from L1/L2). An fp32 residual: the two ops.
    /// </summary>
    public Tensor RmsNormAddTanhGatedThenModulate(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate,
        float modulateEps, Tensor? modulateWeight, Tensor? scale, Tensor? shift)
    {
        ArgumentNullException.ThrowIfNull(gate);
        RequireSameShape(residual, y, "RmsNormAddTanhGatedThenModulate");
        RequireRank(residual, 3, "RmsNormAddTanhGatedThenModulate", "residual");
        int batch = residual.Shape[0], seq = residual.Shape[1], d = residual.Shape[2];
        var cr = Float(residual, "RmsNormAddTanhGatedThenModulate");
        var cy = Float(y, "RmsNormAddTanhGatedThenModulate");
        var w = OptionalVector(weight, d, "RmsNorm weight");
        var g = OptionalPerBatch(gate, batch, d, "RmsNormAddTanhGatedInPlace gate")!;
        var w2 = OptionalVector(modulateWeight, d, "RmsNorm weight");
        var sc = OptionalPerBatch(scale, batch, d, "Modulate scale");
        var sh = OptionalPerBatch(shift, batch, d, "Modulate shift");
        using var op = Enter("RmsNormAddTanhGatedThenModulate", residual, y, gate);
        if (cr.DType != DType.BF16)
        {
            RmsNormAddTanhGatedInPlace(residual, y, eps, weight, gate);
            return RmsNormModulate(residual, modulateEps, modulateWeight, scale, shift);
        }
        var output = New(residual.Shape, DType.BF16);
        ulong rows = (ulong)residual.Shape.Rows;
        if (rows == 0 || d == 0)
            return output;
        bool vec = d % 8 == 0;
        Launch("rmsnorm_add_tanh_gated_modulate_bf16", LaunchConfig.RowGrid(rows), (uint)LaunchConfig.RowBlock(d, vec ? 8 : 1), 0,
            cr.Pointer, Bf16(cy).Pointer, PointerOf(w is null ? null : Bf16(w)), Bf16(g).Pointer, PointerOf(w2 is null ? null : Bf16(w2)),
            PointerOf(sc is null ? null : Bf16(sc)), PointerOf(sh is null ? null : Bf16(sh)), output.Pointer, rows, (ulong)seq, d, eps,
            modulateEps, vec);
        return output;
    }
}
