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
/// and gathers its query rows from the joined q.
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
        int batch = x.Shape[0], n = x.Shape[1];
        bool sparseQueries = sparse is { IsSparse: true };
        var parts = new List<QkvPart> { new(_qkv.Forward(x), _normQ, _normK) };
        if (context is not null)
        {
            if (_addQkv is null) throw new InvalidOperationException("This attention has no text projections.");
            parts.Add(new QkvPart(_addQkv.Forward(context), _normAddedQ, _normAddedK));
        }
        var (q, k, v) = be.PrepareAttentionInputs(parts, _heads, _heads, _headDim, NormEps);
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
        o = o.Reshape(batch, s, _heads * _headDim);
        // The projections read their rows of o in place (no slice copies).
        Tensor image = context is null ? _toOut.Forward(o) : _toOut.ForwardRows(o, 0, imageQueries);
        image = sparseQueries
            ? SparseRows.ScatterIntoCache(sparse!, layer, cacheName, image)
            : SparseRows.StoreIfFilling(sparse, layer, cacheName, image);
        Tensor? text = context is null ? null : _toAddOut?.ForwardRows(o, imageQueries, s - imageQueries);
        return (image, text);
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
