using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Clip;

/// <summary>
/// <c>x / x.norm(p=2, dim=-1, keepdim=True)</c> on the backend: RMSNorm without weight or epsilon divides by
/// √(mean x²) = ‖x‖/√n, so scaling its result by 1/√n gives x/‖x‖ without a dedicated op. A zero row gives NaN, as
/// transformers' division does.
/// </summary>
public static class L2Normalize
{
    public static Tensor LastAxis(Tensor x)
    {
        IBackend be = x.Backend;
        int n = x.Shape[x.Shape.Rank - 1];
        return be.Scale(be.RmsNorm(x, 0f), (float)(1.0 / Math.Sqrt(n)));
    }
}
