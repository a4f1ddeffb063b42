using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>BertAttention</c> of BLIP's med.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): <c>self</c> (a <see cref="BertSelfAttention"/>) then
/// <c>output</c> (a <see cref="BertSelfOutput"/>, whose residual is this module's input). Used as <c>attention</c> and,
/// with key/value over the image, as <c>crossattention</c>.
/// </summary>
public sealed class BertAttention
{
    private readonly BertSelfAttention _self;
    private readonly BertSelfOutput _output;

    public BertAttention(WeightReader w, BlipTextConfig config, bool isCrossAttention)
    {
        _self = new BertSelfAttention(w.Scope("self"), config, isCrossAttention);
        _output = new BertSelfOutput(w.Scope("output"), config);
    }

    public Tensor Forward(Tensor hidden, Tensor keyValueSource, AttentionMaskArgs mask)
        => _output.Forward(_self.Forward(hidden, keyValueSource, mask), hidden);
}
