using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Layers;

/// <summary>
/// diffusers <c>AdaLayerNormZero</c> (and, for dual attention, <c>SD35AdaLayerNormZeroX</c>):
/// <c>linear(SiLU(temb))</c> chunked as shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
/// [, shift_msa2, scale_msa2, gate_msa2]; the input is LayerNorm'd (no affine, eps 1e-6) and modulated.
/// </summary>
public sealed class AdaLayerNormZero
{
    public const int ShiftMsa = 0, ScaleMsa = 1, GateMsa = 2, ShiftMlp = 3, ScaleMlp = 4, GateMlp = 5,
        ShiftMsa2 = 6, ScaleMsa2 = 7, GateMsa2 = 8;

    private readonly LinearLayer _linear;
    private readonly int _chunks;

    public AdaLayerNormZero(WeightReader w, int dim, bool dualAttention = false)
    {
        _chunks = dualAttention ? 9 : 6;
        _linear = LinearLayer.Load(w, "linear", dim, _chunks * dim);
    }

    /// <summary>Returns the modulation chunks and the normalised input for the attention branch
    /// (and for the second attention when dual).</summary>
    /// <param name="siluTemb">SiLU(temb) [B, D], computed once per forward and shared by every block.</param>
    public (Modulation Mod, Tensor Normed, Tensor? Normed2) Forward(Tensor x, Tensor siluTemb)
    {
        var mod = new Modulation(_linear.Forward(siluTemb), _chunks);
        IBackend be = x.Backend;
        if (_chunks == 6)
            return (mod, be.LayerNormModulate(x, 1e-6f, mod[ScaleMsa], mod[ShiftMsa]), null); // one pass (issue 16)
        // Dual attention (SD3.5): one LayerNorm, modulated twice.
        Tensor ln = be.LayerNorm(x, 1e-6f);
        return (mod, be.Modulate(ln, mod[ScaleMsa], mod[ShiftMsa]), be.Modulate(ln, mod[ScaleMsa2], mod[ShiftMsa2]));
    }

    /// <summary>The modulation chunks alone (no LayerNorm of the input): what a block that reuses cached outputs needs.</summary>
    public Modulation Chunks(Tensor siluTemb) => new(_linear.Forward(siluTemb), _chunks);
}
