using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// diffusers <c>FluxSingleTransformerBlock</c>: one stream over the joined [text, image] tokens. The modulated
/// input feeds attention (<c>pre_only</c>, no output projection) and the MLP (<c>proj_mlp</c> → GELU-tanh) in
/// parallel; <c>proj_out</c> maps cat(attention, mlp) — attention columns first — back to D, and the result is
/// added through the gate of <see cref="AdaLayerNormZeroSingle"/>.
/// </summary>
public sealed class FluxSingleTransformerBlock
{
    private readonly AdaLayerNormZeroSingle _norm;
    private readonly LinearLayer _projMlp;
    private readonly FluxAttention _attn;
    private readonly LinearLayer _projOut;

    public FluxSingleTransformerBlock(WeightReader w, int dim, int heads, int headDim, float mlpRatio = 4f)
    {
        int mlpHidden = (int)(dim * mlpRatio);
        _norm = new AdaLayerNormZeroSingle(w.Scope("norm"), dim);
        _projMlp = LinearLayer.Load(w, "proj_mlp", dim, mlpHidden);
        _attn = new FluxAttention(w.Scope("attn"), dim, heads, headDim, joint: false, preOnly: true);
        _projOut = LinearLayer.Load(w, "proj_out", dim + mlpHidden, dim);
    }

    /// <summary>
    /// Updates the joined tokens <paramref name="hidden"/> [B, L + N, D] (text first) in place. diffusers
    /// concatenates before and splits after every block; keeping the joined sequence across consecutive single
    /// blocks is the same arithmetic (concatenation and slicing are exact).
    /// </summary>
    public void Forward(Tensor hidden, Tensor siluTemb, FluxRotaryTable rope)
    {
        IBackend be = hidden.Backend;
        var (normed, gate) = _norm.Forward(hidden, siluTemb);
        Tensor mlp = _projMlp.Forward(normed, Activation.GeluTanh);
        Tensor attn = _attn.Forward(normed, rope);
        be.AddGatedInPlace(hidden, _projOut.Forward(be.Concat(2, attn, mlp)), gate);
    }
}
