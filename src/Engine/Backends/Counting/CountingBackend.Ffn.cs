using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

/// <summary>The counting rules of the FFN-path fusions (CudaBackend.Ffn.cs, ffn.cu).</summary>
public sealed partial class CountingBackend
{
    /// <summary>silu_mul_bf16: the [.., 2F] input read once (2 bytes per element), the [.., F] output written once.</summary>
    public Tensor SiluMul(Tensor gateAndUp)
    {
        const string op = "SiluMul";
        int f = CpuBackend.SiluMulHalfWidth(gateAndUp);
        var cx = C(gateAndUp, op);
        int[] dims = gateAndUp.Shape.ToArray();
        dims[^1] = f;
        var y = New(new Shape(dims), DType.BF16, op);
        if (y.ElementCount == 0) return y;
        ToBf16(op, cx);
        Kernel(op, "silu_mul_bf16", y.ElementCount, 2L * cx.ElementCount, 2L * y.ElementCount);
        return y;
    }

    /// <summary>add_scaled_bf16: a and b read, the broadcast scale read once, the output written once.</summary>
    public Tensor AddScaled(Tensor a, Tensor b, Tensor scale)
    {
        const string op = "AddScaled";
        var (ca, cb, cs) = (C(a, op), C(b, op), C(scale, op));
        if (a.Shape != b.Shape) throw new ArgumentException($"AddScaled: shapes {a.Shape} and {b.Shape} differ.");
        var y = New(a.Shape, DType.BF16, op);
        if (y.ElementCount == 0) return y;
        ToBf16(op, ca);
        ToBf16(op, cb);
        ToBf16(op, cs);
        Kernel(op, "add_scaled_bf16", y.ElementCount, 2L * (ca.ElementCount + cb.ElementCount + cs.ElementCount), 2L * y.ElementCount);
        return y;
    }
}
