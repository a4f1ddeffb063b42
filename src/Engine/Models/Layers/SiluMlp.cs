using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Layers;

/// <summary>
/// <c>linear_2(SiLU(linear_1(x)))</c>: diffusers' <c>TimestepEmbedding</c> and
/// <c>PixArtAlphaTextProjection(act_fn="silu")</c>, which share this structure and key names.
/// </summary>
public sealed class SiluMlp
{
    private readonly LinearLayer _linear1;
    private readonly LinearLayer _linear2;

    public SiluMlp(WeightReader w, int inFeatures, int hidden, int outFeatures)
    {
        _linear1 = LinearLayer.Load(w, "linear_1", inFeatures, hidden);
        _linear2 = LinearLayer.Load(w, "linear_2", hidden, outFeatures);
    }

    public Tensor Forward(Tensor x) => _linear2.Forward(_linear1.Forward(x, Activation.Silu));

    /// <summary>
    /// <paramref name="sum"/> += Forward(<paramref name="x"/>) in place, the addition in <c>linear_2</c>'s GEMM epilogue
    /// (β = 1, C = the sum): an embedder's output added to a running sum without storing it (issue 16).
    /// </summary>
    public void ForwardAddTo(Tensor sum, Tensor x) => _linear2.ForwardAddGated(sum, _linear1.Forward(x, Activation.Silu), gate: null);
}
