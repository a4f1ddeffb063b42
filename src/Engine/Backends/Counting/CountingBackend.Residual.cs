using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

/// <summary>The counting rules of the residual-path ops (issue 16), as CudaBackend.Residual.cs runs them.</summary>
public sealed partial class CountingBackend
{
    /// <summary>
    /// cuBLASLt with a gate: <c>gated_epilogue_vectors</c> (reads the gate [B, N] and the bias [N], writes the fp32 alpha
    /// vector and, with a bias, the bf16 gated bias [B, N]), then one matmul whose operands are x, W, the gated bias and
    /// C = the residual (read), writing the residual. Without a gate: the matmul alone, with the bias as it is. gemm.cu: one
    /// launch, <c>gemm_bf16_add_gated</c>, reading the gate and bias itself. An fp32 residual or K = 0: Linear, then
    /// AddGatedInPlace (the heuristic's answer is not known here: a fallback at run time is not counted).
    /// </summary>
    public void LinearAddGatedInPlace(Tensor residual, Tensor x, Tensor weight, Tensor? bias, Tensor? gate)
        => LinearAddGated(residual, x, weight, bias, gate, prepared: false);

    /// <summary>The rule; <paramref name="prepared"/>: the gate vectors were made by <see cref="PrepareGates"/> (not counted here).</summary>
    private void LinearAddGated(Tensor residual, Tensor x, Tensor weight, Tensor? bias, Tensor? gate, bool prepared)
    {
        const string op = "LinearAddGatedInPlace";
        CpuBackend.RequireLinearResidual(residual, x, weight);
        var (cr, cx, cw, cb, cg) = (C(residual, op), C(x, op), C(weight, op), Optional(bias, op), Optional(gate, op));
        long m = x.Shape.Rows, n = weight.Shape[0], k = weight.Shape[1];
        if (cr.ElementCount == 0) return;
        if (cr.DType != DType.BF16 || k == 0)
        {
            AddGatedInPlace(residual, Linear(x, weight, bias), gate);
            return;
        }
        ToBf16(op, cx);
        ToBf16(op, cw);
        ToBf16(op, cb);
        ToBf16(op, cg);
        long gates = cg?.ElementCount ?? 0;
        double flops = 2.0 * m * n * k;
        if (GemmEngine == CountedGemmEngine.GemmCu)
        {
            Ledger.Add(op, "gemm_bf16_add_gated", TrafficKind.Gemm, 2 * m * k + 2 * n * k + Bf16Bytes(cb) + 2 * gates + 2 * m * n, 2 * m * n, flops, 1);
            return;
        }
        long biasBytes = Bf16Bytes(cb);
        if (cg is not null)
        {
            if (!prepared) Kernel(op, "gated_epilogue_vectors", gates, 2 * gates + biasBytes, 4 * gates + (cb is null ? 0 : 2 * gates));
            biasBytes = cb is null ? 0 : 2 * gates;
        }
        Ledger.Add(op, "cuBLASLt matmul (gated residual)", TrafficKind.Gemm, 2 * m * k + 2 * n * k + biasBytes + 4 * gates + 2 * m * n,
            2 * m * n, flops, 1);
    }

    /// <summary>
    /// rmsnorm_add_tanh_gated_modulate_bf16: as <see cref="RmsNormAddTanhGatedInPlace"/>, plus the second weight, scale and
    /// shift read and the modulated rows written (the updated row's second read is its own writes: counted once, as the
    /// row kernels' re-reads are). An fp32 residual: the two ops.
    /// </summary>
    public Tensor RmsNormAddTanhGatedThenModulate(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate,
        float modulateEps, Tensor? modulateWeight, Tensor? scale, Tensor? shift)
    {
        const string op = "RmsNormAddTanhGatedThenModulate";
        var (cr, cy, cw, cg) = (C(residual, op), C(y, op), Optional(weight, op), C(gate, op));
        var (cw2, sc, sh) = (Optional(modulateWeight, op), Optional(scale, op), Optional(shift, op));
        if (residual.Shape != y.Shape) throw new ArgumentException($"{op}: shapes {residual.Shape} and {y.Shape} differ.");
        if (cr.DType != DType.BF16)
        {
            RmsNormAddTanhGatedInPlace(residual, y, eps, weight, gate);
            return RmsNormModulate(residual, modulateEps, modulateWeight, scale, shift);
        }
        var output = New(residual.Shape, DType.BF16, op);
        foreach (var t in new[] { cy, cw, cg, cw2, sc, sh })
            ToBf16(op, t);
        Kernel(op, "rmsnorm_add_tanh_gated_modulate_bf16", residual.Shape.Rows,
            2L * cr.ElementCount + 2L * cy.ElementCount + Bf16Bytes(cw) + Bf16Bytes(cg) + Bf16Bytes(cw2) + Bf16Bytes(sc) + Bf16Bytes(sh),
            2L * cr.ElementCount + 2L * output.ElementCount);
        return output;
    }

    /// <summary>rmsnorm_add_tanh_gated_bf16: one row kernel reading y, the residual, the gate and the weight, writing the residual.</summary>
    public void RmsNormAddTanhGatedInPlace(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate)
    {
        const string op = "RmsNormAddTanhGatedInPlace";
        var (cr, cy, cw, cg) = (C(residual, op), C(y, op), Optional(weight, op), C(gate, op));
        if (residual.Shape != y.Shape) throw new ArgumentException($"{op}: shapes {residual.Shape} and {y.Shape} differ.");
        if (cr.DType != DType.BF16)
        {
            AddGatedInPlace(residual, RmsNorm(y, eps, weight), Activate(gate, Activation.Tanh));
            return;
        }
        ToBf16(op, cy);
        ToBf16(op, cw);
        ToBf16(op, cg);
        Kernel(op, "rmsnorm_add_tanh_gated_bf16", residual.Shape.Rows, 2L * cr.ElementCount + 2L * cy.ElementCount + Bf16Bytes(cw) + Bf16Bytes(cg),
            2L * cr.ElementCount);
    }
}
