using AccelAes.Engine.Acceleration.Ras;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Sd3;

/// <summary>
/// diffusers <c>Attention</c> with <c>JointAttnProcessor2_0</c>: image q/k/v (<c>to_*</c>) and, when text is
/// given, text q/k/v (<c>add_*_proj</c>) joined as [image, text] into one softmax. Optional per-head RMSNorm
/// on q and k (<c>qk_norm="rms_norm"</c>, eps 1e-6). Without added projections it is SD3.5's <c>attn2</c>,
/// plain self-attention over the image tokens. Issue 16: each stream's q/k/v is one GEMM over weights joined at load
/// (<see cref="FusedQkvProjection"/>), and the head split, the optional norms and the [image, text] join are one op
/// (<see cref="IBackend.PrepareAttentionInputs"/>); a sparse step projects every image row (keys and values need them)
/// and gathers its query rows from the joined q. Fusion 7: on a step that neither gathers query rows, goes through a RAS
/// key/value cache nor captures affinity, both GEMMs write one packed [B, N + L, 3·H·hd] buffer (image rows, then text rows)
/// that attention reads in place (<see cref="IBackend.AttentionPacked"/>): without qk-norm (SD3-Medium) nothing is copied at
/// all; SD3.5's norms rewrite q and k in place (<see cref="IBackend.PrepareAttentionInputsInPlace"/>), v never moves.
/// </summary>
public sealed class JointAttention
{
    private readonly int _heads, _headDim;
    private const float NormEps = 1e-6f;

    private readonly LinearLayer _qkv, _toOut;
    private readonly LinearLayer? _addQkv, _toAddOut;
    private readonly Tensor? _normQ, _normK, _normAddedQ, _normAddedK;

    /// <param name="joint">Has text projections (<c>added_kv_proj_dim</c>).</param>
    /// <param name="contextPreOnly">Text outputs are not projected back (last SD3 block: no <c>to_add_out</c>).</param>
    public JointAttention(WeightReader w, int dim, int heads, int headDim, bool joint, bool contextPreOnly, bool qkNorm)
    {
        _heads = heads;
        _headDim = headDim;
        int inner = heads * headDim;
        _qkv = FusedQkvProjection.Load(w, "to_q", "to_k", "to_v", dim, inner, inner);
        _toOut = LinearLayer.Load(w, "to_out.0", inner, dim);
        if (qkNorm)
        {
            _normQ = w.Get("norm_q.weight", headDim);
            _normK = w.Get("norm_k.weight", headDim);
        }
        if (!joint) return;
        _addQkv = FusedQkvProjection.Load(w, "add_q_proj", "add_k_proj", "add_v_proj", dim, inner, inner);
        if (!contextPreOnly) _toAddOut = LinearLayer.Load(w, "to_add_out", inner, dim);
        if (qkNorm)
        {
            _normAddedQ = w.Get("norm_added_q.weight", headDim);
            _normAddedK = w.Get("norm_added_k.weight", headDim);
        }
    }

    /// <summary>
    /// x [B, N, D] (normalised image tokens), context [B, L, D] (normalised text tokens) or null.
    /// Returns the projected image output and, for a joint block that is not context_pre_only, the text output.
    /// With <paramref name="sparse"/> (AccelAes): on the capture step the image-query × text-key probabilities (or,
    /// with <c>affinity=logits</c>, the pre-softmax logits) are reduced for AesMask; on sparse steps only focus image tokens (and all text tokens) query all keys, and the
    /// image output's background rows come from the layer's cache <paramref name="cacheName"/> (after <c>to_out</c>,
    /// which is row-wise, so the cached rows need no projection).
    /// </summary>
    public (Tensor Image, Tensor? Text) Forward(Tensor x, Tensor? context, SparseForward? sparse = null, int layer = 0, string cacheName = "attn")
    {
        IBackend be = x.Backend;
        var (o, imageQueries) = Attend(x, context, sparse, layer, cacheName);
        int s = o.Shape[1];
        bool sparseQueries = sparse is { IsSparse: true };
        // The projections read their rows of o in place (no slice copies).
        Tensor image = context is null ? _toOut.Forward(o) : _toOut.ForwardRows(o, 0, imageQueries);
        image = sparseQueries
            ? SparseRows.ScatterIntoCache(sparse!, layer, cacheName, image)
            : SparseRows.StoreIfFilling(sparse, layer, cacheName, image);
        Tensor? text = context is null ? null : _toAddOut?.ForwardRows(o, imageQueries, s - imageQueries);
        return (image, text);
    }

    /// <summary>
    /// <see cref="Forward"/> on a dense step whose outputs no cache keeps: <paramref name="imageResidual"/> +=
    /// <paramref name="imageGate"/>[b] ⊙ to_out(…) and, for a joint block that is not context_pre_only,
    /// <paramref name="textResidual"/> += <paramref name="textGate"/>[b] ⊙ to_add_out(…): the gates in the projections' GEMM
    /// epilogues (issue 16), the projected outputs never stored; the gates prepared for <see cref="ImageOutput"/> and
    /// <see cref="TextOutput"/>. <paramref name="sparse"/> may capture (AesMask), not fill
    /// or be sparse.
    /// </summary>
    public void ForwardAddGated(Tensor imageResidual, Tensor? textResidual, Tensor x, Tensor? context, PreparedGate imageGate, PreparedGate? textGate,
        SparseForward? sparse = null, int layer = 0)
    {
        if (sparse is { IsSparse: true } or { WritesCaches: true })
            throw new InvalidOperationException("The gated projections run on dense steps that keep no cache.");
        var (o, imageQueries) = Attend(x, context, sparse, layer);
        int s = o.Shape[1];
        // Each projection reads its rows of o in place (Fusion 6): no slice copies.
        if (context is null)
            _toOut.ForwardAddPreparedGate(imageResidual, o, imageGate);
        else
            _toOut.ForwardRowsAddPreparedGate(imageResidual, o, 0, imageQueries, imageGate);
        if (context is not null && _toAddOut is not null && textResidual is not null)
            _toAddOut.ForwardRowsAddPreparedGate(textResidual, o, imageQueries, s - imageQueries,
                textGate ?? throw new ArgumentNullException(nameof(textGate), "The text stream's gated projection needs its prepared gate."));
    }

    /// <summary><c>to_out.0</c>, the image stream's gated projection.</summary>
    public LinearLayer ImageOutput => _toOut;

    /// <summary><c>to_add_out</c>, the text stream's gated projection (none in a context_pre_only block or attn2).</summary>
    public LinearLayer? TextOutput => _toAddOut;

    /// <summary>The (joint) attention before its projections: heads flattened, [B, image queries + L, heads·hd], image rows first.</summary>
    private (Tensor O, int ImageQueries) Attend(Tensor x, Tensor? context, SparseForward? sparse, int layer, string cacheName = "attn")
    {
        IBackend be = x.Backend;
        int batch = x.Shape[0], n = x.Shape[1];
        if (ReadsPackedQkv(sparse, layer)) return (AttendPacked(x, context), n);
        bool sparseQueries = sparse is { IsSparse: true };
        var parts = new List<QkvPart> { new(_qkv.Forward(x), _normQ, _normK) };
        if (context is not null)
        {
            if (_addQkv is null) throw new InvalidOperationException("This attention has no text projections.");
            parts.Add(new QkvPart(_addQkv.Forward(context), _normAddedQ, _normAddedK));
        }
        var (q, k, v) = be.PrepareAttentionInputs(parts, _heads, _heads, _headDim, NormEps);
        // RAS: the image rows are the active tokens; attention reads every image token's keys and values from its cache.
        if (sparse?.KeyValues is { } ras) (k, v) = ResolveImageKeyValues(ras, sparse, layer, cacheName, k, v, n);
        int imageQueries = n;
        if (sparseQueries)
        {
            q = QueryRows(q, sparse!, n, context?.Shape[1] ?? 0);
            imageQueries = sparse!.FocusCount;
        }
        int s = q.Shape[1];
        float scale = 1f / MathF.Sqrt(_headDim);
        Tensor o;
        AffinityCapture? capture = sparse?.Capture;
        if (context is not null && capture is not null && capture.Captures(layer) && capture.CapturesLogits)
        {
            // The reference's capture: pre-softmax logits of the image queries on the text keys (rows n …), reduced on the host.
            capture.AddLogits(layer, q, imageStart: 0, k, textStart: n, scale);
            o = be.Attention(q, k, v, scale);
        }
        else if (context is not null && capture is not null && capture.Captures(layer))
        {
            // Joint softmax over [image, text] keys; the weights select the text keys (image keys weigh 0).
            var (output, affinity) = be.AttentionWithAffinity(q, k, v, scale, capture.KeyWeights(be, batch, before: n, after: 0));
            capture.Add(layer, affinity, imageStart: 0);
            o = output;
        }
        else
        {
            o = be.Attention(q, k, v, scale);
        }
        return (o.Reshape(batch, s, _heads * _headDim), imageQueries);
    }

    /// <summary>
    /// Whether this step's attention can read q, k and v in place from the packed QKV buffer: none of the paths that need
    /// the contiguous tensors (gathered focus queries, the RAS key/value cache, an affinity capture).
    /// </summary>
    private static bool ReadsPackedQkv(SparseForward? sparse, int layer) =>
        sparse is not { IsSparse: true } && sparse?.KeyValues is null && !(sparse?.Capture is { } capture && capture.Captures(layer));

    /// <summary>The image rows' and then the text rows' QKV GEMMs into one packed buffer, attention reading it in place.</summary>
    private Tensor AttendPacked(Tensor x, Tensor? context)
    {
        IBackend be = x.Backend;
        int batch = x.Shape[0], n = x.Shape[1], textTokens = context?.Shape[1] ?? 0;
        var buffer = be.Allocate(new Shape(batch, n + textTokens, _qkv.OutFeatures));
        _qkv.ForwardIntoRows(buffer, 0, x);
        if (context is not null)
            (_addQkv ?? throw new InvalidOperationException("This attention has no text projections.")).ForwardIntoRows(buffer, n, context);
        var packed = new PackedQkv(buffer, _heads, _heads, _headDim);
        if ((_normQ ?? _normK ?? _normAddedQ ?? _normAddedK) is not null)
        {
            var parts = new List<QkvPartNorms> { new(n, _normQ, _normK) };
            if (context is not null) parts.Add(new QkvPartNorms(textTokens, _normAddedQ, _normAddedK));
            be.PrepareAttentionInputsInPlace(packed, parts, NormEps);
        }
        var o = be.AttentionPacked(packed, 1f / MathF.Sqrt(_headDim));
        return o.Reshape(batch, n + textTokens, _heads * _headDim);
    }

    /// <summary>
    /// RAS: the joined keys / values [B, n + L, H, hd] hold the n active image tokens, then the text tokens; the image
    /// rows go through the layer's key/value cache (fresh rows stored, every image token's returned), the text rows stay.
    /// </summary>
    private static (Tensor K, Tensor V) ResolveImageKeyValues(RasKeyValueCache ras, SparseForward sparse, int layer, string cacheName,
        Tensor k, Tensor v, int activeImageTokens)
    {
        IBackend be = k.Backend;
        int textTokens = k.Shape[1] - activeImageTokens;
        if (textTokens == 0) return ras.Resolve(sparse, layer, cacheName, k, v);
        var (imageK, imageV) = ras.Resolve(sparse, layer, cacheName,
            be.Slice(k, 1, 0, activeImageTokens), be.Slice(v, 1, 0, activeImageTokens));
        return (be.Concat(1, imageK, be.Slice(k, 1, activeImageTokens, textTokens)),
                be.Concat(1, imageV, be.Slice(v, 1, activeImageTokens, textTokens)));
    }

    /// <summary>
    /// A sparse step's query rows of the joined q [B, N + L, H, hd]: the focus image tokens, then every text token (the
    /// order the old per-stream concatenation gave). The index list is uploaded once per focus set.
    /// </summary>
    private Tensor QueryRows(Tensor q, SparseForward sparse, int imageTokens, int textTokens)
    {
        int batch = q.Shape[0], joint = imageTokens + textTokens, rows = sparse.FocusCount + textTokens;
        IReadOnlyList<int> focus = sparse.FocusTokens ?? throw new InvalidOperationException("A sparse SD3 attention needs a focus set.");
        Tensor indices = sparse.DerivedIndices(q.Backend, $"sd3.queries B={batch} N={imageTokens} L={textTokens}", () =>
        {
            var idx = new int[batch * rows];
            for (int b = 0; b < batch; b++)
            {
                for (int i = 0; i < focus.Count; i++) idx[b * rows + i] = b * joint + focus[i];
                for (int t = 0; t < textTokens; t++) idx[b * rows + focus.Count + t] = b * joint + imageTokens + t;
            }
            return idx;
        });
        return q.Backend.GatherRows(q.Reshape(batch * joint, _heads * _headDim), indices).Reshape(batch, rows, _heads, _headDim);
    }
}
