using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None)
    {
        var cx = C(x);
        var cw = C(weight);
        RequireRank(weight, 2, "Linear", "weight");
        int n = weight.Shape[0], k = weight.Shape[1];
        if (x.Shape.Last != k)
            throw new ArgumentException($"Linear: input {x.Shape} has {x.Shape.Last} features, weight {weight.Shape} expects {k}.");
        if (bias is not null && (bias.Shape.Rank != 1 || bias.Shape[0] != n))
            throw new ArgumentException($"Linear: bias {bias.Shape} does not match {n} outputs.");

        int m = x.Shape.Rows;
        int[] dims = x.Shape.ToArray();
        dims[^1] = n;
        var y = New(new Shape(dims));
        CpuGemm.MatMulTransposedB(m, n, k, cx.Data, k, cw.Data, k, y.Data, n,
            bias is null ? default : C(bias).Span);
        if (activation != Activation.None)
            ApplyActivation(y.Span, y.Span, activation);
        return y;
    }
}
