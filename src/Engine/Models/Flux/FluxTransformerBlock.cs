using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// diffusers <c>FluxTransformerBlock</c>: the double-stream (MMDiT) block. Image and text tokens keep separate
/// weights (<c>norm1</c> / <c>norm1_context</c>, <c>ff</c> / <c>ff_context</c>) and meet in one joint attention over
/// [text, image]. Both modulations are <c>AdaLayerNormZero</c> (shift, scale, gate × 2), their Linears joined into one
/// GEMM (<see cref="AdaLayerNormZeroPair"/>); <c>norm2</c> and
/// <c>norm2_context</c> are LayerNorm without affine, eps 1e-6.
/// </summary>
public sealed class FluxTransformerBlock
{
    private readonly AdaLayerNormZeroPair _norm1; // norm1 and norm1_context, one GEMM
    private readonly FluxAttention _attn;
    private readonly FeedForward _ff;
    private readonly FeedForward _ffContext;

    public FluxTransformerBlock(WeightReader w, int dim, int heads, int headDim)
    {
        _norm1 = new AdaLayerNormZeroPair(w.Scope("norm1"), w.Scope("norm1_context"), dim);
        _attn = new FluxAttention(w.Scope("attn"), dim, heads, headDim, joint: true, preOnly: false);
        _ff = new FeedForward(w.Scope("ff"), dim, 4 * dim);
        _ffContext = new FeedForward(w.Scope("ff_context"), dim, 4 * dim);
    }

    /// <summary>SkipSparse cache of the image feed-forward output (before the gate), [B, N, D]; none with <c>sparse_ffn</c> off.</summary>
    public const string FeedForwardCache = "ff";

    /// <summary>
    /// <c>norm1(image, temb)[0]</c>: LayerNorm(image)·(1 + scale_msa) + shift_msa, the image input of this block's
    /// attention (TeaCache's signal, taken from block 0 without running the block).
    /// </summary>
    public Tensor ModulatedImageInput(Tensor image, Tensor siluTemb) => _norm1.ModulatedImageInput(image, siluTemb);

    /// <summary>Updates <paramref name="image"/> [B, N, D] and <paramref name="text"/> [B, L, D] in place.</summary>
    /// <param name="sparse">AccelAes state of this forward (null: plain dense forward). Capture step: this block's joint
    /// attention feeds AesMask if <paramref name="layer"/> is a capture layer. Fill step: the image attention output and
    /// the image FFN output become caches. Sparse step: the image stream's attention queries and FFN run on focus tokens
    /// only (background rows from the caches); keys/values come from every token; the text stream always runs in full.
    /// With <see cref="SparseForward.SparseFeedForward"/> off the image FFN runs on every token and has no cache.</param>
    /// <param name="layer">This block's index among the double-stream blocks (capture layer and cache key).</param>
    /// <param name="queries">The sparse forward's query rows (required on a sparse step).</param>
    /// <param name="outputs">FORA's cache (null without FORA): a computing step stores the four attention and MLP outputs
    /// (image and text, before their gates) under <paramref name="layer"/>; a reusing step adds the stored ones through
    /// this step's gates and runs neither attention nor MLP.</param>
    public void Forward(Tensor image, Tensor text, Tensor siluTemb, FluxRotaryTable rope,
        SparseForward? sparse = null, int layer = 0, FluxQueryRows? queries = null, BlockOutputCache? outputs = null)
    {
        IBackend be = image.Backend;
        if (outputs is { Reusing: true })
        {
            ReuseOutputs(image, text, siluTemb, outputs, layer);
            return;
        }
        var (mod, normedImage, cmod, normedText) = _norm1.Forward(image, text, siluTemb);
        if (outputs is null && sparse is not ({ IsSparse: true } or { WritesCaches: true }))
        {
            // Dense step, no cache keeps a branch output: each gated residual is its projection's GEMM epilogue (issue 16),
            // the four gates' epilogue vectors made in one op. The text stream's update moves before the image FFN: the two
            // streams' residuals are independent.
            var gates = be.PrepareGates([
                _attn.ImageOutput.GateEntry(mod[AdaLayerNormZero.GateMsa]), _attn.TextOutput.GateEntry(cmod[AdaLayerNormZero.GateMsa]),
                _ff.Output.GateEntry(mod[AdaLayerNormZero.GateMlp]), _ffContext.Output.GateEntry(cmod[AdaLayerNormZero.GateMlp])]);
            _attn.ForwardAddGated(image, text, normedImage, normedText, rope, gates[0], gates[1], sparse, layer);
            _ff.ForwardAddPreparedGate(image, be.LayerNormModulate(image, 1e-6f, mod[AdaLayerNormZero.ScaleMlp], mod[AdaLayerNormZero.ShiftMlp]), gates[2]);
            _ffContext.ForwardAddPreparedGate(text, be.LayerNormModulate(text, 1e-6f, cmod[AdaLayerNormZero.ScaleMlp], cmod[AdaLayerNormZero.ShiftMlp]),
                gates[3]);
            return;
        }

        var (attnImage, attnText) = _attn.Forward(normedImage, normedText, rope, sparse, layer, queries);

        be.AddGatedInPlace(image, attnImage, mod[AdaLayerNormZero.GateMsa]);
        Tensor ffIn = be.LayerNormModulate(image, 1e-6f, mod[AdaLayerNormZero.ScaleMlp], mod[AdaLayerNormZero.ShiftMlp]);
        Tensor ffImage = SparseRows.FeedForward(sparse, layer, FeedForwardCache, ffIn, _ff.Forward);
        be.AddGatedInPlace(image, ffImage, mod[AdaLayerNormZero.GateMlp]);

        be.AddGatedInPlace(text, attnText, cmod[AdaLayerNormZero.GateMsa]);
        Tensor ctxIn = be.LayerNormModulate(text, 1e-6f, cmod[AdaLayerNormZero.ScaleMlp], cmod[AdaLayerNormZero.ShiftMlp]);
        Tensor ffText = _ffContext.Forward(ctxIn);
        be.AddGatedInPlace(text, ffText, cmod[AdaLayerNormZero.GateMlp]);

        if (outputs is null) return;
        outputs.Store(layer, ForaAttention, attnImage);
        outputs.Store(layer, ForaFeedForward, ffImage);
        outputs.Store(layer, ForaAttentionContext, attnText);
        outputs.Store(layer, ForaFeedForwardContext, ffText);
    }

    // FORA's cached outputs of this block (pre-gate), image and text stream.
    private const string ForaAttention = "fora_attn", ForaFeedForward = "fora_ff",
        ForaAttentionContext = "fora_attn_context", ForaFeedForwardContext = "fora_ff_context";

    /// <summary>
    /// FORA's reusing step (official <c>x = x + gate_msa·cache_attn; x = x + gate_mlp·cache_mlp</c>): only the adaLN
    /// modulation runs, so the gates follow this step's timestep while attention and MLP outputs come from the cache.
    /// </summary>
    private void ReuseOutputs(Tensor image, Tensor text, Tensor siluTemb, BlockOutputCache outputs, int layer)
    {
        IBackend be = image.Backend;
        var (mod, cmod) = _norm1.Modulations(siluTemb);
        be.AddGatedInPlace(image, outputs.Get(layer, ForaAttention), mod[AdaLayerNormZero.GateMsa]);
        be.AddGatedInPlace(image, outputs.Get(layer, ForaFeedForward), mod[AdaLayerNormZero.GateMlp]);
        be.AddGatedInPlace(text, outputs.Get(layer, ForaAttentionContext), cmod[AdaLayerNormZero.GateMsa]);
        be.AddGatedInPlace(text, outputs.Get(layer, ForaFeedForwardContext), cmod[AdaLayerNormZero.GateMlp]);
    }
}
