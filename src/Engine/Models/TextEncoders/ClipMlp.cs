using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>transformers <c>CLIPMLP</c>: <c>fc2(act(fc1(x)))</c>, act = <c>hidden_act</c> (quick_gelu for CLIP-L, gelu for bigG).</summary>
public sealed class ClipMlp
{
    private readonly LinearLayer _fc1, _fc2;
    private readonly TransformersActivation _activation;

    public ClipMlp(WeightReader w, IClipEncoderConfig config)
    {
        _activation = new TransformersActivation(config.HiddenAct);
        _fc1 = LinearLayer.Load(w, "fc1", config.HiddenSize, config.IntermediateSize);
        _fc2 = LinearLayer.Load(w, "fc2", config.IntermediateSize, config.HiddenSize);
    }

    public Tensor Forward(Tensor x) => _fc2.Forward(_activation.Linear(_fc1, x));
}
