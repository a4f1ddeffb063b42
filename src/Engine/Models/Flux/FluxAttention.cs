using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// diffusers <c>FluxAttention</c> with <c>FluxAttnProcessor</c>. q/k/v are projected, split into heads
/// (head h owns features [h·hd, (h+1)·hd)), and q/k are RMS-normalised per head (<c>torch.nn.RMSNorm(hd,
/// eps=1e-6)</c>). In a double-stream block (<c>added_kv_proj_dim</c>) the text projections
/// (<c>add_*_proj</c>, <c>norm_added_*</c>) are joined in front: the sequence is <b>[text, image]</b>, the order of
/// <c>cat(txt_ids, img_ids)</c> the rotary table was built from (architectures.md §0.2). RoPE comes after the
/// norms, on the joined q and k. A single-stream block's attention is <c>pre_only</c>: no output projection.
/// Issue 16: each stream's q/k/v is one GEMM over weights joined at load (<see cref="FusedQkvProjection"/>), and the
/// head split, the per-head norms, the [text, image] join and RoPE are one op (<see cref="IBackend.PrepareAttentionInputs"/>).
/// A sparse step projects every image row (the keys and values need them) and gathers the query rows from the joined q.
/// Fusion 7: on a step that neither gathers query rows nor captures affinity, the QKV GEMMs write one packed
/// [B, L + N, 3·H·hd] buffer (text rows, then image rows), the norms and RoPE rewrite its q and k columns in place
/// (<see cref="IBackend.PrepareAttentionInputsInPlace"/>) and attention reads q, k and v there (v is never copied).
/// </summary>
public sealed class FluxAttention
{
    /// <summary>SkipSparse cache of a double-stream block's image attention output (after <c>to_out</c>), [B, N, D].</summary>
    public const string AttentionCache = "attn";

    private const float NormEps = 1e-6f;

    private readonly int _heads, _headDim;
    private readonly LinearLayer _qkv;
    private readonly Tensor _normQ, _normK;
    private readonly LinearLayer? _toOut;
    private readonly LinearLayer? _addQkv, _toAddOut;
    private readonly Tensor? _normAddedQ, _normAddedK;

    /// <param name="joint">Double-stream attention: has the text projections and <c>to_add_out</c>.</param>
    /// <param name="preOnly">Single-stream attention: no <c>to_out</c>, the block projects the result itself.</param>
    public FluxAttention(WeightReader w, int dim, int heads, int headDim, bool joint, bool preOnly)
    {
        _heads = heads;
        _headDim = headDim;
        int inner = heads * headDim;
        _normQ = w.Get("norm_q.weight", headDim);
        _normK = w.Get("norm_k.weight", headDim);
        _qkv = FusedQkvProjection.Load(w, "to_q", "to_k", "to_v", dim, inner, inner);
        if (!preOnly) _toOut = LinearLayer.Load(w, "to_out.0", inner, dim);
        if (!joint) return;
        _normAddedQ = w.Get("norm_added_q.weight", headDim);
        _normAddedK = w.Get("norm_added_k.weight", headDim);
        _addQkv = FusedQkvProjection.Load(w, "add_q_proj", "add_k_proj", "add_v_proj", dim, inner, inner);
        _toAddOut = LinearLayer.Load(w, "to_add_out", inner, dim);
    }

    /// <summary>
    /// Double-stream attention. <paramref name="image"/> [B, N, D] and <paramref name="text"/> [B, L, D] are the
    /// modulated tokens; <paramref name="rope"/> covers the L + N joined tokens, text first.
    /// With <paramref name="sparse"/> (AccelAes): on the capture step, in a capture layer, the softmax probabilities
    /// of the image queries on the text keys (post-RoPE q and k, as the attention uses them) are reduced for AesMask
    /// (with <c>affinity=logits</c>: the pre-softmax logits of the pre-RoPE q and k, as the reference's hook sees them);
    /// on a fill step the image output (after <c>to_out</c>) becomes the layer's cache <c>attn</c>; on a sparse step only
    /// the focus image tokens (and every text token) query the keys/values of all tokens, and the background rows
    /// of the image output come from that cache (<c>to_out</c> is row-wise, so cached rows need no projection).
    /// </summary>
    /// <param name="queries">The sparse forward's query rows (required on a sparse step).</param>
    /// <returns>The image output (<c>to_out.0</c>) and the text output (<c>to_add_out</c>).</returns>
    public (Tensor Image, Tensor Text) Forward(Tensor image, Tensor text, FluxRotaryTable rope,
        SparseForward? sparse = null, int layer = 0, FluxQueryRows? queries = null)
    {
        Tensor o = JointHeads(image, text, rope, sparse, layer, queries);
        int l = text.Shape[1], s = o.Shape[1];
        bool sparseQueries = sparse is { IsSparse: true };
        Tensor imageOut = _toOut!.ForwardRows(o, l, s - l); // the projections read their rows of o in place
        imageOut = sparseQueries
            ? SparseRows.ScatterIntoCache(sparse!, layer, AttentionCache, imageOut)
            : SparseRows.StoreIfFilling(sparse, layer, AttentionCache, imageOut);
        return (imageOut, _toAddOut!.ForwardRows(o, 0, l));
    }

    /// <summary>
    /// <see cref="Forward(Tensor, Tensor, FluxRotaryTable, SparseForward?, int, FluxQueryRows?)"/> on a dense step whose
    /// outputs no cache keeps: <paramref name="imageResidual"/> += <paramref name="imageGate"/>[b] ⊙ to_out(…) and
    /// <paramref name="textResidual"/> += <paramref name="textGate"/>[b] ⊙ to_add_out(…), the gates in the projections'
    /// GEMM epilogues (issue 16), the projected outputs never stored; the gates prepared for <see cref="ImageOutput"/> and
    /// <see cref="TextOutput"/>. <paramref name="sparse"/> may capture (AesMask), not
    /// fill or be sparse.
    /// </summary>
    public void ForwardAddGated(Tensor imageResidual, Tensor textResidual, Tensor image, Tensor text, FluxRotaryTable rope,
        PreparedGate imageGate, PreparedGate textGate, SparseForward? sparse = null, int layer = 0)
    {
        if (sparse is { IsSparse: true } or { WritesCaches: true })
            throw new InvalidOperationException("The gated projections run on dense steps that keep no cache.");
        Tensor o = JointHeads(image, text, rope, sparse, layer, queries: null);
        int l = text.Shape[1], s = o.Shape[1];
        // Each projection reads its rows of o in place (Fusion 6): no slice copies.
        _toOut!.ForwardRowsAddPreparedGate(imageResidual, o, l, s - l, imageGate);
        _toAddOut!.ForwardRowsAddPreparedGate(textResidual, o, 0, l, textGate);
    }

    /// <summary><c>to_out.0</c>, the image stream's gated projection (double-stream attention).</summary>
    public LinearLayer ImageOutput => _toOut ?? throw new InvalidOperationException("A pre-only attention has no to_out.");

    /// <summary><c>to_add_out</c>, the text stream's gated projection (double-stream attention).</summary>
    public LinearLayer TextOutput => _toAddOut ?? throw new InvalidOperationException("This FluxAttention has no text projections.");

    /// <summary>The joint attention before its projections: heads flattened, [B, L + queries, heads·hd], text rows first.</summary>
    private Tensor JointHeads(Tensor image, Tensor text, FluxRotaryTable rope, SparseForward? sparse, int layer, FluxQueryRows? queries)
    {
        if (_addQkv is null) throw new InvalidOperationException("This FluxAttention has no text projections (it is a single-stream block's).");
        IBackend be = image.Backend;
        int batch = image.Shape[0], l = text.Shape[1], n = image.Shape[1];
        bool sparseQueries = sparse is { IsSparse: true };
        if (sparseQueries && queries is null) throw new InvalidOperationException("A sparse FLUX attention needs the forward's query rows.");
        if (!sparseQueries && !(sparse?.Capture is { } c && c.Captures(layer)))
        {
            var buffer = be.Allocate(new Shape(batch, l + n, _qkv.OutFeatures));
            _addQkv.ForwardIntoRows(buffer, 0, text);
            _qkv.ForwardIntoRows(buffer, l, image);
            var packed = new PackedQkv(buffer, _heads, _heads, _headDim);
            be.PrepareAttentionInputsInPlace(packed, [new QkvPartNorms(l, _normAddedQ, _normAddedK), new QkvPartNorms(n, _normQ, _normK)],
                NormEps, rope.Cos, rope.Sin);
            return be.AttentionPacked(packed, 1f / MathF.Sqrt(_headDim)).Reshape(batch, l + n, _heads * _headDim);
        }
        QkvPart[] parts = [new(_addQkv.Forward(text), _normAddedQ, _normAddedK), new(_qkv.Forward(image), _normQ, _normK)];
        var (q, k, v) = be.PrepareAttentionInputs(parts, _heads, _heads, _headDim, NormEps, rope.Cos, rope.Sin);
        if (sparseQueries) q = QueryRows(q, queries!);
        int s = q.Shape[1];
        float scale = 1f / MathF.Sqrt(_headDim);
        Tensor o;
        AffinityCapture? capture = sparse?.Capture;
        if (capture is not null && capture.Captures(layer) && capture.CapturesLogits)
        {
            // The reference's capture (a forward pre-hook): RMS-normed q and k before RoPE, pre-softmax logits of the
            // image queries (rows L …) on the text keys (rows 0 … L − 1).
            var (qBeforeRope, kBeforeRope, _) = be.PrepareAttentionInputs(parts, _heads, _heads, _headDim, NormEps);
            if (sparseQueries) qBeforeRope = QueryRows(qBeforeRope, queries!);
            capture.AddLogits(layer, qBeforeRope, imageStart: l, kBeforeRope, textStart: 0, scale);
            o = be.Attention(q, k, v, scale);
        }
        else if (capture is not null && capture.Captures(layer))
        {
            // Joint softmax over [text, image] keys; the weights select the L text keys (image keys weigh 0), and
            // the image queries are rows L … L + N − 1.
            var (output, affinity) = be.AttentionWithAffinity(q, k, v, scale, capture.KeyWeights(be, batch, before: 0, after: n));
            capture.Add(layer, affinity, imageStart: l);
            o = output;
        }
        else
        {
            o = be.Attention(q, k, v, scale);
        }
        return o.Reshape(batch, s, _heads * _headDim);
    }

    /// <summary>
    /// Self-attention over <paramref name="x"/> [B, S, D] (a single-stream block's joined [text, image] tokens, rotary
    /// table <paramref name="rope"/>). With <paramref name="queries"/> (a sparse step) only those rows query, over the keys
    /// and values of every row. Returns [B, Sq, heads·hd], projected by <c>to_out.0</c> unless <c>pre_only</c>.
    /// </summary>
    public Tensor Forward(Tensor x, FluxRotaryTable rope, FluxQueryRows? queries = null)
    {
        if (queries is null)
        {
            var packed = SelfPacked(x, rope);
            Tensor heads = x.Backend.AttentionPacked(packed, 1f / MathF.Sqrt(_headDim)).Reshape(x.Shape[0], x.Shape[1], _heads * _headDim);
            return _toOut is null ? heads : _toOut.Forward(heads);
        }
        var (q, k, v) = SelfAttentionInputs(x, rope, queries);
        int batch = q.Shape[0], s = q.Shape[1];
        Tensor o = x.Backend.Attention(q, k, v, 1f / MathF.Sqrt(_headDim)).Reshape(batch, s, _heads * _headDim);
        return _toOut is null ? o : _toOut.Forward(o);
    }

    /// <summary>
    /// The pre-only self-attention of a single-stream block (no <c>to_out</c>) written into columns
    /// [<paramref name="columnOffset"/>, <paramref name="columnOffset"/> + heads·headDim) of <paramref name="destination"/>
    /// [B, Sq, C]: the attention kernel stores there directly, so the block's cat(attention, mlp) costs no copy.
    /// <paramref name="queries"/> as in <see cref="Forward(Tensor, FluxRotaryTable, FluxQueryRows?)"/>.
    /// </summary>
    public void ForwardInto(Tensor destination, int columnOffset, Tensor x, FluxRotaryTable rope, FluxQueryRows? queries = null)
    {
        if (_toOut is not null) throw new InvalidOperationException("ForwardInto is the pre-only attention of a single-stream block.");
        if (queries is null)
        {
            x.Backend.AttentionPackedInto(destination, columnOffset, SelfPacked(x, rope), 1f / MathF.Sqrt(_headDim));
            return;
        }
        var (q, k, v) = SelfAttentionInputs(x, rope, queries);
        x.Backend.AttentionInto(destination, columnOffset, q, k, v, 1f / MathF.Sqrt(_headDim));
    }

    /// <summary>A dense step's self-attention inputs: the QKV GEMM's output, q and k normalised and rotated in place (Fusion 7).</summary>
    private PackedQkv SelfPacked(Tensor x, FluxRotaryTable rope)
    {
        var packed = new PackedQkv(_qkv.Forward(x), _heads, _heads, _headDim);
        x.Backend.PrepareAttentionInputsInPlace(packed, [new QkvPartNorms(x.Shape[1], _normQ, _normK)], NormEps, rope.Cos, rope.Sin);
        return packed;
    }

    // RMSNorm first, then RoPE (FluxAttnProcessor); one table for every head and batch item.
    private AttentionInputs SelfAttentionInputs(Tensor x, FluxRotaryTable rope, FluxQueryRows? queries)
    {
        var inputs = x.Backend.PrepareAttentionInputs([new QkvPart(_qkv.Forward(x), _normQ, _normK)], _heads, _heads, _headDim, NormEps, rope.Cos, rope.Sin);
        return queries is null ? inputs : inputs with { Q = QueryRows(inputs.Q, queries) };
    }

    /// <summary>The query rows [text, focus image] of a joined q [B, L + N, H, hd] (rotated at their own positions already).</summary>
    private Tensor QueryRows(Tensor q, FluxQueryRows queries)
    {
        int batch = q.Shape[0], joint = q.Shape[1], width = _heads * _headDim;
        return q.Backend.GatherRows(q.Reshape(batch * joint, width), queries.JointRows).Reshape(batch, queries.Count, _heads, _headDim);
    }
}
