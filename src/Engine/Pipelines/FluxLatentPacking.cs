using AccelAes.Engine.Models;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>
/// FluxPipeline's latent layout helpers. The transformer sees one token per 2×2 latent patch, features in
/// (c, ph, pw) order both ways (architectures.md §0.3 / §4.4): <c>_pack_latents</c> is
/// <c>view(B, C, H/2, 2, W/2, 2).permute(0, 2, 4, 1, 3, 5)</c>, which is the op set's
/// <see cref="PatchLayout.ChannelMajor"/> patchify with p = 2; <c>_unpack_latents</c> is its inverse.
/// </summary>
public static class FluxLatentPacking
{
    /// <summary>Side of the square patch packed into one token.</summary>
    public const int PatchSize = 2;

    /// <summary><c>_pack_latents</c>: latents [B, C, H, W] (H, W even) → tokens [B, (H/2)·(W/2), 4·C].</summary>
    public static Tensor Pack(Tensor latents)
    {
        ModelInputs.Require(latents.Shape.Rank == 4 && latents.Shape[2] % PatchSize == 0 && latents.Shape[3] % PatchSize == 0,
            "latents", latents.Shape, "[B, C, H, W] with even H and W (FLUX packs 2×2 latent patches)");
        return latents.Backend.Patchify(latents, PatchSize, PatchLayout.ChannelMajor);
    }

    /// <summary>Inverse of <see cref="Pack"/> for a latent of <paramref name="latentHeight"/>×<paramref name="latentWidth"/> (both even).</summary>
    public static Tensor Unpack(Tensor packed, int latentHeight, int latentWidth)
    {
        if (latentHeight <= 0 || latentWidth <= 0 || latentHeight % PatchSize != 0 || latentWidth % PatchSize != 0)
            throw new AccelAesException($"A packed FLUX latent unpacks to an even, positive size; got {latentHeight}×{latentWidth}.");
        int tokens = latentHeight / PatchSize * (latentWidth / PatchSize);
        ModelInputs.Require(packed.Shape.Rank == 3 && packed.Shape[1] == tokens && packed.Shape[2] % (PatchSize * PatchSize) == 0,
            "latents", packed.Shape, $"[B, {tokens}, 4·C] for a {latentHeight}×{latentWidth} latent");
        int channels = packed.Shape[2] / (PatchSize * PatchSize);
        return packed.Backend.Unpatchify(packed, channels, latentHeight, latentWidth, PatchSize, PatchLayout.ChannelMajor);
    }

    /// <summary>
    /// <c>_unpack_latents(latents, height, width, vae_scale_factor)</c>: the image size in pixels, rounded down to
    /// whole packed tokens exactly as diffusers does (2·⌊size / (2·vae_scale_factor)⌋ latent rows / columns).
    /// </summary>
    public static Tensor UnpackFromImageSize(Tensor packed, int height, int width, int vaeScaleFactor = FluxPipeline.VaeScaleFactor)
    {
        var (gridHeight, gridWidth) = TokenGrid(height, width, vaeScaleFactor);
        return Unpack(packed, PatchSize * gridHeight, PatchSize * gridWidth);
    }

    /// <summary>The packed token grid of an image: (⌊height / (2·vae_scale_factor)⌋, ⌊width / (2·vae_scale_factor)⌋).</summary>
    public static (int Height, int Width) TokenGrid(int height, int width, int vaeScaleFactor = FluxPipeline.VaeScaleFactor)
        => (height / (vaeScaleFactor * PatchSize), width / (vaeScaleFactor * PatchSize));

    /// <summary>
    /// <c>_prepare_latent_image_ids(height, width)</c> over the packed grid: row-major [h·w, 3] of (0, row, column).
    /// </summary>
    public static float[] LatentImageIds(int gridHeight, int gridWidth)
    {
        var ids = new float[gridHeight * gridWidth * 3];
        for (int r = 0; r < gridHeight; r++)
            for (int c = 0; c < gridWidth; c++)
            {
                int o = (r * gridWidth + c) * 3;
                ids[o + 1] = r;
                ids[o + 2] = c;
            }
        return ids;
    }

    /// <summary>FluxPipeline's <c>text_ids</c>: zeros [L, 3] (text tokens are never rotated).</summary>
    public static float[] TextIds(int textTokens) => new float[textTokens * 3];

    /// <summary>
    /// The rotary table of cat(text_ids, latent_image_ids) the pipeline's every step uses, computed on the host once and
    /// uploaded: the transformer's ids overload would read the ids back every forward, which a CUDA graph cannot hold.
    /// </summary>
    public static FluxRotaryTable RotaryTable(FluxTransformer2DModel model, IBackend backend, int textTokens, int gridHeight, int gridWidth)
    {
        float[] ids = [.. TextIds(textTokens), .. LatentImageIds(gridHeight, gridWidth)];
        int tokens = textTokens + gridHeight * gridWidth;
        var (cos, sin) = model.PosEmbed.Compute(ids, tokens);
        var shape = new Shape(tokens, model.PosEmbed.Pairs);
        return new FluxRotaryTable(backend.Upload(cos, shape), backend.Upload(sin, shape));
    }
}
