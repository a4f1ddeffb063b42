using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>Applies a step's guidance scale (uniform or a spatial map over the latent grid) to CFG outputs [B, C, H, W].</summary>
public static class GuidanceMaps
{
    public static Tensor Combine(Tensor uncond, Tensor cond, GuidanceScaleMap scale)
    {
        IBackend be = cond.Backend;
        if (scale.IsUniform) return be.GuidanceCombine(uncond, cond, scale.Uniform);
        if (cond.Shape.Rank != 4 || cond.Shape[2] != scale.Height || cond.Shape[3] != scale.Width)
            throw new InvalidOperationException($"A {scale.Height}×{scale.Width} guidance map does not fit outputs {cond.Shape}.");
        return be.GuidanceCombine(uncond, cond, be.Upload(scale.Map, new Shape(scale.Height, scale.Width)));
    }
}
