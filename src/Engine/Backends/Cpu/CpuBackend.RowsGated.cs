using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>Fusion 6 of issue 16: the gated projection over a row range, as the reference defines it.</summary>
public sealed partial class CpuBackend
{
    /// <summary>The reference: the slice, then the gated projection.</summary>
    public void LinearOfRowsAddGatedInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, Tensor? bias, Tensor? gate)
    {
        RequireRowsResidual(residual, x, start, count, weight);
        LinearAddGatedInPlace(residual, Slice(x, 1, start, count), weight, bias, gate);
    }

    /// <summary>
    /// The row range fits x [B, S, K] (<see cref="RowRange.Check"/>'s wording), the weight takes K inputs, and the residual is
    /// the product's shape [B, count, N]: one check for every backend.
    /// </summary>
    internal static void RequireRowsResidual(Tensor residual, Tensor x, int start, int count, Tensor weight)
    {
        const string op = "LinearOfRowsAddGatedInPlace";
        RowRange.Check(op, x, start, count);
        if (weight.Shape.Rank != 2 || x.Shape.Last != weight.Shape[1])
            throw new ArgumentException($"{op}: input {x.Shape} does not fit weight {weight.Shape}.");
        var product = new Shape(x.Shape[0], count, weight.Shape[0]);
        if (residual.Shape != product)
            throw new ArgumentException($"{op}: residual {residual.Shape} is not the product's shape {product}.");
    }
}
