using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Sd3;

/// <summary>What one SD3 forward computes before its first joint block (<see cref="Sd3Transformer2DModel.Embed"/>).</summary>
public sealed class Sd3EmbeddedStep(Tensor image, Tensor context, Tensor siluTemb, int height, int width)
{
    /// <summary>Patch-embedded latents with positions [B, N, D]; the blocks update it in place.</summary>
    public Tensor Image { get; } = image;

    /// <summary>The text stream [B, L, D] entering the next block; null once the context_pre_only last block ran.</summary>
    public Tensor? Context { get; set; } = context;

    /// <summary>SiLU(temb) [B, D], shared by every block's modulation and by <c>norm_out</c>.</summary>
    public Tensor SiluTemb { get; } = siluTemb;

    /// <summary>The latent height and width (unpatchify's output size).</summary>
    public int Height { get; } = height;

    public int Width { get; } = width;
}
