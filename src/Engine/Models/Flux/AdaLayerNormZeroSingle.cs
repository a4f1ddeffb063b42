using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// diffusers <c>AdaLayerNormZeroSingle</c> (the norm of FLUX's single-stream blocks): <c>linear(SiLU(temb))</c>
/// chunked as <b>shift, scale, gate</b> (3 chunks, not AdaLayerNormZero's 6; architectures.md §0.1), then
/// <c>LN(x)·(1 + scale) + shift</c> with LayerNorm(no affine, eps 1e-6).
/// </summary>
public sealed class AdaLayerNormZeroSingle
{
    public const int Shift = 0, Scale = 1, Gate = 2;

    private readonly LinearLayer _linear;

    public AdaLayerNormZeroSingle(WeightReader w, int dim)
        => _linear = LinearLayer.Load(w, "linear", dim, 3 * dim);

    /// <param name="siluTemb">SiLU(temb) [B, D], shared by every block.</param>
    /// <returns>The modulated input and the gate [B, D] of the block's residual.</returns>
    public (Tensor Normed, Tensor Gate) Forward(Tensor x, Tensor siluTemb)
    {
        var mod = new Modulation(_linear.Forward(siluTemb), 3);
        IBackend be = x.Backend;
        Tensor normed = be.LayerNormModulate(x, 1e-6f, scale: mod[Scale], shift: mod[Shift]);
        return (normed, mod[Gate]);
    }

    /// <summary>The gate alone (no LayerNorm of the input): what a block that reuses its cached output needs.</summary>
    public Tensor GateOnly(Tensor siluTemb) => new Modulation(_linear.Forward(siluTemb), 3)[Gate];
}
