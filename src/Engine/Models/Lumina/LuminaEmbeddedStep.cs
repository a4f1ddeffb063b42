using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>What one Lumina-Next forward computes before its first layer (<see cref="LuminaNextDiT2DModel.Embed"/>).</summary>
/// <param name="Image">Patch-embedded tokens [B, N, D]; the layers update them in place.</param>
/// <param name="Rotary">The RoPE rows of the token grid.</param>
/// <param name="Captions">Caption features [B, L, cross_attention_dim] (every layer's cross-attention keys).</param>
/// <param name="CaptionMask">[B, L] key mask of the cross-attention.</param>
/// <param name="SiluTemb">SiLU(temb), shared by every layer's modulation and by <c>norm_out</c>.</param>
/// <param name="BaseSequenceLength">Proportional-attention base; null = off.</param>
/// <param name="Height">Latent height (unpatchify's output size).</param>
/// <param name="Width">Latent width.</param>
public sealed record LuminaEmbeddedStep(Tensor Image, LuminaRotary Rotary, Tensor Captions, Tensor CaptionMask, Tensor SiluTemb,
    int? BaseSequenceLength, int Height, int Width);
