using AccelAes.Engine.Acceleration.Fora;
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
    /// <param name="outputs">FORA's cache (null without FORA): a computing step stores this block's attention, second
    /// attention (dual-attention blocks) and MLP outputs of the image stream and the attention and MLP outputs of the text
    /// stream (before their gates); a reusing step adds the stored ones through this step's gates.</param>
    public Tensor? Forward(Tensor x, Tensor context, Tensor siluTemb, SparseForward? sparse = null, int layer = 0, BlockOutputCache? outputs = null)
    {
        IBackend be = x.Backend;
        if (outputs is { Reusing: true }) return ReuseOutputs(x, context, siluTemb, outputs, layer);
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

        // RAS steps (KeyValues) resolve keys and values through their per-layer cache: they take the unfused path.
        if (outputs is null && sparse is not ({ IsSparse: true } or { WritesCaches: true }) && sparse?.KeyValues is null)
            return ForwardGatedEpilogues(x, context, normed, normed2, normedContext, mod, cmod, sparse, layer);

        var (attnImage, attnText) = _attn.Forward(normed, normedContext, sparse, layer, "attn");
        be.AddGatedInPlace(x, attnImage, mod[AdaLayerNormZero.GateMsa]);
        outputs?.Store(layer, ForaAttention, attnImage);
        if (_attn2 is not null)
        {
            var (attn2, _) = _attn2.Forward(normed2!, null, sparse, layer, "attn2");
            be.AddGatedInPlace(x, attn2, mod[AdaLayerNormZero.GateMsa2]);
            outputs?.Store(layer, ForaAttention2, attn2);
        }
        Tensor ffIn = be.LayerNormModulate(x, 1e-6f, mod[AdaLayerNormZero.ScaleMlp], mod[AdaLayerNormZero.ShiftMlp]);
        Tensor ff = SparseRows.FeedForward(sparse, layer, FeedForwardCache, ffIn, _ff.Forward);
        be.AddGatedInPlace(x, ff, mod[AdaLayerNormZero.GateMlp]);
        outputs?.Store(layer, ForaFeedForward, ff);

        if (ContextPreOnly) return null;
        be.AddGatedInPlace(context, attnText!, cmod![AdaLayerNormZero.GateMsa]);
        Tensor ctxIn = be.LayerNormModulate(context, 1e-6f, cmod[AdaLayerNormZero.ScaleMlp], cmod[AdaLayerNormZero.ShiftMlp]);
        Tensor ffContext = _ffContext!.Forward(ctxIn);
        be.AddGatedInPlace(context, ffContext, cmod[AdaLayerNormZero.GateMlp]);
        outputs?.Store(layer, ForaAttentionContext, attnText!);
        outputs?.Store(layer, ForaFeedForwardContext, ffContext);
        return context;
    }

    /// <summary>
    /// A dense step whose branch outputs no cache keeps: every gated residual is its projection's GEMM epilogue (to_out,
    /// attn2's to_out, ff.net.2, to_add_out, ff_context.net.2; issue 16), the branch outputs never stored. The text
    /// stream's attention update moves before the image FFN: the two streams' residuals are independent.
    /// </summary>
    private Tensor? ForwardGatedEpilogues(Tensor x, Tensor context, Tensor normed, Tensor? normed2, Tensor normedContext,
        Modulation mod, Modulation? cmod, SparseForward? sparse, int layer)
    {
        IBackend be = x.Backend;
        // Every gate's epilogue vectors in one op (issue 16: one launch per block for four gates, two for SD3.5's five).
        var entries = new List<(Tensor Gate, Tensor? Bias)>
        {
            _attn.ImageOutput.GateEntry(mod[AdaLayerNormZero.GateMsa]), _ff.Output.GateEntry(mod[AdaLayerNormZero.GateMlp]),
        };
        if (_attn2 is not null) entries.Add(_attn2.ImageOutput.GateEntry(mod[AdaLayerNormZero.GateMsa2]));
        if (!ContextPreOnly)
        {
            entries.Add(_attn.TextOutput!.GateEntry(cmod![AdaLayerNormZero.GateMsa]));
            entries.Add(_ffContext!.Output.GateEntry(cmod[AdaLayerNormZero.GateMlp]));
        }
        var gates = be.PrepareGates(entries);
        _attn.ForwardAddGated(x, ContextPreOnly ? null : context, normed, normedContext, gates[0], ContextPreOnly ? null : gates[^2], sparse, layer);
        if (_attn2 is not null)
            _attn2.ForwardAddGated(x, null, normed2!, null, gates[2], null, sparse, layer);
        _ff.ForwardAddPreparedGate(x, be.LayerNormModulate(x, 1e-6f, mod[AdaLayerNormZero.ScaleMlp], mod[AdaLayerNormZero.ShiftMlp]), gates[1]);
        if (ContextPreOnly) return null;
        _ffContext!.ForwardAddPreparedGate(context, be.LayerNormModulate(context, 1e-6f, cmod![AdaLayerNormZero.ScaleMlp], cmod[AdaLayerNormZero.ShiftMlp]),
            gates[^1]);
        return context;
    }

    /// <summary><c>norm1(x, temb)[0]</c>: LayerNorm(x)·(1 + scale_msa) + shift_msa, the image input of this block's attention.</summary>
    public Tensor ModulatedImageInput(Tensor x, Tensor siluTemb) => _norm1.Forward(x, siluTemb).Normed;

    // FORA's cached outputs of this block (pre-gate).
    private const string ForaAttention = "fora_attn", ForaAttention2 = "fora_attn2", ForaFeedForward = "fora_ff",
        ForaAttentionContext = "fora_attn_context", ForaFeedForwardContext = "fora_ff_context";

    /// <summary>
    /// FORA's reusing step (official <c>x = x + gate_msa·cache_attn; x = x + gate_mlp·cache_mlp</c>): only the adaLN
    /// modulation runs. A context_pre_only block's text stream ends here, as in the computing step.
    /// </summary>
    private Tensor? ReuseOutputs(Tensor x, Tensor context, Tensor siluTemb, BlockOutputCache outputs, int layer)
    {
        IBackend be = x.Backend;
        Modulation mod = _norm1.Chunks(siluTemb);
        be.AddGatedInPlace(x, outputs.Get(layer, ForaAttention), mod[AdaLayerNormZero.GateMsa]);
        if (_attn2 is not null) be.AddGatedInPlace(x, outputs.Get(layer, ForaAttention2), mod[AdaLayerNormZero.GateMsa2]);
        be.AddGatedInPlace(x, outputs.Get(layer, ForaFeedForward), mod[AdaLayerNormZero.GateMlp]);
        if (ContextPreOnly) return null;
        Modulation cmod = _norm1Context!.Chunks(siluTemb);
        be.AddGatedInPlace(context, outputs.Get(layer, ForaAttentionContext), cmod[AdaLayerNormZero.GateMsa]);
        be.AddGatedInPlace(context, outputs.Get(layer, ForaFeedForwardContext), cmod[AdaLayerNormZero.GateMlp]);
        return context;
    }
}
