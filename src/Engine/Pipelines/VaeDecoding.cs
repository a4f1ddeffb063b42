using AccelAes.Engine.Models;
using AccelAes.Engine.Models.Vae;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Pipelines;

/// <summary>
/// The last stage of every text-to-image pipeline: denoised latents → VAE decoder input → decoded image →
/// 8-bit RGB, exactly as diffusers' pipelines and <c>VaeImageProcessor.postprocess(output_type="pil")</c> do it.
/// </summary>
public static class VaeDecoding
{
    /// <summary>
    /// The argument of <c>vae.decode</c> for denoised <paramref name="latents"/> [B, latent_channels, h, w]
    /// (FLUX: already unpacked), following the rule of the pipeline that uses a VAE with this config:
    /// <list type="bullet">
    /// <item>SD3 / SD3.5 / FLUX (a <c>shift_factor</c>): <c>z / scaling_factor + shift_factor</c>.</item>
    /// <item>SDXL (<c>latents_mean</c> and <c>latents_std</c>): <c>z · std / scaling_factor + mean</c>, per channel.</item>
    /// <item>Lumina-Next / SDXL without statistics (neither): <c>z / scaling_factor</c>.</item>
    /// </list>
    /// A config with both a shift and statistics is refused: no diffusers pipeline applies both, and which one
    /// ignores which depends on the pipeline.
    /// </summary>
    public static Tensor DecoderInputFromLatents(Tensor latents, AutoencoderKLConfig config)
    {
        ModelInputs.Require(latents.Shape.Rank == 4 && latents.Shape[1] == config.LatentChannels, "latents", latents.Shape,
            $"[B, {config.LatentChannels}, h, w] (the VAE's latent_channels)");
        IBackend be = latents.Backend;
        // torch divides the fp32 tensor by the scalar cast to fp32; multiplying by its reciprocal differs by ≤ 1 ulp.
        float inverseScale = 1f / (float)config.ScalingFactor;
        bool hasStatistics = config.LatentsMean is not null && config.LatentsStd is not null;
        if (hasStatistics && config.ShiftFactor is not null)
            throw new AccelAesException(
                "The VAE config sets both shift_factor and latents_mean / latents_std; SD3 / FLUX pipelines use only the shift " +
                "and the SDXL pipeline only the statistics, so how to un-scale the latents is ambiguous.");

        if (hasStatistics)
        {
            Tensor scaled = be.Scale(be.Multiply(latents, PerChannel(be, config.LatentsStd!, latents.Shape)), inverseScale);
            return be.Add(scaled, PerChannel(be, config.LatentsMean!, latents.Shape));
        }
        Tensor unscaled = be.Scale(latents, inverseScale);
        if (config.ShiftFactor is not double shift) return unscaled;
        // A row of the shift broadcasts over [B, C, h] (Add takes a trailing-shape operand).
        var row = new float[latents.Shape[3]];
        Array.Fill(row, (float)shift);
        return be.Add(unscaled, be.Upload(row, new Shape(row.Length)));
    }

    /// <summary>
    /// diffusers' postprocess to PIL: per pixel <c>round(clamp(x·0.5 + 0.5, 0, 1)·255)</c> in fp32, rounding half to
    /// even (numpy's <c>round</c>), as uint8. <paramref name="decoded"/> [B, 3, H, W] → one H·W·3 array per image,
    /// row-major, RGB interleaved (HWC).
    /// </summary>
    /// <exception cref="AccelAesException">The tensor is not [B, 3, H, W], or holds NaN (diffusers' uint8 cast of NaN is undefined).</exception>
    public static IReadOnlyList<byte[]> ToRgbBytes(Tensor decoded)
    {
        if (decoded.Shape.Rank != 4 || decoded.Shape[1] != 3)
            throw new AccelAesException($"A decoded image must be [B, 3, H, W] to become RGB bytes; got {decoded.Shape}.");
        int batch = decoded.Shape[0], height = decoded.Shape[2], width = decoded.Shape[3], plane = height * width;
        float[] values = decoded.Backend.Download(decoded);
        var images = new byte[batch][];
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<float> chw = values.AsSpan(b * 3 * plane, 3 * plane);
            var rgb = new byte[3 * plane];
            for (int c = 0; c < 3; c++)
            {
                ReadOnlySpan<float> channel = chw.Slice(c * plane, plane);
                for (int p = 0; p < plane; p++)
                {
                    float x = channel[p];
                    if (float.IsNaN(x))
                        throw new AccelAesException(
                            $"Decoded image {b} has NaN at channel {c}, pixel ({p / width}, {p % width}); the VAE output is not an image.");
                    rgb[3 * p + c] = ToByte(x);
                }
            }
            images[b] = rgb;
        }
        return images;
    }

    /// <summary>
    /// One decoded value in [−1, 1] → its 8-bit value, exactly as diffusers computes it; out-of-range values and ±∞
    /// clamp to 0 / 255. NaN gives 0 (.NET's saturating cast); <see cref="ToRgbBytes"/> refuses it instead.
    /// </summary>
    public static byte ToByte(float x)
    {
        // denormalize: (x * 0.5 + 0.5).clamp(0, 1); x·0.5 is exact, so fused or not, one rounding happens here.
        float unit = Math.Clamp(x * 0.5f + 0.5f, 0f, 1f);
        // numpy_to_pil: (images * 255).round().astype("uint8"), with float32 images and round half to even.
        return (byte)MathF.Round(unit * 255f, MidpointRounding.ToEven);
    }

    /// <summary>Un-scales, decodes and converts to RGB bytes: the whole tail of a text-to-image pipeline.</summary>
    public static IReadOnlyList<byte[]> DecodeToRgbBytes(AutoencoderKL vae, Tensor latents)
        => ToRgbBytes(vae.Decode(DecoderInputFromLatents(latents, vae.Config)));

    /// <summary>A per-channel constant as a [C, h, w] tensor, which broadcasts over the batch.</summary>
    private static Tensor PerChannel(IBackend be, double[] perChannel, Shape latentShape)
    {
        int channels = latentShape[1], plane = latentShape[2] * latentShape[3];
        var values = new float[channels * plane];
        for (int c = 0; c < channels; c++)
            values.AsSpan(c * plane, plane).Fill((float)perChannel[c]);
        return be.Upload(values, new Shape(channels, latentShape[2], latentShape[3]));
    }
}
