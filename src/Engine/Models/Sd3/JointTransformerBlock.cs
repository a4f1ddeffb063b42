using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Sd3;

/// <summary>
/// diffusers <c>JointTransformerBlock</c> (attention.py): the MMDiT block with separate image and text weights
/// and one joint attention. The last SD3 block is <c>context_pre_only</c> (text is only used as keys/values,
/// its norm is an <c>AdaLayerNormContinuous</c>, it has no text MLP); SD3.5's MMDiT-X blocks add a second,
/// image-only attention (<c>attn2</c>) modulated by the 7th–9th adaLN chunks.
/// </summary>
public sealed class JointTransformerBlock
{
    private readonly AdaLayerNormZero _norm1;
    private readonly AdaLayerNormZero? _norm1Context;
    private readonly AdaLayerNormContinuous? _norm1ContextPreOnly;
    private readonly JointAttention _attn;
    private readonly JointAttention? _attn2;
    private readonly FeedForward _ff;
    private readonly FeedForward? _ffContext;

    public JointTransformerBlock(WeightReader w, int dim, int heads, int headDim, bool contextPreOnly, bool qkNorm, bool dualAttention)
    {
        ContextPreOnly = contextPreOnly;
        _norm1 = new AdaLayerNormZero(w.Scope("norm1"), dim, dualAttention);
        if (contextPreOnly) _norm1ContextPreOnly = new AdaLayerNormContinuous(w.Scope("norm1_context"), dim, dim);
        else _norm1Context = new AdaLayerNormZero(w.Scope("norm1_context"), dim);
        _attn = new JointAttention(w.Scope("attn"), dim, heads, headDim, joint: true, contextPreOnly, qkNorm);
        if (dualAttention)
            _attn2 = new JointAttention(w.Scope("attn2"), dim, heads, headDim, joint: false, contextPreOnly: false, qkNorm);
        _ff = new FeedForward(w.Scope("ff"), dim, 4 * dim);
        if (!contextPreOnly) _ffContext = new FeedForward(w.Scope("ff_context"), dim, 4 * dim);
    }

    public bool ContextPreOnly { get; }

    /// <summary>SkipSparse cache of the image MLP output (before the gate), [B, N, D]; none with <c>sparse_ffn</c> off.</summary>
    public const string FeedForwardCache = "ff";

    /// <summary>Updates image tokens <paramref name="x"/> in place and returns the new text tokens (null after a context_pre_only block).</summary>
    /// <param name="sparse">AccelAes state of this forward (null: plain dense forward). On sparse steps the image
    /// stream's attention queries and MLP run on focus tokens only (the MLP on every token when
    /// <see cref="SparseForward.SparseFeedForward"/> is off); the text stream always runs in full.</param>
    /// <param name="layer">This block's index (cache and capture-layer key).</param>
    public Tensor? Forward(Tensor x, Tensor context, Tensor siluTemb, SparseForward? sparse = null, int layer = 0)
    {
        IBackend be = x.Backend;
        var (mod, normed, normed2) = _norm1.Forward(x, siluTemb);
        Modulation? cmod = null;
        Tensor normedContext;
        if (_norm1Context is not null)
        {
            (cmod, normedContext, _) = _norm1Context.Forward(context, siluTemb);
        }
        else
        {
            normedContext = _norm1ContextPreOnly!.Forward(context, siluTemb);
        }

        var (attnImage, attnText) = _attn.Forward(normed, normedContext, sparse, layer, "attn");
        be.AddGatedInPlace(x, attnImage, mod[AdaLayerNormZero.GateMsa]);
        if (_attn2 is not null)
        {
            var (attn2, _) = _attn2.Forward(normed2!, null, sparse, layer, "attn2");
            be.AddGatedInPlace(x, attn2, mod[AdaLayerNormZero.GateMsa2]);
        }
        Tensor ffIn = be.LayerNormModulate(x, 1e-6f, mod[AdaLayerNormZero.ScaleMlp], mod[AdaLayerNormZero.ShiftMlp]);
        be.AddGatedInPlace(x, SparseRows.FeedForward(sparse, layer, FeedForwardCache, ffIn, _ff.Forward), mod[AdaLayerNormZero.GateMlp]);

        if (ContextPreOnly) return null;
        be.AddGatedInPlace(context, attnText!, cmod![AdaLayerNormZero.GateMsa]);
        Tensor ctxIn = be.LayerNormModulate(context, 1e-6f, cmod[AdaLayerNormZero.ScaleMlp], cmod[AdaLayerNormZero.ShiftMlp]);
        be.AddGatedInPlace(context, _ffContext!.Forward(ctxIn), cmod[AdaLayerNormZero.GateMlp]);
        return context;
    }
}
