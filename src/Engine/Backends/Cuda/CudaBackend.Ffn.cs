using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>The FFN-path fusions of issue 16 (ffn.cu): bf16 in and out, fp32 arithmetic, one rounding per output.</summary>
public sealed partial class CudaBackend
{
    /// <summary>silu_mul_bf16: SiLU(gate half) ⊙ up half of a [..., 2F] GEMM output, one pass.</summary>
    public Tensor SiluMul(Tensor gateAndUp)
    {
        int f = CpuBackend.SiluMulHalfWidth(gateAndUp);
        var cx = Float(gateAndUp, "SiluMul");
        using var op = Enter("SiluMul", gateAndUp);
        int[] dims = gateAndUp.Shape.ToArray();
        dims[^1] = f;
        var y = New(new Shape(dims), DType.BF16);
        ulong n = (ulong)y.ElementCount;
        if (n == 0)
            return y;
        var x = Bf16(cx);
        bool vec = f % 8 == 0 && Aligned16(x.Pointer, y.Pointer);
        Elementwise("silu_mul_bf16", n, x.Pointer, y.Pointer, n / (ulong)f, (ulong)f, vec);
        return y;
    }

    /// <summary>add_scaled_bf16: a + b ⊙ scale (scale broadcast over the leading dimensions), one pass.</summary>
    public Tensor AddScaled(Tensor a, Tensor b, Tensor scale)
    {
        RequireSameShape(a, b, "AddScaled");
        int inner = RequireTrailing(b, scale, "AddScaled");
        var (ca, cb, cs) = (Float(a, "AddScaled"), Float(b, "AddScaled"), Float(scale, "AddScaled"));
        using var op = Enter("AddScaled", a, b, scale);
        var y = New(a.Shape, DType.BF16);
        ulong n = (ulong)y.ElementCount;
        if (n == 0)
            return y;
        var (xa, xb, xs) = (Bf16(ca), Bf16(cb), Bf16(cs));
        bool vec = inner % 8 == 0 && Aligned16(xa.Pointer, xb.Pointer, xs.Pointer, y.Pointer);
        Elementwise("add_scaled_bf16", n, xa.Pointer, xb.Pointer, xs.Pointer, y.Pointer, n, (ulong)inner, vec);
        return y;
    }

    /// <summary>Whether every pointer allows 16-byte vector accesses (pool blocks do; a view at an offset may not).</summary>
    internal static bool Aligned16(params ReadOnlySpan<CuDevicePtr> pointers)
    {
        foreach (var p in pointers)
            if (p.Address % 16 != 0)
                return false;
        return true;
    }
}
