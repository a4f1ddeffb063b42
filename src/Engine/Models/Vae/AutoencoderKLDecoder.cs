using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Vae;

/// <summary>
/// diffusers <c>Decoder</c> (autoencoders/vae.py) with <c>norm_type="group"</c>: <c>conv_in</c> to the deepest
/// width, <see cref="UNetMidBlock2D"/>, one <see cref="UpDecoderBlock2D"/> per entry of reversed
/// <c>block_out_channels</c> (each ×2 but the last), then <c>conv_norm_out</c>, SiLU, <c>conv_out</c>.
/// Every GroupNorm uses <c>norm_num_groups</c> and eps 1e-6.
/// </summary>
public sealed class AutoencoderKLDecoder
{
    /// <summary>vae.py passes <c>resnet_eps=1e-6</c> everywhere and <c>eps=1e-6</c> to conv_norm_out.</summary>
    public const float NormEps = 1e-6f;

    private readonly Conv2dLayer _convIn;
    private readonly UNetMidBlock2D _midBlock;
    private readonly UpDecoderBlock2D[] _upBlocks;
    private readonly GroupNormLayer _convNormOut;
    private readonly Conv2dLayer _convOut;

    public AutoencoderKLDecoder(WeightReader w, AutoencoderKLConfig config)
    {
        int[] channels = config.BlockOutChannels;
        int groups = config.NormNumGroups;
        int deepest = channels[^1];
        _convIn = Conv2dLayer.Load(w, "conv_in", config.LatentChannels, deepest, kernel: 3);
        _midBlock = new UNetMidBlock2D(w.Scope("mid_block"), deepest, groups, NormEps, config.MidBlockAddAttention);

        _upBlocks = new UpDecoderBlock2D[config.UpBlockTypes.Length];
        int outChannels = deepest;
        for (int i = 0; i < _upBlocks.Length; i++)
        {
            int inChannels = outChannels;
            outChannels = channels[channels.Length - 1 - i];
            // diffusers: add_upsample = not is_final_block, is_final_block = i == len(block_out_channels) − 1.
            bool isFinalBlock = i == channels.Length - 1;
            _upBlocks[i] = new UpDecoderBlock2D(w.Scope($"up_blocks.{i}"), inChannels, outChannels, config.ResnetsPerUpBlock,
                groups, NormEps, addUpsample: !isFinalBlock);
        }

        _convNormOut = new GroupNormLayer(w, "conv_norm_out", channels[0], groups, NormEps);
        _convOut = Conv2dLayer.Load(w, "conv_out", channels[0], config.OutChannels, kernel: 3);
    }

    /// <summary>sample [B, latent_channels, h, w] (after post_quant_conv) → image [B, out_channels, h·2^k, w·2^k].</summary>
    public Tensor Forward(Tensor sample)
    {
        IBackend be = sample.Backend;
        Tensor h = _midBlock.Forward(_convIn.Forward(sample));
        foreach (var block in _upBlocks) h = block.Forward(h);
        // conv_act is nn.SiLU() whatever act_fn says.
        return _convOut.Forward(be.Activate(_convNormOut.Forward(h), Activation.Silu));
    }
}
