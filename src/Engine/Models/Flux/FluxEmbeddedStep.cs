using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Flux;

/// <summary>What one FLUX forward computes before its first block (<see cref="FluxTransformer2DModel.Embed"/>).</summary>
/// <param name="Image"><c>x_embedder</c>(latent tokens) [B, N, D]; the blocks update it in place.</param>
/// <param name="Text"><c>context_embedder</c>(T5 states) [B, L, D]; the blocks update it in place.</param>
/// <param name="SiluTemb">SiLU(temb) [B, D], shared by every block's modulation and by <c>norm_out</c>.</param>
public sealed record FluxEmbeddedStep(Tensor Image, Tensor Text, Tensor SiluTemb);
