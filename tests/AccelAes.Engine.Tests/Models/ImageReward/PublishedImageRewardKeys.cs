using AccelAes.Engine.Models.ImageReward;

namespace AccelAes.Engine.Tests.Models.ImageReward;

/// <summary>
/// Every tensor of ImageReward.pt's state dict with its shape, listed by hand from the module tree of the Python code
/// (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): ImageReward → blip (BLIP_Pretrain: visual_encoder,
/// text_encoder, vision_proj, text_proj) and mlp. Written independently of the engine's model classes.
/// </summary>
internal static class PublishedImageRewardKeys
{
    /// <summary>BLIP_Pretrain's <c>embed_dim</c>: the width of vision_proj and text_proj.</summary>
    public const int ProjectionDim = 256;

    public static Dictionary<string, long[]> For(ImageRewardConfig config)
    {
        BlipVisionConfig v = config.Vision;
        BlipTextConfig t = config.Text;
        var keys = new Dictionary<string, long[]>(StringComparer.Ordinal);
        void Linear(string name, int inFeatures, int outFeatures)
        {
            keys[name + ".weight"] = [outFeatures, inFeatures];
            keys[name + ".bias"] = [outFeatures];
        }
        void Norm(string name, int width)
        {
            keys[name + ".weight"] = [width];
            keys[name + ".bias"] = [width];
        }

        // VisionTransformer (vit.py): patch_embed, cls_token, pos_embed, blocks, norm. No head (num_classes unused).
        const string vis = "blip.visual_encoder.";
        keys[vis + "cls_token"] = [1, 1, v.Width];
        keys[vis + "pos_embed"] = [1, (v.ImageSize / v.PatchSize) * (v.ImageSize / v.PatchSize) + 1, v.Width];
        keys[vis + "patch_embed.proj.weight"] = [v.Width, 3, v.PatchSize, v.PatchSize];
        keys[vis + "patch_embed.proj.bias"] = [v.Width];
        for (int i = 0; i < v.Depth; i++)
        {
            string b = $"{vis}blocks.{i}.";
            Norm(b + "norm1", v.Width);
            Linear(b + "attn.qkv", v.Width, 3 * v.Width);
            Linear(b + "attn.proj", v.Width, v.Width);
            Norm(b + "norm2", v.Width);
            Linear(b + "mlp.fc1", v.Width, v.MlpHidden);
            Linear(b + "mlp.fc2", v.MlpHidden, v.Width);
        }
        Norm(vis + "norm", v.Width);

        // BertModel (med.py) without pooler: embeddings (word, position, LayerNorm, the position_ids buffer) and encoder.
        const string txt = "blip.text_encoder.";
        keys[txt + "embeddings.word_embeddings.weight"] = [t.VocabSize, t.HiddenSize];
        keys[txt + "embeddings.position_embeddings.weight"] = [t.MaxPositionEmbeddings, t.HiddenSize];
        keys[txt + "embeddings.position_ids"] = [1, t.MaxPositionEmbeddings];
        Norm(txt + "embeddings.LayerNorm", t.HiddenSize);
        for (int l = 0; l < t.Layers; l++)
        {
            string b = $"{txt}encoder.layer.{l}.";
            foreach ((string part, int kvWidth) in new[] { ("attention", t.HiddenSize), ("crossattention", t.EncoderWidth) })
            {
                Linear(b + part + ".self.query", t.HiddenSize, t.HiddenSize);
                Linear(b + part + ".self.key", kvWidth, t.HiddenSize);
                Linear(b + part + ".self.value", kvWidth, t.HiddenSize);
                Linear(b + part + ".output.dense", t.HiddenSize, t.HiddenSize);
                Norm(b + part + ".output.LayerNorm", t.HiddenSize);
            }
            Linear(b + "intermediate.dense", t.HiddenSize, t.IntermediateSize);
            Linear(b + "output.dense", t.IntermediateSize, t.HiddenSize);
            Norm(b + "output.LayerNorm", t.HiddenSize);
        }

        // BLIP_Pretrain's contrastive projections (kept in the checkpoint, unused by score).
        Linear("blip.vision_proj", v.Width, ProjectionDim);
        Linear("blip.text_proj", t.HiddenSize, ProjectionDim);

        // MLP: nn.Sequential(Linear, Dropout, Linear, Dropout, Linear, Dropout, Linear, Linear).
        int[] linearAt = [0, 2, 4, 6, 7];
        for (int i = 0; i < linearAt.Length; i++)
            Linear($"mlp.layers.{linearAt[i]}", config.HeadWidths[i], config.HeadWidths[i + 1]);
        return keys;
    }
}
