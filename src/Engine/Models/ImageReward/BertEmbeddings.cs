using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>BertEmbeddings</c> of BLIP's med.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): <c>LayerNorm(word_embeddings[ids] + position_embeddings[0 … L−1])</c>.
/// Unlike transformers' BERT there is no token-type table. The <c>position_ids</c> buffer is an arange and is not read.
/// </summary>
public sealed class BertEmbeddings
{
    private readonly Tensor _wordEmbeddings, _positionEmbeddings, _layerNormWeight, _layerNormBias;
    private readonly float _eps;

    public BertEmbeddings(WeightReader w, BlipTextConfig config)
    {
        _eps = (float)config.LayerNormEps;
        _wordEmbeddings = w.Get("word_embeddings.weight", config.VocabSize, config.HiddenSize);
        _positionEmbeddings = w.Get("position_embeddings.weight", config.MaxPositionEmbeddings, config.HiddenSize);
        _layerNormWeight = w.Get("LayerNorm.weight", config.HiddenSize);
        _layerNormBias = w.Get("LayerNorm.bias", config.HiddenSize);
    }

    /// <summary>ids (already checked against the vocabulary and the position table) → [B, L, hidden].</summary>
    public Tensor Forward(TokenGrid inputIds)
    {
        IBackend be = _wordEmbeddings.Backend;
        Tensor words = be.GatherRows(_wordEmbeddings, inputIds.UploadIndices(be));
        Tensor embeddings = be.Add(words, be.Slice(_positionEmbeddings, 0, 0, inputIds.Length));
        return be.LayerNorm(embeddings, _eps, _layerNormWeight, _layerNormBias);
    }
}
