using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>Reading transformers' CLIPTextConfig, T5Config and GemmaConfig: defaults, derived fields, refusals naming the field.</summary>
public class TextEncoderConfigTests
{
    private static JsonConfig Json(string json) => JsonConfig.Parse("<test config.json>", json);

    [Fact]
    public void Clip_defaults_are_the_transformers_constructor_defaults()
    {
        var c = ClipTextConfig.From(Json("""{"architectures": ["CLIPTextModel"]}"""));
        Assert.Equal((49408, 512, 2048, 512, 12, 8, 77, "quick_gelu", 1e-5, 49407),
            (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.ProjectionDim, c.NumHiddenLayers, c.NumAttentionHeads,
             c.MaxPositionEmbeddings, c.HiddenAct, c.LayerNormEps, c.EosTokenId));
    }

    [Fact]
    public void Clip_refusals_name_the_field()
    {
        var act = Assert.Throws<ConfigException>(() => ClipTextConfig.From(Json("""{"hidden_act": "gelu_accurate"}""")));
        Assert.Equal("hidden_act", act.Field);
        var heads = Assert.Throws<ConfigException>(() => ClipTextConfig.From(Json("""{"hidden_size": 30, "num_attention_heads": 4}""")));
        Assert.Equal("num_attention_heads", heads.Field);
        Assert.Equal("eos_token_id", Assert.Throws<ConfigException>(() => ClipTextConfig.From(Json("""{"eos_token_id": [2, 3]}"""))).Field);
    }

    [Theory]
    [InlineData("relu", "relu", false)]
    [InlineData("gated-gelu", "gelu_new", true)]
    [InlineData("gated-silu", "silu", true)]
    [InlineData("gelu", "gelu", false)]
    public void T5_feed_forward_proj_derives_the_activation_as_T5Config_does(string proj, string act, bool gated)
    {
        var c = T5Config.From(Json($$"""{"feed_forward_proj": "{{proj}}"}"""));
        Assert.Equal((act, gated), (c.DenseActFn, c.IsGatedAct));
    }

    [Fact]
    public void T5_saved_dense_act_fn_and_is_gated_act_win_as_in_PretrainedConfig()
    {
        var c = T5Config.From(Json("""{"feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_pytorch_tanh", "is_gated_act": true}"""));
        Assert.Equal(("gelu_pytorch_tanh", true), (c.DenseActFn, c.IsGatedAct));
    }

    [Fact]
    public void T5_defaults_and_refusals()
    {
        var c = T5Config.From(Json("{}"));
        Assert.Equal((32128, 512, 64, 2048, 6, 8, 32, 128, 1e-6, "relu", false),
            (c.VocabSize, c.DModel, c.DKv, c.DFf, c.NumLayers, c.NumHeads, c.RelativeAttentionNumBuckets,
             c.RelativeAttentionMaxDistance, c.LayerNormEpsilon, c.DenseActFn, c.IsGatedAct));
        Assert.Equal("feed_forward_proj", Assert.Throws<ConfigException>(() => T5Config.From(Json("""{"feed_forward_proj": "very-gated-gelu"}"""))).Field);
        Assert.Equal("feed_forward_proj", Assert.Throws<ConfigException>(() => T5Config.From(Json("""{"feed_forward_proj": "gated-mish"}"""))).Field);
        Assert.Equal("relative_attention_num_buckets",
            Assert.Throws<ConfigException>(() => T5Config.From(Json("""{"relative_attention_num_buckets": 2}"""))).Field);
    }

    [Fact]
    public void Gemma_null_hidden_activation_means_gelu_pytorch_tanh_whatever_hidden_act_says()
    {
        var c = GemmaConfig.From(Json("""{"hidden_act": "gelu", "hidden_activation": null}"""));
        Assert.Equal("gelu_pytorch_tanh", c.HiddenActivation);
        Assert.Equal("gelu", GemmaConfig.From(Json("""{"hidden_activation": "gelu"}""")).HiddenActivation);
    }

    [Fact]
    public void Gemma_defaults_and_refusals()
    {
        var c = GemmaConfig.From(Json("{}"));
        Assert.Equal((256000, 3072, 24576, 28, 16, 16, 256, 1e-6, 10000.0, false),
            (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads,
             c.HeadDim, c.RmsNormEps, c.RopeTheta, c.AttentionBias));
        Assert.Equal("num_key_value_heads", Assert.Throws<ConfigException>(() => GemmaConfig.From(Json("""{"num_key_value_heads": 3}"""))).Field);
        Assert.Equal("head_dim", Assert.Throws<ConfigException>(() => GemmaConfig.From(Json("""{"head_dim": 7}"""))).Field);
        Assert.Equal("rope_scaling", Assert.Throws<ConfigException>(() => GemmaConfig.From(Json("""{"rope_scaling": {"type": "linear", "factor": 2}}"""))).Field);
    }
}
