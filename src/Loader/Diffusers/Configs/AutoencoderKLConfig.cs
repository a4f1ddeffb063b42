using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// <c>AutoencoderKL</c> config (diffusers autoencoder_kl.py): the SD3 / FLUX VAE (16 latent channels, shift
/// factor, no quant convs) and the SDXL VAE used by Lumina-Next (4 channels, quant convs). Defaults are
/// diffusers' constructor defaults. Only what the decoder and the pipelines' latent un-scaling read is
/// validated; encoder-only fields (<c>down_block_types</c>, <c>in_channels</c>) are kept for reference.
/// </summary>
public sealed record AutoencoderKLConfig
{
    public const string ClassName = "AutoencoderKL";

    /// <summary>The only decoder block diffusers' VAEs use ("UNetRes" prefixes are stripped, as get_up_block does).</summary>
    public const string UpDecoderBlock = "UpDecoderBlock2D";

    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public int LatentChannels { get; init; } = 4;
    public int[] BlockOutChannels { get; init; } = [64];
    /// <summary>Resnets per encoder block; decoder up blocks have one more.</summary>
    public int LayersPerBlock { get; init; } = 1;
    /// <summary>"silu" (or its alias "swish"): the resnets' activation. The decoder's conv_act is always SiLU.</summary>
    public string ActFn { get; init; } = "silu";
    public int NormNumGroups { get; init; } = 32;
    /// <summary>One size or (height, width); diffusers uses it only for tiled decoding.</summary>
    public int[] SampleSize { get; init; } = [32];
    public string[] DownBlockTypes { get; init; } = ["DownEncoderBlock2D"];
    public string[] UpBlockTypes { get; init; } = [UpDecoderBlock];
    public double ScalingFactor { get; init; } = 0.18215;
    /// <summary>SD3 / FLUX add it after un-scaling; null for the SDXL VAE.</summary>
    public double? ShiftFactor { get; init; }
    /// <summary>Per-channel latent statistics (SDXL pipeline: <c>z·std/sf + mean</c>); both or neither.</summary>
    public double[]? LatentsMean { get; init; }
    public double[]? LatentsStd { get; init; }
    /// <summary>Only matters for fp16 (the SDXL VAE overflows); the engine runs the VAE in bf16 or fp32.</summary>
    public bool ForceUpcast { get; init; } = true;
    public bool UseQuantConv { get; init; } = true;
    public bool UsePostQuantConv { get; init; } = true;
    public bool MidBlockAddAttention { get; init; } = true;

    /// <summary>Resnets per decoder up block (<c>layers_per_block + 1</c>, as vae.py's Decoder builds them).</summary>
    public int ResnetsPerUpBlock => LayersPerBlock + 1;

    /// <summary>Image pixels per latent pixel: 2^(upsampling blocks).</summary>
    public int SpatialScale => 1 << (BlockOutChannels.Length - 1);

    public static AutoencoderKLConfig From(JsonConfig c)
    {
        var d = new AutoencoderKLConfig();
        var cfg = new AutoencoderKLConfig
        {
            InChannels = c.GetInt("in_channels", d.InChannels),
            OutChannels = c.GetInt("out_channels", d.OutChannels),
            LatentChannels = c.GetInt("latent_channels", d.LatentChannels),
            BlockOutChannels = c.GetIntArray("block_out_channels", d.BlockOutChannels),
            LayersPerBlock = c.GetInt("layers_per_block", d.LayersPerBlock),
            ActFn = c.GetChoice("act_fn", d.ActFn, "silu", "swish")!,
            NormNumGroups = c.GetInt("norm_num_groups", d.NormNumGroups),
            SampleSize = ReadSampleSize(c, d.SampleSize),
            DownBlockTypes = c.GetStringArray("down_block_types", d.DownBlockTypes),
            UpBlockTypes = c.GetStringArray("up_block_types", d.UpBlockTypes),
            ScalingFactor = c.GetDouble("scaling_factor", d.ScalingFactor),
            ShiftFactor = c.GetOptionalDouble("shift_factor"),
            LatentsMean = c.GetOptionalDoubleArray("latents_mean"),
            LatentsStd = c.GetOptionalDoubleArray("latents_std"),
            ForceUpcast = c.GetBool("force_upcast", d.ForceUpcast),
            UseQuantConv = c.GetBool("use_quant_conv", d.UseQuantConv),
            UsePostQuantConv = c.GetBool("use_post_quant_conv", d.UsePostQuantConv),
            MidBlockAddAttention = c.GetBool("mid_block_add_attention", d.MidBlockAddAttention),
        };
        cfg.Validate(c);
        return cfg;
    }

    private void Validate(JsonConfig c)
    {
        c.RequirePositive("out_channels", OutChannels);
        c.RequirePositive("latent_channels", LatentChannels);
        c.RequirePositive("norm_num_groups", NormNumGroups);
        if (LayersPerBlock < 0)
            throw c.Unsupported("layers_per_block", LayersPerBlock, "it must be 0 or more");
        if (BlockOutChannels.Length == 0 || BlockOutChannels.Any(ch => ch <= 0))
            throw c.Unsupported("block_out_channels", BlockOutChannels, "it needs at least one positive channel count");
        // Every GroupNorm of the decoder normalises one of these widths (resnets, mid attention, conv_norm_out).
        foreach (int ch in BlockOutChannels)
            if (ch % NormNumGroups != 0)
                throw c.Unsupported("norm_num_groups", NormNumGroups, $"block_out_channels entry {ch} is not divisible by it");
        // vae.py's Decoder pairs up block i with reversed(block_out_channels)[i] and adds no upsampler to block
        // len(block_out_channels) − 1 only; any other count leaves conv_norm_out with the wrong width.
        if (UpBlockTypes.Length != BlockOutChannels.Length)
            throw c.Unsupported("up_block_types", UpBlockTypes,
                $"it needs one entry per block_out_channels entry ({BlockOutChannels.Length})");
        foreach (string type in UpBlockTypes)
            if (StripResPrefix(type) != UpDecoderBlock)
                throw c.Unsupported("up_block_types", UpBlockTypes, $"\"{type}\" is not implemented; supported: \"{UpDecoderBlock}\"");
        // Latents are divided by scaling_factor (and shifted) before decoding, in float32: far outside what VAEs use the
        // decoder input overflows or drowns in rounding, which would surface as a non-finite image, not as this field.
        if (!(Math.Abs(ScalingFactor) >= InputLimits.MinVaeScalingFactor && Math.Abs(ScalingFactor) <= InputLimits.MaxVaeScalingFactor))
            throw c.Unsupported("scaling_factor", ScalingFactor,
                $"its magnitude must lie in {InputLimits.MinVaeScalingFactor}…{InputLimits.MaxVaeScalingFactor}: latents are divided by it " +
                "before decoding, and released VAEs use 0.13–1.6");
        if (ShiftFactor is double shift && !(Math.Abs(shift) <= InputLimits.MaxVaeShiftFactor))
            throw c.Unsupported("shift_factor", shift,
                $"its magnitude must be at most {InputLimits.MaxVaeShiftFactor}: it is added to the un-scaled latents, and released VAEs use 0.06–0.16");
        // diffusers' SDXL pipeline uses the statistics only when both are set; one alone is a broken config.
        if ((LatentsMean is null) != (LatentsStd is null))
            throw c.Unsupported(LatentsMean is null ? "latents_std" : "latents_mean", LatentsMean ?? LatentsStd,
                $"it is only meaningful together with {(LatentsMean is null ? "latents_mean" : "latents_std")}, which is null");
        CheckPerChannel(c, "latents_mean", LatentsMean);
        CheckPerChannel(c, "latents_std", LatentsStd);
    }

    private void CheckPerChannel(JsonConfig c, string field, double[]? values)
    {
        if (values is null) return;
        if (values.Length != LatentChannels)
            throw c.Unsupported(field, values, $"it needs one value per latent channel ({LatentChannels})");
        if (values.Any(v => !double.IsFinite(v)))
            throw c.Unsupported(field, values, "every value must be finite");
    }

    private static string StripResPrefix(string type) => type.StartsWith("UNetRes", StringComparison.Ordinal) ? type[7..] : type;

    /// <summary>diffusers accepts an int or a (height, width) list.</summary>
    private static int[] ReadSampleSize(JsonConfig c, int[] defaultValue)
    {
        try
        {
            return c.Has("sample_size") ? [c.GetInt("sample_size")] : defaultValue;
        }
        catch (ConfigException)
        {
            return c.GetIntArray("sample_size");
        }
    }
}
