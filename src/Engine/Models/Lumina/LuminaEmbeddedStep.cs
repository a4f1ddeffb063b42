using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>What one Lumina-Next forward computes before its first layer (<see cref="LuminaNextDiT2DModel.Embed(Tensor, Tensor, LuminaCaptionContext, LuminaRotaryTable, int?)"/>).</summary>
/// <param name="Image">Patch-embedded tokens [B, N, D]; the layers update them in place.</param>
/// <param name="Rotary">The RoPE rows of the token grid.</param>
/// <param name="Captions">The generation's caption context: temb's caption half, the caption mask and every layer's
/// cross-attention keys and values, computed once (<see cref="LuminaNextDiT2DModel.PrepareCaptions"/>).</param>
/// <param name="SiluTemb">SiLU(temb), shared by every layer's modulation and by <c>norm_out</c>.</param>
/// <param name="BaseSequenceLength">Proportional-attention base; null = off.</param>
/// <param name="Height">Latent height (unpatchify's output size).</param>
/// <param name="Width">Latent width.</param>
public sealed record LuminaEmbeddedStep(Tensor Image, LuminaRotary Rotary, LuminaCaptionContext Captions, Tensor SiluTemb,
    int? BaseSequenceLength, int Height, int Width);
