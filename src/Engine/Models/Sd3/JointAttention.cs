using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Sd3;

/// <summary>
/// diffusers <c>Attention</c> with <c>JointAttnProcessor2_0</c>: image q/k/v (<c>to_*</c>) and, when text is
/// given, text q/k/v (<c>add_*_proj</c>) joined as [image, text] into one softmax. Optional per-head RMSNorm
/// on q and k (<c>qk_norm="rms_norm"</c>, eps 1e-6). Without added projections it is SD3.5's <c>attn2</c>,
/// plain self-attention over the image tokens.
/// </summary>
public sealed class JointAttention
{
    private readonly int _heads, _headDim;
    private readonly LinearLayer _toQ, _toK, _toV, _toOut;
    private readonly LinearLayer? _addQ, _addK, _addV, _toAddOut;
    private readonly Tensor? _normQ, _normK, _normAddedQ, _normAddedK;

    /// <param name="joint">Has text projections (<c>added_kv_proj_dim</c>).</param>
    /// <param name="contextPreOnly">Text outputs are not projected back (last SD3 block: no <c>to_add_out</c>).</param>
    public JointAttention(WeightReader w, int dim, int heads, int headDim, bool joint, bool contextPreOnly, bool qkNorm)
    {
        _heads = heads;
        _headDim = headDim;
        int inner = heads * headDim;
        _toQ = LinearLayer.Load(w, "to_q", dim, inner);
        _toK = LinearLayer.Load(w, "to_k", dim, inner);
        _toV = LinearLayer.Load(w, "to_v", dim, inner);
        _toOut = LinearLayer.Load(w, "to_out.0", inner, dim);
        if (qkNorm)
        {
            _normQ = w.Get("norm_q.weight", headDim);
            _normK = w.Get("norm_k.weight", headDim);
        }
        if (!joint) return;
        _addQ = LinearLayer.Load(w, "add_q_proj", dim, inner);
        _addK = LinearLayer.Load(w, "add_k_proj", dim, inner);
        _addV = LinearLayer.Load(w, "add_v_proj", dim, inner);
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
    /// </summary>
    public (Tensor Image, Tensor? Text) Forward(Tensor x, Tensor? context)
    {
        IBackend be = x.Backend;
        int batch = x.Shape[0], n = x.Shape[1];
        Tensor q = Heads(_toQ.Forward(x), _normQ);
        Tensor k = Heads(_toK.Forward(x), _normK);
        Tensor v = Heads(_toV.Forward(x), null);
        if (context is not null)
        {
            if (_addQ is null) throw new InvalidOperationException("This attention has no text projections.");
            q = be.Concat(1, q, Heads(_addQ.Forward(context), _normAddedQ));
            k = be.Concat(1, k, Heads(_addK!.Forward(context), _normAddedK));
            v = be.Concat(1, v, Heads(_addV!.Forward(context), null));
        }
        int s = q.Shape[1];
        Tensor o = be.Attention(q, k, v, 1f / MathF.Sqrt(_headDim)).Reshape(batch, s, _heads * _headDim);
        if (context is null) return (_toOut.Forward(o), null);
        Tensor image = _toOut.Forward(be.Slice(o, 1, 0, n));
        Tensor? text = _toAddOut?.Forward(be.Slice(o, 1, n, s - n));
        return (image, text);
    }

    private Tensor Heads(Tensor projected, Tensor? norm)
    {
        Tensor h = projected.Reshape(projected.Shape[0], projected.Shape[1], _heads, _headDim);
        return norm is null ? h : h.Backend.RmsNorm(h, 1e-6f, norm);
    }
}
