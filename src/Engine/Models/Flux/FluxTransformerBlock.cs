using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// diffusers <c>FluxTransformerBlock</c>: the double-stream (MMDiT) block. Image and text tokens keep separate
/// weights (<c>norm1</c> / <c>norm1_context</c>, <c>ff</c> / <c>ff_context</c>) and meet in one joint attention over
/// [text, image]. Both modulations are <c>AdaLayerNormZero</c> (shift, scale, gate × 2); <c>norm2</c> and
/// <c>norm2_context</c> are LayerNorm without affine, eps 1e-6.
/// </summary>
public sealed class FluxTransformerBlock
{
    private readonly AdaLayerNormZero _norm1;
    private readonly AdaLayerNormZero _norm1Context;
    private readonly FluxAttention _attn;
    private readonly FeedForward _ff;
    private readonly FeedForward _ffContext;

    public FluxTransformerBlock(WeightReader w, int dim, int heads, int headDim)
    {
        _norm1 = new AdaLayerNormZero(w.Scope("norm1"), dim);
        _norm1Context = new AdaLayerNormZero(w.Scope("norm1_context"), dim);
        _attn = new FluxAttention(w.Scope("attn"), dim, heads, headDim, joint: true, preOnly: false);
        _ff = new FeedForward(w.Scope("ff"), dim, 4 * dim);
        _ffContext = new FeedForward(w.Scope("ff_context"), dim, 4 * dim);
    }

    /// <summary>Updates <paramref name="image"/> [B, N, D] and <paramref name="text"/> [B, L, D] in place.</summary>
    public void Forward(Tensor image, Tensor text, Tensor siluTemb, FluxRotaryTable rope)
    {
        IBackend be = image.Backend;
        var (mod, normedImage, _) = _norm1.Forward(image, siluTemb);
        var (cmod, normedText, _) = _norm1Context.Forward(text, siluTemb);

        var (attnImage, attnText) = _attn.Forward(normedImage, normedText, rope);

        be.AddGatedInPlace(image, attnImage, mod[AdaLayerNormZero.GateMsa]);
        Tensor ffIn = be.Modulate(be.LayerNorm(image, 1e-6f), mod[AdaLayerNormZero.ScaleMlp], mod[AdaLayerNormZero.ShiftMlp]);
        be.AddGatedInPlace(image, _ff.Forward(ffIn), mod[AdaLayerNormZero.GateMlp]);

        be.AddGatedInPlace(text, attnText, cmod[AdaLayerNormZero.GateMsa]);
        Tensor ctxIn = be.Modulate(be.LayerNorm(text, 1e-6f), cmod[AdaLayerNormZero.ScaleMlp], cmod[AdaLayerNormZero.ShiftMlp]);
        be.AddGatedInPlace(text, _ffContext.Forward(ctxIn), cmod[AdaLayerNormZero.GateMlp]);
    }
}
