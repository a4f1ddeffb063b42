using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>FluxTransformerConfig reads the published FLUX.1 configs and refuses what the model cannot run, naming the field.</summary>
public class FluxConfigTests
{
    // black-forest-labs/FLUX.1-dev transformer/config.json (architectures.md §1.2).
    private const string Dev = """
        {"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.30.0.dev0", "attention_head_dim": 128,
         "guidance_embeds": true, "in_channels": 64, "joint_attention_dim": 4096, "num_attention_heads": 24,
         "num_layers": 19, "num_single_layers": 38, "out_channels": null, "patch_size": 1, "pooled_projection_dim": 768}
        """;

    // black-forest-labs/FLUX.1-schnell transformer/config.json: the same but without the guidance embedder.
    private const string Schnell = """
        {"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.30.0.dev0", "attention_head_dim": 128,
         "guidance_embeds": false, "in_channels": 64, "joint_attention_dim": 4096, "num_attention_heads": 24,
         "num_layers": 19, "num_single_layers": 38, "out_channels": null, "patch_size": 1, "pooled_projection_dim": 768}
        """;

    private static FluxTransformerConfig Parse(string json) => FluxTransformerConfig.From(JsonConfig.Parse("config.json", json));

    [Fact]
    public void Flux1_dev_config_loads_with_diffusers_defaults_filled_in()
    {
        var c = Parse(Dev);
        Assert.True(c.GuidanceEmbeds);
        Assert.Equal(3072, c.InnerDim);
        Assert.Equal(64, c.OutChannels);
        Assert.Equal(64, c.OutputTokenWidth);
        Assert.Equal([16, 56, 56], c.AxesDimsRope);
        Assert.Equal((19, 38), (c.NumLayers, c.NumSingleLayers));
    }

    [Fact]
    public void Flux1_schnell_config_loads_without_guidance()
    {
        var c = Parse(Schnell);
        Assert.False(c.GuidanceEmbeds);
        Assert.Equal(768, c.PooledProjectionDim);
    }

    [Fact]
    public void Empty_config_means_the_constructor_defaults()
    {
        var c = Parse("{}");
        Assert.Equal(new FluxTransformerConfig().InnerDim, c.InnerDim);
        Assert.False(c.GuidanceEmbeds); // diffusers' default is False; FLUX.1-dev sets it explicitly
        Assert.Equal(64, c.OutChannels);
    }

    [Theory]
    [InlineData("[4, 5, 7]", "even")]       // odd widths cannot be split into (cos, sin) pairs
    [InlineData("[4, 6, 8]", "sum to 18")]  // must cover the 16-wide head exactly
    [InlineData("[]", "at least one")]
    [InlineData("[-2, 10, 8]", "even and non-negative")]
    public void Bad_axes_dims_rope_names_the_field(string axes, string reason)
    {
        var ex = Assert.Throws<ConfigException>(() => Parse($$"""{"attention_head_dim": 16, "num_attention_heads": 2, "axes_dims_rope": {{axes}}}"""));
        Assert.Equal("axes_dims_rope", ex.Field);
        Assert.Contains(reason, ex.Message);
    }

    [Theory]
    [InlineData("num_attention_heads", "0")]
    [InlineData("in_channels", "-4")]
    [InlineData("patch_size", "0")]
    [InlineData("num_single_layers", "-1")]
    public void Non_positive_sizes_name_the_field(string field, string value)
    {
        var ex = Assert.Throws<ConfigException>(() => Parse($$"""{"attention_head_dim": 16, "axes_dims_rope": [4, 6, 6], "{{field}}": {{value}}}"""));
        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void Explicit_out_channels_and_patch_size_set_the_output_token_width()
    {
        var c = Parse("""{"in_channels": 384, "out_channels": 64, "patch_size": 1}""");
        Assert.Equal(384, c.InChannels);
        Assert.Equal(64, c.OutputTokenWidth);
        Assert.Equal(4 * 16, Parse("""{"in_channels": 64, "out_channels": 16, "patch_size": 2}""").OutputTokenWidth);
    }
}
