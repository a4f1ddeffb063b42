namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// The BERT text encoder of BLIP (ImageReward/models/BLIP/med.py with train/src/config/med_config.json, THUDM/ImageReward
/// c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): bert-base with 30524 ids (bert-base-uncased's 30522 plus BLIP's
/// <c>[DEC]</c> and <c>[ENC]</c>), cross-attention in every layer over image embeddings <see cref="EncoderWidth"/> wide
/// (<c>encoder_config.encoder_width = vision_width</c> in blip_pretrain.py), LayerNorm eps 1e-12, GELU (erf).
/// </summary>
public sealed record BlipTextConfig(int VocabSize, int HiddenSize, int Layers, int Heads, int IntermediateSize,
    int MaxPositionEmbeddings, int EncoderWidth, double LayerNormEps = 1e-12, string HiddenAct = "gelu")
{
    /// <summary>med_config.json with the encoder width of ViT-L (1024).</summary>
    public static BlipTextConfig MedConfig { get; } = new(30524, 768, 12, 12, 3072, 512, 1024);

    public int HeadDim => HiddenSize / Heads;

    /// <summary>Rejects a config whose shapes cannot work, naming the field.</summary>
    public void Validate()
    {
        if (HiddenSize <= 0 || Heads <= 0 || HiddenSize % Heads != 0)
            throw new AccelAesException($"BLIP text config: hidden_size {HiddenSize} is not divisible into num_attention_heads {Heads}.");
        if (VocabSize <= 0 || Layers <= 0 || IntermediateSize <= 0 || MaxPositionEmbeddings <= 0 || EncoderWidth <= 0)
            throw new AccelAesException(
                $"BLIP text config: vocab_size ({VocabSize}), num_hidden_layers ({Layers}), intermediate_size ({IntermediateSize}), " +
                $"max_position_embeddings ({MaxPositionEmbeddings}) and encoder_width ({EncoderWidth}) must be positive.");
    }
}
