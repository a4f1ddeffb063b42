using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// The residual-path ops of issue 16, as the reference defines them: the unfused ops composed. In fp32 there is nothing to
/// round between the product (or the norm) and the gated add, so the composition is exactly what the fused device kernels
/// approximate with one bf16 rounding of the sum.
/// </summary>
public sealed partial class CpuBackend
{
    public void LinearAddGatedInPlace(Tensor residual, Tensor x, Tensor weight, Tensor? bias, Tensor? gate)
    {
        RequireLinearResidual(residual, x, weight);
        AddGatedInPlace(residual, Linear(x, weight, bias), gate);
    }

    public void RmsNormAddTanhGatedInPlace(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate)
    {
        ArgumentNullException.ThrowIfNull(gate);
        RequireSameShape(residual, y, "RmsNormAddTanhGatedInPlace");
        AddGatedInPlace(residual, RmsNorm(y, eps, weight), Activate(gate, Activation.Tanh));
    }

    public Tensor RmsNormAddTanhGatedThenModulate(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate,
        float modulateEps, Tensor? modulateWeight, Tensor? scale, Tensor? shift)
    {
        RmsNormAddTanhGatedInPlace(residual, y, eps, weight, gate);
        return RmsNormModulate(residual, modulateEps, modulateWeight, scale, shift);
    }

    /// <summary>The residual must have the product's shape: x's leading dimensions and the weight's N outputs.</summary>
    internal static void RequireLinearResidual(Tensor residual, Tensor x, Tensor weight)
    {
        if (weight.Shape.Rank != 2 || x.Shape.Rank == 0 || x.Shape.Last != weight.Shape[1])
            throw new ArgumentException($"LinearAddGatedInPlace: input {x.Shape} does not fit weight {weight.Shape}.");
        int[] dims = x.Shape.ToArray();
        dims[^1] = weight.Shape[0];
        if (residual.Shape != new Shape(dims))
            throw new ArgumentException($"LinearAddGatedInPlace: residual {residual.Shape} is not the product's shape {new Shape(dims)}.");
    }
}
