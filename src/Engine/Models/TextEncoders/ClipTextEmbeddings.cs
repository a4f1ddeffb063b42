using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>CLIPTextEmbeddings</c>: <c>token_embedding[ids] + position_embedding[0 … L−1]</c>.
/// The <c>position_ids</c> buffer is an arange and is not read (older checkpoints that saved it list it as unused).
/// </summary>
public sealed class ClipTextEmbeddings
{
    private readonly Tensor _tokenEmbedding;
    private readonly Tensor _positionEmbedding;

    public ClipTextEmbeddings(WeightReader w, ClipTextConfig config)
    {
        _tokenEmbedding = w.Get("token_embedding.weight", config.VocabSize, config.HiddenSize);
        _positionEmbedding = w.Get("position_embedding.weight", config.MaxPositionEmbeddings, config.HiddenSize);
        MaxPositions = config.MaxPositionEmbeddings;
    }

    public int MaxPositions { get; }

    /// <summary>ids (already checked against the vocabulary and the position table) → [B, L, hidden].</summary>
    public Tensor Forward(TokenGrid inputIds)
    {
        IBackend be = _tokenEmbedding.Backend;
        Tensor tokens = be.GatherRows(_tokenEmbedding, inputIds.UploadIndices(be));
        return be.Add(tokens, be.Slice(_positionEmbedding, 0, 0, inputIds.Length));
    }
}
