using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Vae;

/// <summary>
/// The decoding half of diffusers <c>AutoencoderKL</c> (autoencoder_kl.py): <c>decode(z)</c> =
/// <c>post_quant_conv</c> (1×1, when <c>use_post_quant_conv</c>) then <see cref="AutoencoderKLDecoder"/>.
/// Text-to-image never encodes, so <c>encoder.*</c> and <c>quant_conv.*</c> are not loaded
/// (<see cref="IsEncoderTensor"/>). No tiling or slicing: every latent size and batch decodes in one pass.
/// The latent un-scaling the pipelines apply before <c>decode</c> is in <c>Pipelines.VaeDecoding</c>.
/// </summary>
public sealed class AutoencoderKL
{
    private readonly Conv2dLayer? _postQuantConv;
    private readonly AutoencoderKLDecoder _decoder;

    public AutoencoderKL(WeightReader w, AutoencoderKLConfig config)
    {
        Config = config;
        if (config.UsePostQuantConv)
            _postQuantConv = Conv2dLayer.Load(w, "post_quant_conv", config.LatentChannels, config.LatentChannels, kernel: 1);
        _decoder = new AutoencoderKLDecoder(w.Scope("decoder"), config);
    }

    public AutoencoderKLConfig Config { get; }

    /// <summary>Tensors of the encoding half, which a decode-only model leaves in the checkpoint on purpose.</summary>
    public static bool IsEncoderTensor(string name)
        => name.StartsWith("encoder.", StringComparison.Ordinal) || name.StartsWith("quant_conv.", StringComparison.Ordinal);

    /// <param name="z">Decoder input [B, latent_channels, h, w]: latents already un-scaled by the pipeline.</param>
    /// <returns>The image [B, out_channels, h·s, w·s] (s = 2^(len(block_out_channels) − 1)), roughly in [−1, 1].</returns>
    public Tensor Decode(Tensor z)
    {
        ModelInputs.Require(z.Shape.Rank == 4 && z.Shape[1] == Config.LatentChannels && z.Shape[0] > 0 && z.Shape[2] > 0 && z.Shape[3] > 0,
            "z", z.Shape, $"[B, {Config.LatentChannels}, h, w] with B, h, w ≥ 1");
        Tensor sample = _postQuantConv?.Forward(z) ?? z;
        return _decoder.Forward(sample);
    }
}
