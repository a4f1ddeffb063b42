using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>AutoencoderKL config.json parsing: diffusers' defaults, and errors that name the field.</summary>
public class VaeConfigTests
{
    private static AutoencoderKLConfig Parse(string json) => AutoencoderKLConfig.From(JsonConfig.Parse("vae/config.json", json));

    [Fact]
    public void Missing_fields_take_the_diffusers_constructor_defaults()
    {
        var c = Parse("""{"_class_name": "AutoencoderKL"}""");
        Assert.Equal([64], c.BlockOutChannels);
        Assert.Equal(1, c.LayersPerBlock);
        Assert.Equal(2, c.ResnetsPerUpBlock);
        Assert.Equal(4, c.LatentChannels);
        Assert.Equal(32, c.NormNumGroups);
        Assert.Equal(0.18215, c.ScalingFactor);
        Assert.Null(c.ShiftFactor);
        Assert.Null(c.LatentsMean);
        Assert.True(c.UsePostQuantConv);
        Assert.True(c.MidBlockAddAttention);
        Assert.Equal(1, c.SpatialScale);
    }

    [Fact]
    public void Real_sd3_vae_config_parses()
    {
        var c = Parse("""
            {"_class_name": "AutoencoderKL", "_diffusers_version": "0.29.0.dev0", "act_fn": "silu",
             "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D"],
             "force_upcast": true, "in_channels": 3, "latent_channels": 16, "latents_mean": null, "latents_std": null,
             "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3, "sample_size": 1024, "scaling_factor": 1.5305,
             "shift_factor": 0.0609, "up_block_types": ["UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D"],
             "use_post_quant_conv": false, "use_quant_conv": false, "some_future_field": 1}
            """);
        Assert.Equal(16, c.LatentChannels);
        Assert.Equal(3, c.ResnetsPerUpBlock);
        Assert.Equal(8, c.SpatialScale);
        Assert.Equal(0.0609, c.ShiftFactor);
        Assert.False(c.UsePostQuantConv);
        Assert.Equal([1024], c.SampleSize);
    }

    [Fact]
    public void Sdxl_statistics_and_list_sample_size_parse()
    {
        var c = Parse("""
            {"latent_channels": 2, "block_out_channels": [32], "latents_mean": [0.5, -1], "latents_std": [2, 0.25],
             "sample_size": [64, 96], "act_fn": "swish", "up_block_types": ["UNetResUpDecoderBlock2D"]}
            """);
        Assert.Equal([0.5, -1.0], c.LatentsMean!);
        Assert.Equal([2.0, 0.25], c.LatentsStd!);
        Assert.Equal([64, 96], c.SampleSize);
        Assert.Equal("swish", c.ActFn);
    }

    [Theory]
    [InlineData("""{"act_fn": "gelu"}""", "act_fn")]
    [InlineData("""{"up_block_types": ["AttnUpDecoderBlock2D"]}""", "up_block_types")]
    [InlineData("""{"block_out_channels": [32, 64], "up_block_types": ["UpDecoderBlock2D"]}""", "up_block_types")]
    [InlineData("""{"block_out_channels": [48], "norm_num_groups": 32}""", "norm_num_groups")]
    [InlineData("""{"block_out_channels": []}""", "block_out_channels")]
    [InlineData("""{"block_out_channels": [0]}""", "block_out_channels")]
    [InlineData("""{"layers_per_block": -1}""", "layers_per_block")]
    [InlineData("""{"latent_channels": 0}""", "latent_channels")]
    [InlineData("""{"scaling_factor": 0}""", "scaling_factor")]
    [InlineData("""{"scaling_factor": "big"}""", "scaling_factor")]
    [InlineData("""{"latents_mean": [0, 0, 0, 0]}""", "latents_mean")]
    [InlineData("""{"latents_std": [1, 1, 1, 1]}""", "latents_std")]
    [InlineData("""{"latents_mean": [0, 0], "latents_std": [1, 1]}""", "latents_mean")]
    [InlineData("""{"latents_mean": [0, 0, 0, "x"], "latents_std": [1, 1, 1, 1]}""", "latents_mean")]
    [InlineData("""{"use_post_quant_conv": "yes"}""", "use_post_quant_conv")]
    public void Unsupported_or_malformed_values_name_the_field(string json, string field)
    {
        var ex = Assert.Throws<ConfigException>(() => Parse(json));
        Assert.Equal(field, ex.Field);
        Assert.Contains("vae/config.json", ex.Message);
    }
}
