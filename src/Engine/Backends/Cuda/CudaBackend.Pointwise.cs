using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>act(x); F32 in → F32 out, otherwise BF16.</summary>
    public Tensor Activate(Tensor x, Activation activation)
    {
        var cx = Float(x, "Activate");
        if (!Enum.IsDefined(activation))
            throw new ArgumentOutOfRangeException(nameof(activation), activation, null);
        using var op = Enter("Activate", x);
        var y = New(x.Shape, cx.DType);
        ulong n = (ulong)x.ElementCount;
        Elementwise(cx.DType == DType.F32 ? "activate_f32" : "activate_bf16", n, cx.Pointer, y.Pointer, n, (int)activation);
        return y;
    }

    /// <summary>a + b (b broadcast over a's leading dimensions); F32 when both are F32, otherwise BF16.</summary>
    public Tensor Add(Tensor a, Tensor b) => Broadcast(a, b, "Add", "add_broadcast");

    /// <summary>a ⊙ b (b broadcast over a's leading dimensions); F32 when both are F32, otherwise BF16.</summary>
    public Tensor Multiply(Tensor a, Tensor b) => Broadcast(a, b, "Multiply", "mul_broadcast");

    private Tensor Broadcast(Tensor a, Tensor b, string name, string kernel)
    {
        int inner = RequireTrailing(a, b, name);
        var ca = Float(a, name);
        var cb = Float(b, name);
        using var op = Enter(name, a, b);
        bool f32 = ca.DType == DType.F32 && cb.DType == DType.F32;
        var y = New(a.Shape, f32 ? DType.F32 : DType.BF16);
        ulong n = (ulong)a.ElementCount;
        if (n == 0)
            return y;
        if (f32)
            Elementwise(kernel + "_f32", n, ca.Pointer, cb.Pointer, y.Pointer, n, (ulong)inner);
        else
            Elementwise(kernel + "_bf16", n, Bf16(ca).Pointer, Bf16(cb).Pointer, y.Pointer, n, (ulong)inner);
        return y;
    }

    /// <summary>Checks that b's shape is a trailing part of a's and returns b's element count.</summary>
    private static int RequireTrailing(Tensor a, Tensor b, string op)
    {
        if (b.Shape.Rank > a.Shape.Rank || !a.Shape.Dims[(a.Shape.Rank - b.Shape.Rank)..].SequenceEqual(b.Shape.Dims))
            throw new ArgumentException($"{op}: {b.Shape} is not a trailing part of {a.Shape}.");
        return b.ElementCount;
    }

    /// <summary>x·s; F32 in → F32 out (so <c>Scale(latents, 1)</c> is an exact fp32 copy), otherwise BF16.</summary>
    public Tensor Scale(Tensor x, float s)
    {
        var cx = Float(x, "Scale");
        using var op = Enter("Scale", x);
        var y = New(x.Shape, cx.DType);
        ulong n = (ulong)x.ElementCount;
        Elementwise(cx.DType == DType.F32 ? "scale_f32" : "scale_bf16", n, cx.Pointer, y.Pointer, s, n);
        return y;
    }

    /// <summary>ReLU (x &lt; 0 → 0; NaN and −0 pass through, as torch.relu); F32 in → F32 out, otherwise BF16.</summary>
    public Tensor Relu(Tensor x)
    {
        var cx = Float(x, "Relu");
        using var op = Enter("Relu", x);
        var y = New(x.Shape, cx.DType);
        ulong n = (ulong)x.ElementCount;
        Elementwise(cx.DType == DType.F32 ? "relu_f32" : "relu_bf16", n, cx.Pointer, y.Pointer, n);
        return y;
    }

    public Tensor Softmax(Tensor x)
    {
        int d = x.Shape.Last;
        var cx = Float(x, "Softmax");
        using var op = Enter("Softmax", x);
        var y = New(x.Shape, DType.BF16);
        ulong rows = (ulong)x.Shape.Rows;
        Launch("softmax_bf16", LaunchConfig.RowGrid(rows), (uint)LaunchConfig.RowBlock(d), 0, Bf16(cx).Pointer, y.Pointer, rows, d);
        return y;
    }
}
