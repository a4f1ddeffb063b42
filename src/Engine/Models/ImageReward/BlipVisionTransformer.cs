using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>VisionTransformer</c> of BLIP's vit.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb), the module under <c>blip.visual_encoder</c>:
/// patch tokens, the class token prepended, <c>pos_embed</c> added, the blocks, the final <c>norm</c>. It returns every
/// token ([B, 1 + patches, width]); ImageReward's text encoder cross-attends to all of them.
/// </summary>
public sealed class BlipVisionTransformer
{
    private readonly BlipPatchEmbed _patchEmbed;
    private readonly Tensor _clsToken, _posEmbed, _normWeight, _normBias;
    private readonly BlipVitBlock[] _blocks;

    public BlipVisionTransformer(WeightReader w, BlipVisionConfig config)
    {
        config.Validate();
        Config = config;
        _patchEmbed = new BlipPatchEmbed(w.Scope("patch_embed"), config);
        _clsToken = w.Get("cls_token", 1, 1, config.Width);
        _posEmbed = w.Get("pos_embed", 1, config.Tokens, config.Width).Reshape(config.Tokens, config.Width);
        _blocks = new BlipVitBlock[config.Depth];
        for (int i = 0; i < config.Depth; i++) _blocks[i] = new BlipVitBlock(w.Scope($"blocks.{i}"), config);
        _normWeight = w.Get("norm.weight", config.Width);
        _normBias = w.Get("norm.bias", config.Width);
    }

    public BlipVisionConfig Config { get; }

    /// <summary>pixel values [B, C, image_size, image_size] (already normalised) → image embeddings [B, 1 + patches, width].</summary>
    public Tensor Forward(Tensor pixels)
    {
        IBackend be = pixels.Backend;
        int batch = pixels.Shape[0];
        if (pixels.Shape.Rank != 4 || pixels.Shape[1] != Config.InChannels || pixels.Shape[2] != Config.ImageSize || pixels.Shape[3] != Config.ImageSize)
            throw new AccelAesException(
                $"BLIP vision transformer: pixel values must be [B, {Config.InChannels}, {Config.ImageSize}, {Config.ImageSize}], got {pixels.Shape}.");
        Tensor patches = _patchEmbed.Forward(pixels);
        Tensor classTokens = be.Concat(0, Enumerable.Repeat(_clsToken, batch).ToArray()); // cls_token.expand(B, -1, -1)
        Tensor x = be.Add(be.Concat(1, classTokens, patches), _posEmbed);
        using (be.Range("blip.visual_encoder"))
            foreach (BlipVitBlock block in _blocks) x = block.Forward(x);
        return be.LayerNorm(x, (float)Config.LayerNormEps, _normWeight, _normBias);
    }
}
