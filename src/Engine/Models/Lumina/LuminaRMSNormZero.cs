using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// diffusers <c>LuminaRMSNormZero</c>: <c>linear(SiLU(temb))</c> [B, 4·D] from the min(D, 1024)-wide conditioning,
/// chunked as <b>scale_msa, gate_msa, scale_mlp, gate_mlp</b> — there is no shift (architectures.md pitfall 1) —
/// and the input RMS-normalised (weight <c>norm.weight</c>, eps norm_eps) and scaled by (1 + scale_msa).
/// </summary>
public sealed class LuminaRMSNormZero
{
    public const int ScaleMsa = 0, GateMsa = 1, ScaleMlp = 2, GateMlp = 3;

    private readonly LinearLayer _linear;
    private readonly Tensor _normWeight;
    private readonly float _eps;

    public LuminaRMSNormZero(WeightReader w, int embeddingDim, int conditioningDim, float eps)
    {
        _linear = LinearLayer.Load(w, "linear", conditioningDim, 4 * embeddingDim);
        _normWeight = w.Get("norm.weight", embeddingDim);
        _eps = eps;
    }

    /// <param name="siluTemb">SiLU(temb) [B, min(D, 1024)], computed once per forward and shared by every layer.</param>
    /// <param name="pending">The previous layer's residual update of <paramref name="x"/>, not yet applied (null: x is
    /// complete): applied here, in the norm's own row kernel.</param>
    /// <returns>The modulation chunks and RMSNorm(x)·(1 + scale_msa).</returns>
    public (Modulation Mod, Tensor Normed) Forward(Tensor x, Tensor siluTemb, PendingResidual? pending = null)
    {
        var mod = new Modulation(_linear.Forward(siluTemb), 4);
        Tensor normed = pending is null
            ? x.Backend.RmsNormModulate(x, _eps, _normWeight, mod[ScaleMsa], shift: null) // one pass (issue 16)
            : pending.ApplyThenModulate(x, _eps, _normWeight, mod[ScaleMsa]);     // and the layer boundary's residual too
        return (mod, normed);
    }

    /// <summary>The modulation chunks alone (no RMSNorm of the input): what a layer that reuses cached outputs needs.</summary>
    public Modulation Chunks(Tensor siluTemb) => new(_linear.Forward(siluTemb), 4);
}
