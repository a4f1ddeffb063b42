using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>BertModel</c> of BLIP's med.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb) as blip_pretrain.py builds it (<c>add_pooling_layer=False</c>),
/// the module under <c>blip.text_encoder</c>: embeddings, then the encoder in <c>mode='multimodal'</c>, every layer
/// cross-attending to the image embeddings. Returns <c>last_hidden_state</c> [B, L, hidden].
/// </summary>
/// <remarks>
/// med.py's padding mask is additive, <c>(1 − mask)·−10000</c>. Wherever a row keeps a key, exp(−10000 + s) is exactly 0 in
/// fp32, so the op's key mask gives the same result. A row of all padding gets −10000 on every score, which cancels in
/// the softmax: that row attends to every token as if unmasked, so its key mask is all ones. (torch adds the −10000 in
/// fp32, which rounds each score to about 0.001 first; the engine gives the exact value that rounding perturbs.)
/// </remarks>
public sealed class BertModel
{
    private readonly BertEmbeddings _embeddings;
    private readonly BertEncoder _encoder;
    private readonly IBackend _backend;

    public BertModel(WeightReader w, BlipTextConfig config)
    {
        config.Validate();
        Config = config;
        _backend = w.Backend;
        _embeddings = new BertEmbeddings(w.Scope("embeddings"), config);
        _encoder = new BertEncoder(w.Scope("encoder"), config);
    }

    public BlipTextConfig Config { get; }

    /// <summary>
    /// ids [B, L] with their attention mask (null: all ones) and image embeddings [B, S, encoder_width] →
    /// <c>last_hidden_state</c> [B, L, hidden].
    /// </summary>
    public Tensor Forward(TokenGrid inputIds, TokenGrid? attentionMask, Tensor imageEmbeds)
    {
        inputIds.RequireIdsBelow(Config.VocabSize);
        if (inputIds.Length > Config.MaxPositionEmbeddings)
            throw new ModelInputException(inputIds.Name,
                $"Input '{inputIds.Name}' has {inputIds.Length} tokens per row, more than the {Config.MaxPositionEmbeddings} " +
                "positions of the BLIP text encoder (max_position_embeddings); truncate the prompt.");
        attentionMask?.RequireMaskFor(inputIds);
        if (imageEmbeds.Shape.Rank != 3 || imageEmbeds.Shape[0] != inputIds.Batch || imageEmbeds.Shape[2] != Config.EncoderWidth)
            throw new AccelAesException(
                $"BLIP text encoder: image embeddings must be [{inputIds.Batch}, tokens, {Config.EncoderWidth}] (encoder_width), got {imageEmbeds.Shape}.");
        return _encoder.Forward(_embeddings.Forward(inputIds), MaskOf(attentionMask, inputIds.Length), imageEmbeds);
    }

    private AttentionMaskArgs MaskOf(TokenGrid? mask, int length)
    {
        if (mask is null || mask.AllOnes()) return new AttentionMaskArgs(null, false, null);
        var keep = new float[mask.Batch * length];
        for (int b = 0; b < mask.Batch; b++)
        {
            bool anyKept = mask.Row(b).Contains(1);
            for (int j = 0; j < length; j++) keep[b * length + j] = !anyKept || mask[b, j] == 1 ? 1f : 0f;
        }
        return new AttentionMaskArgs(_backend.Upload(keep, new Shape(mask.Batch, length)), false, null);
    }
}
