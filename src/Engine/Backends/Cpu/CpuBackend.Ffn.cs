using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// The FFN-path fusions of issue 16, as references: each computes exactly what the unfused ops it replaces computed on
/// this backend (the same fp32 operations in the same order), so a model switched over gives the same CPU numbers.
/// </summary>
public sealed partial class CpuBackend
{
    /// <summary>SiLU of the gate half (<see cref="ApplyActivation"/>'s SiLU), then the product with the up half.</summary>
    public Tensor SiluMul(Tensor gateAndUp)
    {
        int f = SiluMulHalfWidth(gateAndUp);
        var src = C(gateAndUp);
        int[] dims = gateAndUp.Shape.ToArray();
        dims[^1] = f;
        var y = New(new Shape(dims));
        float[] xd = src.Data, yd = y.Data;
        int rows = f == 0 ? 0 : y.ElementCount / f;
        CpuParallel.For(rows, 2L * f, r =>
        {
            var row = yd.AsSpan(r * f, f);
            ApplyActivation(xd.AsSpan(2 * r * f, f), row, Activation.Silu);
            TensorPrimitives.Multiply(row, xd.AsSpan(2 * r * f + f, f), row);
        });
        return y;
    }

    /// <summary>b ⊙ scale rounded to fp32, then a + that: the Multiply and Add this op replaces.</summary>
    public Tensor AddScaled(Tensor a, Tensor b, Tensor scale)
    {
        RequireSameShape(a, b, "AddScaled");
        int inner = RequireTrailing(b, scale, "AddScaled");
        float[] ad = C(a).Data, bd = C(b).Data, sd = C(scale).Data;
        var y = New(a.Shape);
        float[] yd = y.Data;
        int outer = inner == 0 ? 0 : a.ElementCount / inner;
        CpuParallel.For(outer, 2L * inner, o =>
        {
            var row = yd.AsSpan(o * inner, inner);
            TensorPrimitives.Multiply(bd.AsSpan(o * inner, inner), sd.AsSpan(0, inner), row);
            TensorPrimitives.Add(ad.AsSpan(o * inner, inner), row, row);
        });
        return y;
    }

    /// <summary>F, half of the last dimension (which must be even and the tensor of rank ≥ 1).</summary>
    internal static int SiluMulHalfWidth(Tensor gateAndUp)
    {
        if (gateAndUp.Shape.Rank == 0 || gateAndUp.Shape.Last % 2 != 0)
            throw new ArgumentException($"SiluMul: the last dimension of {gateAndUp.Shape} must hold the gate and up halves (an even size).");
        return gateAndUp.Shape.Last / 2;
    }
}
