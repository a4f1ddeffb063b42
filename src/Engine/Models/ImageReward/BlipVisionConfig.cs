namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// The BLIP vision transformer's settings, as <c>create_vit</c> in ImageReward/models/BLIP/blip.py sets them
/// (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): ViT-L is 1024 wide, 24 blocks, 16 heads, patch 16,
/// 224 px, mlp_ratio 4, qkv with bias, LayerNorm eps 1e-6, GELU (erf).
/// </summary>
/// <param name="ImageSize">Input side in pixels (the position table has (ImageSize / PatchSize)² + 1 rows).</param>
/// <param name="PatchSize">Side of the square patches (the stride of <c>patch_embed.proj</c>).</param>
/// <param name="Width">embed_dim, the vision width the text encoder's cross-attention reads.</param>
/// <param name="Depth">Number of blocks.</param>
/// <param name="Heads">Attention heads per block.</param>
/// <param name="MlpHidden">fc1's width (embed_dim · mlp_ratio).</param>
/// <param name="InChannels">Image channels (3).</param>
/// <param name="LayerNormEps">eps of every LayerNorm (<c>partial(nn.LayerNorm, eps=1e-6)</c>).</param>
public sealed record BlipVisionConfig(int ImageSize, int PatchSize, int Width, int Depth, int Heads, int MlpHidden,
    int InChannels = 3, double LayerNormEps = 1e-6)
{
    /// <summary>ImageReward-v1.0's encoder: <c>create_vit('large', 224)</c>.</summary>
    public static BlipVisionConfig Large { get; } = new(224, 16, 1024, 24, 16, 4096);

    public int GridSize => ImageSize / PatchSize;

    /// <summary>Patch tokens plus the class token.</summary>
    public int Tokens => GridSize * GridSize + 1;

    public int HeadDim => Width / Heads;

    /// <summary>Rejects a config whose shapes cannot work, naming the field.</summary>
    public void Validate()
    {
        if (PatchSize <= 0 || ImageSize <= 0 || ImageSize % PatchSize != 0)
            throw new AccelAesException($"BLIP vision config: image size {ImageSize} is not a positive multiple of the patch size {PatchSize}.");
        if (Width <= 0 || Heads <= 0 || Width % Heads != 0)
            throw new AccelAesException($"BLIP vision config: width {Width} is not divisible into {Heads} heads.");
        if (Depth <= 0 || MlpHidden <= 0 || InChannels <= 0)
            throw new AccelAesException($"BLIP vision config: depth ({Depth}), MLP width ({MlpHidden}) and channels ({InChannels}) must be positive.");
    }
}
