using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// diffusers <c>LuminaNextDiTBlock</c> (lumina_nextdit2d.py):
/// <code>
/// xn, gate_msa, scale_mlp, gate_mlp = norm1(x, temb)                  # RMS·(1 + scale_msa), no shift
/// A_self  = attn1(xn, xn, RoPE on q and k, proportional scale)        # [B, N, H, hd], no out projection
/// A_cross = attn2(xn, norm1_context(y), RoPE on q only, caption key mask)
/// o = attn2.to_out.0( flatten(A_self + tanh(gate)[h] · A_cross) )     # shared output projection
/// x = x + tanh(gate_msa) · norm2(o)                                   # sandwich RMSNorm, tanh gate
/// x = x + tanh(gate_mlp) · ffn_norm2( feed_forward( ffn_norm1(x) · (1 + scale_mlp) ) )
/// </code>
/// All RMSNorms are diffusers <c>RMSNorm</c> with weights and eps norm_eps (architectures.md pitfall 6).
/// </summary>
public sealed class LuminaNextDiTBlock
{
    /// <summary>Cache of attn1's per-head output A_self [B, N, H·hd], before the sum with attn2 and <c>to_out</c>.</summary>
    public const string SelfAttentionCache = "attn1";

    /// <summary>Cache of the SwiGLU output [B, N, D], before <c>ffn_norm2</c> and the gate (none with <c>sparse_ffn</c> off).</summary>
    public const string FeedForwardCache = "ffn";

    private readonly LuminaRMSNormZero _norm1;
    private readonly LuminaAttention _attn1, _attn2;
    private readonly Tensor _crossGate; // tanh(gate) per head, broadcast to [H, hd] once at load (AddScaled's operand)
    private readonly Tensor _crossGatePerHead; // the same tanh(gate) [H], fp32 (the accumulating attention's head scale)
    private readonly Tensor _norm1Context, _norm2, _ffnNorm1, _ffnNorm2;
    private readonly LuminaFeedForward _feedForward;
    private readonly float _eps;

    public LuminaNextDiTBlock(WeightReader w, LuminaNextDiTConfig config)
    {
        int dim = config.HiddenSize, heads = config.NumAttentionHeads, headDim = config.HeadDim;
        _eps = (float)config.NormEps;
        float[] crossGate = TanhOfGate(w.Get("gate", heads));
        _crossGate = TanhPerHead(crossGate, w.Backend, headDim);
        _crossGatePerHead = w.Backend.Upload(crossGate, new Shape(heads));
        _attn2 = new LuminaAttention(w.Scope("attn2"), dim, config.CrossAttentionDim, heads, config.KvHeads, headDim, config.QkNorm, hasOutputProjection: true);
        _attn1 = new LuminaAttention(w.Scope("attn1"), dim, dim, heads, config.KvHeads, headDim, config.QkNorm, hasOutputProjection: false,
            selfAttention: true, queryTwin: _attn2);
        _feedForward = new LuminaFeedForward(w.Scope("feed_forward"), dim, config.FfnInnerDim);
        _norm1 = new LuminaRMSNormZero(w.Scope("norm1"), dim, config.ConditioningDim, _eps);
        _ffnNorm1 = w.Get("ffn_norm1.weight", dim);
        _norm2 = w.Get("norm2.weight", dim);
        _ffnNorm2 = w.Get("ffn_norm2.weight", dim);
        _norm1Context = w.Get("norm1_context.weight", config.CrossAttentionDim);
        SharesQuery = _attn1.HasSameQueryPath(_attn2);
    }

    /// <summary>
    /// attn2's query path holds the same values as attn1's (true for converted Lumina-Next checkpoints), so the
    /// cross-attention reuses the self-attention query instead of recomputing an identical D×D GEMM.
    /// </summary>
    public bool SharesQuery { get; }

    /// <summary>
    /// Updates <paramref name="x"/> [B, N, D] in place, all but the FFN's residual update, which it returns, pending
    /// (<see cref="PendingResidual"/>): the caller hands it to the next layer, whose norm1 applies it in its own row kernel,
    /// or applies it itself. Null (x complete) with <paramref name="outputs"/>: FORA / TaylorSeer cache the normed branch.
    /// </summary>
    /// <param name="rotary">RoPE table of the N image tokens.</param>
    /// <param name="captions">The generation's caption context (<see cref="LuminaNextDiT2DModel.PrepareCaptions"/>): this layer's
    /// attn2 keys and values, computed once, and the caption mask.</param>
    /// <param name="siluTemb">SiLU(temb) [B, min(D, 1024)].</param>
    /// <param name="baseSequenceLength">Proportional-attention base of attn1; null = plain scale.</param>
    /// <param name="sparse">AccelAes state of this forward (null: the plain dense forward, as is Full). Capture step:
    /// a capture layer's attn2 also reduces its probabilities for AesMask (output unchanged). Fill step: the dense
    /// forward, keeping A_self and the FFN output as this layer's caches. Sparse step: attn1 queries and the FFN run
    /// on focus tokens only, background rows from those caches (reference §2.1); attn2, every norm, modulation,
    /// gate and <c>to_out</c> stay dense, so stale background rows meet the current step's norms and gates. With
    /// <see cref="SparseForward.SparseFeedForward"/> off only attn1 is sparse: the FFN runs on every token and has no cache.</param>
    /// <param name="layer">This layer's index (cache and capture-layer key).</param>
    /// <param name="outputs">FORA / TaylorSeer cache (null without them): a computing step stores the attention branch
    /// norm2(to_out(…)) and the FFN branch ffn_norm2(ffn(…)) (before their tanh gates); a reusing step adds what the
    /// cache gives back through this step's gates and runs neither attention nor FFN.</param>
    /// <param name="incoming">The previous layer's pending residual update of <paramref name="x"/> (null: x is complete).</param>
    public PendingResidual? Forward(Tensor x, LuminaRotary rotary, LuminaCaptionContext captions, Tensor siluTemb, int? baseSequenceLength,
        SparseForward? sparse = null, int layer = 0, BlockOutputCache? outputs = null, PendingResidual? incoming = null)
    {
        IBackend be = x.Backend;
        if (outputs is { Reusing: true })
        {
            incoming?.Apply(x);
            Modulation m = _norm1.Chunks(siluTemb);
            be.AddGatedInPlace(x, outputs.Get(layer, ForaAttention), be.Activate(m[LuminaRMSNormZero.GateMsa], Activation.Tanh));
            be.AddGatedInPlace(x, outputs.Get(layer, ForaFeedForward), be.Activate(m[LuminaRMSNormZero.GateMlp], Activation.Tanh));
            return null;
        }
        int batch = x.Shape[0], n = x.Shape[1];
        var (mod, normed) = _norm1.Forward(x, siluTemb, incoming); // x is complete from here on

        // attn2 needs the query of every token (cross-attention stays dense), so it is computed in full even on
        // sparse steps; attn1 then takes its focus rows.
        QueryOnLoadInputs? onLoad = LoadsQueryNormalised(sparse, layer) ? _attn1.SelfInputsQueryOnLoad(normed, rotary) : null;
        PackedValueInputs? selfInputs = onLoad is null ? _attn1.SelfInputs(normed, rotary) : null;
        Tensor selfAttn = onLoad is not null ? _attn1.AttendQueryOnLoad(onLoad, baseSequenceLength)
            : SelfAttention(selfInputs!, baseSequenceLength, sparse, layer);

        Tensor mixed;
        if (onLoad is not null)
        {
            _attn2.AttendAddScaledInto(selfAttn, _crossGatePerHead, onLoad.Query, captions.For(this, layer), baseSequenceLength);
            mixed = selfAttn;
        }
        else
        {
            Tensor crossQuery = SharesQuery ? selfInputs!.Q : _attn2.Query(normed, rotary);
            mixed = MixCrossAttention(selfAttn, crossQuery, captions.For(this, layer), baseSequenceLength, sparse, layer);
        }
        Tensor projected = _attn2.ToOut!.Forward(mixed.Reshape(batch, n, mixed.Shape[2] * mixed.Shape[3]));
        // The attention branch's residual update and the FFN's input norm are one row kernel without a cache (issue 16).
        Tensor ffnIn;
        if (outputs is null)
        {
            ffnIn = be.RmsNormAddTanhGatedThenModulate(x, projected, _eps, _norm2, mod[LuminaRMSNormZero.GateMsa],
                _eps, _ffnNorm1, mod[LuminaRMSNormZero.ScaleMlp], shift: null);
        }
        else
        {
            AddCachedNormedBranch(outputs, projected, _norm2, mod[LuminaRMSNormZero.GateMsa], ForaAttention);
            ffnIn = be.RmsNormModulate(x, _eps, _ffnNorm1, mod[LuminaRMSNormZero.ScaleMlp], shift: null);
        }
        Tensor ffnOut = SparseRows.FeedForward(sparse, layer, FeedForwardCache, ffnIn, _feedForward.Forward);
        // x += tanh(gate_mlp) ⊙ ffn_norm2(ffn_out), left to the next layer's norm1 (one row kernel for both, issue 16).
        if (outputs is null)
            return new PendingResidual(x, ffnOut, _eps, _ffnNorm2, mod[LuminaRMSNormZero.GateMlp]);
        AddCachedNormedBranch(outputs, ffnOut, _ffnNorm2, mod[LuminaRMSNormZero.GateMlp], ForaFeedForward);
        return null;

        // FORA / TaylorSeer keep the normed branch, so with their cache x += tanh(gate) ⊙ RMSNorm(branch) stays three ops.
        void AddCachedNormedBranch(BlockOutputCache cache, Tensor branch, Tensor norm, Tensor gate, string cacheKey)
        {
            Tensor normed = be.RmsNorm(branch, _eps, norm);
            be.AddGatedInPlace(x, normed, be.Activate(gate, Activation.Tanh));
            cache.Store(layer, cacheKey, normed);
        }
    }

    /// <summary>
    /// This layer's attn2 keys and values of a caption: norm1_context (RMSNorm) → to_k → norm_k, and to_v. They depend on the
    /// caption only, so a generation computes them once (<see cref="LuminaNextDiT2DModel.PrepareCaptions"/>), not every step.
    /// </summary>
    internal LuminaCaptionKeyValues CaptionKeyValues(Tensor captions, Tensor captionMask)
    {
        using Tensor normedCaptions = captions.Backend.RmsNorm(captions, _eps, _norm1Context);
        var (key, value) = _attn2.CaptionKeyValues(normedCaptions);
        return new LuminaCaptionKeyValues(key, value, captionMask);
    }

    /// <summary>norm1(x, temb)'s RMSNorm(x)·(1 + scale_msa): the modulated input of this layer's attention.</summary>
    public Tensor ModulatedInput(Tensor x, Tensor siluTemb) => _norm1.Forward(x, siluTemb).Normed;

    // FORA's / TaylorSeer's cached outputs of this layer (pre-gate).
    private const string ForaAttention = "fora_attn", ForaFeedForward = "fora_ff";

    /// <summary>
    /// The one place choosing where q is normalised (issue 16, Fusion 15). On the dense plain path — no sparse step and no cache
    /// fill (A_self is this forward's own tensor, so attn2 adds into it), no AesMask capture layer (the affinity attention reads a
    /// query tensor), no RAS (its keys come from a cache and the rows may be a subset), attn2 sharing attn1's LayerNormed query
    /// — q is never written: both attentions normalise and rotate its raw GEMM columns as they load them. Every other path
    /// materialises q (PrepareQueryKey) and uses it as before.
    /// </summary>
    private bool LoadsQueryNormalised(SparseForward? sparse, int layer) =>
        SharesQuery && _attn1.NormalisesQuery && sparse is not ({ IsSparse: true } or { WritesCaches: true })
        && sparse?.KeyValues is null && !(sparse?.Capture is { } capture && capture.Captures(layer));

    /// <summary>
    /// attn1: every token's query over every token's keys/values, or on a sparse step the focus tokens' queries
    /// (rows of the RoPE'd full query) over the fresh keys/values of all tokens, with the proportional scale of the
    /// full sequence and GQA as in the dense path; background rows are the cached A_self of the last fill step.
    /// </summary>
    private Tensor SelfAttention(PackedValueInputs inputs, int? baseSequenceLength, SparseForward? sparse, int layer)
    {
        Tensor query = inputs.Q;
        int batch = query.Shape[0], n = query.Shape[1], heads = query.Shape[2], headDim = query.Shape[3];
        if (sparse is not { IsSparse: true })
        {
            // RAS: the rows are the active tokens; keys and values of every token come from its cache, and the
            // proportional scale is that of the whole sequence (the official processor's key.shape[1]). The cache keeps v
            // as a tensor, so only this path copies it out of the packed GEMM output.
            Tensor full;
            if (sparse?.KeyValues is { } ras)
            {
                var (key, value) = ras.Resolve(sparse, layer, SelfAttentionCache, inputs.K, inputs.Value());
                full = _attn1.AttendResolved(query, key, value, baseSequenceLength, sparse.ImageTokens);
            }
            else
            {
                full = _attn1.AttendPrepared(inputs, query, baseSequenceLength);
            }
            SparseRows.StoreIfFilling(sparse, layer, SelfAttentionCache, full.Reshape(batch, n, heads * headDim));
            return full;
        }
        int focus = sparse.FocusCount;
        Tensor focusQuery = SparseRows.Gather(sparse, query.Reshape(batch, n, heads * headDim)).Reshape(batch, focus, heads, headDim);
        Tensor focusOut = _attn1.AttendPrepared(inputs, focusQuery, baseSequenceLength, sequenceLength: n);
        return SparseRows.ScatterIntoCache(sparse, layer, SelfAttentionCache, focusOut.Reshape(batch, focus, heads * headDim))
            .Reshape(batch, n, heads, headDim);
    }

    /// <summary>
    /// A_self + tanh(gate)[h] · A_cross. Where A_self is this forward's own tensor, attn2 adds its output into it in the
    /// attention kernel's epilogue (issue 16: no A_cross tensor, no AddScaled pass). Where A_self is a SkipSparse cache
    /// (fill and sparse steps hand back the cache itself) it must stay as it is, and an AesMask capture layer needs the
    /// affinity reduction: both keep the separate attention and one AddScaled into a new tensor.
    /// </summary>
    private Tensor MixCrossAttention(Tensor selfAttn, Tensor crossQuery, LuminaCaptionKeyValues caption, int? baseSequenceLength,
        SparseForward? sparse, int layer)
    {
        bool selfAttnIsCache = sparse is { WritesCaches: true } or { IsSparse: true };
        bool captures = sparse?.Capture is { } capture && capture.Captures(layer);
        if (!selfAttnIsCache && !captures)
        {
            _attn2.AttendAddScaledInto(selfAttn, _crossGatePerHead, crossQuery, caption, baseSequenceLength);
            return selfAttn;
        }
        Tensor crossAttn = CrossAttention(crossQuery, caption, baseSequenceLength, sparse?.Capture, layer);
        return crossQuery.Backend.AddScaled(selfAttn, crossAttn, _crossGate); // one pass (issue 16), not Multiply then Add
    }

    /// <summary>
    /// attn2 over the caption (caption mask on the keys). In an AesMask capture layer the same attention runs through
    /// the affinity reduction: per head and image query, Σ_j softmax_j · w_j over the L caption keys, with w the token
    /// importance (masked padding has probability 0); the capture keeps the conditional branch's rows.
    /// </summary>
    private Tensor CrossAttention(Tensor query, LuminaCaptionKeyValues caption, int? baseSequenceLength, AffinityCapture? capture, int layer)
    {
        if (capture is null || !capture.Captures(layer))
            return _attn2.Attend(query, caption, baseSequenceLength);
        int batch = query.Shape[0], textTokens = caption.Key.Shape[1];
        if (capture.TextTokens != textTokens)
            throw new InvalidOperationException(
                $"AesMask capture: {capture.TextTokens} text weights given for a caption of {textTokens} tokens (layer {layer}).");
        var (output, affinity) = _attn2.AttendWithAffinity(query, caption, baseSequenceLength,
            capture.KeyWeights(query.Backend, batch, before: 0, after: 0));
        capture.Add(layer, affinity, imageStart: 0);
        return output;
    }

    /// <summary>
    /// tanh(gate[h]) repeated over each head's hd features, so the per-head scale is a broadcast operand of AddScaled; stored
    /// as a weight (bf16 on the device), which the kernel reads directly instead of converting an fp32 copy every call.
    /// </summary>
    private static Tensor TanhPerHead(float[] tanhGate, IBackend be, int headDim)
    {
        int heads = tanhGate.Length;
        var values = new float[heads * headDim];
        for (int h = 0; h < heads; h++)
            values.AsSpan(h * headDim, headDim).Fill(tanhGate[h]);
        return be.UploadWeight(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, new Shape(heads, headDim));
    }

    /// <summary>tanh(gate[h]) per head, on the host (the gate is a [H] weight, read once at load).</summary>
    private static float[] TanhOfGate(Tensor gate) => Array.ConvertAll(gate.Backend.Download(gate), MathF.Tanh);
}
