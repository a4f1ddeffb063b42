using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>Properties of the Lumina-Next transformer that hold for any weights: config rules, batching, the
/// pipeline-derived RoPE / proportional-attention choices, and errors that name the bad input.</summary>
public class LuminaModelTests
{
    private readonly CpuBackend _cpu = new();

    /// <summary>Lumina-Next-SFT's transformer/config.json (architectures.md §1.3).</summary>
    private const string SftConfig = """
        {"_class_name": "LuminaNextDiT2DModel", "_diffusers_version": "0.30.0.dev0", "cross_attention_dim": 2048,
         "ffn_dim_multiplier": null, "hidden_size": 2304, "in_channels": 4, "learn_sigma": true, "multiple_of": 256,
         "norm_eps": 1e-05, "num_attention_heads": 32, "num_kv_heads": 8, "num_layers": 24, "patch_size": 2,
         "qk_norm": true, "sample_size": 128, "scaling_factor": 1.0}
        """;

    private static LuminaNextDiTConfig Tiny => new()
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, HiddenSize = 32, NumLayers = 2, NumAttentionHeads = 2, NumKvHeads = 1,
        MultipleOf = 16, LearnSigma = true, QkNorm = true, CrossAttentionDim = 12,
    };

    private LuminaNextDiT2DModel TinyModel(int seed = 3) => new(new WeightReader(new RandomWeightSource(seed), _cpu), Tiny);

    [Fact]
    public void Lumina_Next_SFT_config_derives_the_published_dimensions()
    {
        var c = LuminaNextDiTConfig.From(JsonConfig.Parse("sft/config.json", SftConfig));
        Assert.Equal(72, c.HeadDim);
        Assert.Equal(8, c.KvHeads);
        Assert.Equal(576, c.KvDim);
        Assert.Equal(6144, c.FfnInnerDim);
        Assert.Equal(1024, c.ConditioningDim);
        Assert.Equal(8, c.OutChannels);
        Assert.Equal(1024, LuminaResolutionScaling.DefaultImageSize(c));
        Assert.Equal(4096, LuminaResolutionScaling.DefaultBaseSequenceLength(c));
    }

    [Fact]
    public void Absent_fields_take_the_diffusers_constructor_defaults()
    {
        var c = LuminaNextDiTConfig.From(JsonConfig.Parse("c.json", """{"_class_name": "LuminaNextDiT2DModel", "unknown_key": 5}"""));
        Assert.Equal(new LuminaNextDiTConfig(), c);
        Assert.Equal(32, c.NumLayers);
        Assert.Null(c.NumKvHeads);
        Assert.Equal(32, c.KvHeads); // None → as many as the query heads
        Assert.Equal(6144, c.FfnInnerDim);
    }

    [Fact]
    public void Ffn_width_follows_LuminaFeedForward_rounding()
    {
        Assert.Equal(176, (Tiny with { HiddenSize = 64 }).FfnInnerDim);                       // int(512/3) = 170 → 176
        Assert.Equal(3072, (Tiny with { HiddenSize = 1152, MultipleOf = 256 }).FfnInnerDim);
        Assert.Equal(256, (Tiny with { HiddenSize = 64, FfnDimMultiplier = 1.5 }).FfnInnerDim); // int(1.5·170) = 255 → 256
    }

    [Theory]
    [InlineData("num_kv_heads", """ "num_attention_heads": 32, "num_kv_heads": 3 """)]
    [InlineData("hidden_size", """ "hidden_size": 2300, "num_attention_heads": 32 """)]
    [InlineData("norm_eps", """ "norm_eps": 0 """)]
    [InlineData("patch_size", """ "patch_size": 0 """)]
    [InlineData("sample_size", """ "sample_size": 2 """)]
    [InlineData("ffn_dim_multiplier", """ "ffn_dim_multiplier": -1.0 """)]
    public void Unsupported_config_values_name_the_field(string field, string json)
    {
        var ex = Assert.Throws<ConfigException>(() => LuminaNextDiTConfig.From(JsonConfig.Parse("c.json", "{" + json + "}")));
        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void Batch_items_are_independent()
    {
        var model = TinyModel();
        var inputs = LuminaReferenceInputs.Create(Tiny, 2, 6, 10, 5, seed: 1);
        var table = LuminaRotaryTable.Create(Tiny.HeadDim, 3, 5, 1.2, 1.0);
        float[] both = _cpu.Download(model.Forward(inputs.Latents(_cpu), inputs.Timesteps(_cpu), inputs.Captions(_cpu), inputs.MaskTensor(_cpu), table, 64));
        int item = Tiny.OutChannels * 6 * 10, latent = 4 * 6 * 10, caption = 5 * 12;
        float[] second = _cpu.Download(model.Forward(
            _cpu.Upload(inputs.Latent.AsSpan(latent, latent), new Shape(1, 4, 6, 10)), _cpu.Upload(inputs.Timestep.AsSpan(1, 1), new Shape(1)),
            _cpu.Upload(inputs.Caption.AsSpan(caption, caption), new Shape(1, 5, 12)), _cpu.Upload(inputs.Mask.AsSpan(5, 5), new Shape(1, 5)),
            table, 64));
        TestData.AssertClose(second, both.AsSpan(item, item), 1e-5, "batch item 1 alone vs in a batch of 2");
        Assert.True(TestData.MaxAbsDiff(both.AsSpan(0, item), both.AsSpan(item, item)) > 1e-3, "different inputs must give different outputs");
    }

    [Fact]
    public void Resolution_scaling_follows_the_pipeline()
    {
        var sft = LuminaNextDiTConfig.From(JsonConfig.Parse("sft/config.json", SftConfig));
        var at1024 = LuminaResolutionScaling.ForPipeline(sft, 128, 128, 0f);
        Assert.Equal(new LuminaResolutionScaling(1.0, 1.0, 4096), at1024);

        // 768×1536 px: scaling_factor = √(768·1536)/1024; linear while t < watershed, NTK from it on.
        double s = Math.Sqrt(768.0 * 1536) / 1024;
        Assert.Equal(new LuminaResolutionScaling(s, 1.0, 4096), LuminaResolutionScaling.ForPipeline(sft, 96, 192, 0.999f));
        Assert.Equal(new LuminaResolutionScaling(1.0, s, 4096), LuminaResolutionScaling.ForPipeline(sft, 96, 192, 1f));
        Assert.Equal(new LuminaResolutionScaling(1.0, s, null),
            LuminaResolutionScaling.ForPipeline(sft, 96, 192, 0.5f, scalingWatershed: 0.3, proportionalAttention: false));
    }

    [Fact]
    public void Rope_table_interleaves_row_and_column_frequencies()
    {
        var table = LuminaRotaryTable.Create(16, 3, 4, linearFactor: 2.0, ntkFactor: 3.0);
        double[] omega = [.. Enumerable.Range(0, 4).Select(j => 1 / Math.Pow(30000, 2.0 * j / 8) / 2)];
        int token = 2 * 4 + 3; // row 2, column 3
        for (int j = 0; j < 4; j++)
        {
            Assert.Equal(Math.Cos(2 * omega[j]), table.Cos[token * 8 + 2 * j], 5);
            Assert.Equal(Math.Sin(2 * omega[j]), table.Sin[token * 8 + 2 * j], 5);
            Assert.Equal(Math.Cos(3 * omega[j]), table.Cos[token * 8 + 2 * j + 1], 5);
            Assert.Equal(Math.Sin(3 * omega[j]), table.Sin[token * 8 + 2 * j + 1], 5);
        }
        var crop = table.Crop(2, 3);
        Assert.Equal(table.Cos.AsSpan(4 * 8, 3 * 8).ToArray(), crop.Cos.AsSpan(3 * 8, 3 * 8).ToArray()); // row 1 of both
    }

    [Theory]
    [InlineData(0.25f)] // linear RoPE scaling
    [InlineData(1.0f)]  // timestep[0] ≥ scaling_watershed: NTK scaling
    public void Component_derives_rope_and_proportional_attention_like_the_pipeline(float t0)
    {
        var model = TinyModel();
        var component = new LuminaTransformerComponent(model);
        var inputs = LuminaReferenceInputs.Create(Tiny, 2, 6, 10, 5, seed: 2);
        Tensor timestep = _cpu.Upload([t0, 0.5f], new Shape(2));
        float[] viaComponent = _cpu.Download(component.Forward(Named(inputs, timestep))["sample"]);

        double s = Math.Sqrt(48.0 * 80) / 128; // latent 6×10 → 48×80 px; sample_size 16 → 128 px
        var table = LuminaRotaryTable.Create(Tiny.HeadDim, 3, 5, t0 < 1 ? s : 1.0, t0 < 1 ? 1.0 : s);
        float[] explicitCall = _cpu.Download(model.Forward(inputs.Latents(_cpu), timestep, inputs.Captions(_cpu), inputs.MaskTensor(_cpu), table, 64));
        Assert.Equal(explicitCall, viaComponent);

        var other = LuminaRotaryTable.Create(Tiny.HeadDim, 3, 5, t0 < 1 ? 1.0 : s, t0 < 1 ? s : 1.0);
        float[] otherBranch = _cpu.Download(model.Forward(inputs.Latents(_cpu), timestep, inputs.Captions(_cpu), inputs.MaskTensor(_cpu), other, 64));
        Assert.True(TestData.MaxAbsDiff(explicitCall, otherBranch) > 1e-4, "linear and NTK scaling must differ on a non-square grid");
    }

    [Fact]
    public void Component_base_sequence_length_zero_turns_proportional_attention_off()
    {
        var model = TinyModel();
        var component = new LuminaTransformerComponent(model);
        var inputs = LuminaReferenceInputs.Create(Tiny, 1, 6, 10, 5, seed: 4);
        var named = Named(inputs, inputs.Timesteps(_cpu));
        named["base_sequence_length"] = _cpu.Upload([0f], new Shape(1));
        float[] off = _cpu.Download(component.Forward(named)["sample"]);
        var table = model.RotaryTableFor(inputs.Latents(_cpu), LuminaResolutionScaling.ForPipeline(Tiny, 6, 10, inputs.Timestep[0]));
        Assert.Equal(_cpu.Download(model.Forward(inputs.Latents(_cpu), inputs.Timesteps(_cpu), inputs.Captions(_cpu), inputs.MaskTensor(_cpu), table, null)), off);
        Assert.True(TestData.MaxAbsDiff(off, _cpu.Download(component.Forward(Named(inputs, inputs.Timesteps(_cpu)))["sample"])) > 1e-4);
    }

    [Fact]
    public void Scalar_timestep_is_broadcast_to_the_batch()
    {
        var component = new LuminaTransformerComponent(TinyModel());
        var inputs = LuminaReferenceInputs.Create(Tiny, 2, 4, 4, 3, seed: 5);
        float[] scalar = _cpu.Download(component.Forward(Named(inputs, _cpu.Upload([0.3f], new Shape(1))))["sample"]);
        float[] vector = _cpu.Download(component.Forward(Named(inputs, _cpu.Upload([0.3f, 0.3f], new Shape(2))))["sample"]);
        Assert.Equal(vector, scalar);
    }

    [Theory]
    [InlineData("encoder_hidden_states", 4, 4, 13, 3)] // caption width ≠ cross_attention_dim
    [InlineData("encoder_mask", 4, 4, 12, 4)]          // mask length ≠ caption length
    [InlineData("hidden_states", 4, 5, 12, 3)]         // width not divisible by patch_size
    [InlineData("hidden_states", 3, 4, 12, 3)]         // channels ≠ in_channels
    public void Wrong_input_shapes_name_the_argument(string argument, int channels, int width, int captionDim, int maskLength)
    {
        var model = TinyModel();
        var ex = Assert.Throws<ModelInputException>(() => model.Forward(
            _cpu.Upload(TestData.Random(channels * 4 * width, 1), new Shape(1, channels, 4, width)),
            _cpu.Upload([0.5f], new Shape(1)),
            _cpu.Upload(TestData.Random(3 * captionDim, 2), new Shape(1, 3, captionDim)),
            _cpu.Upload(Enumerable.Repeat(1f, maskLength).ToArray(), new Shape(1, maskLength))));
        Assert.Equal(argument, ex.Argument);
    }

    [Fact]
    public void Wrong_timestep_count_names_the_argument()
    {
        var model = TinyModel();
        var inputs = LuminaReferenceInputs.Create(Tiny, 2, 4, 4, 3, seed: 6);
        var ex = Assert.Throws<ModelInputException>(() => model.Forward(inputs.Latents(_cpu), _cpu.Upload([0.1f, 0.2f, 0.3f], new Shape(3)),
            inputs.Captions(_cpu), inputs.MaskTensor(_cpu)));
        Assert.Equal("timestep", ex.Argument);
    }

    [Theory]
    [InlineData(new float[] { 0, 0, 0, 1, 1, 1 }, "masks every caption token")]
    [InlineData(new float[] { 1, 0.5f, 0, 1, 1, 1 }, "holds 0 (padding) or 1")]
    public void Bad_caption_masks_are_refused_by_name(float[] mask, string reason)
    {
        var component = new LuminaTransformerComponent(TinyModel());
        var inputs = LuminaReferenceInputs.Create(Tiny, 2, 4, 4, 3, seed: 7);
        var named = Named(inputs, inputs.Timesteps(_cpu));
        named["encoder_mask"] = _cpu.Upload(mask, new Shape(2, 3));
        var ex = Assert.Throws<ModelInputException>(() => component.Forward(named));
        Assert.Equal("encoder_mask", ex.Argument);
        Assert.Contains(reason, ex.Message);
    }

    [Fact]
    public void Component_rejects_unknown_inputs_and_half_a_rope_table()
    {
        var component = new LuminaTransformerComponent(TinyModel());
        var inputs = LuminaReferenceInputs.Create(Tiny, 1, 4, 4, 3, seed: 8);
        var named = Named(inputs, inputs.Timesteps(_cpu));
        named["image_rotary_emb"] = _cpu.Zeros(new Shape(2, 2, 8));
        Assert.Contains("image_rotary_emb", Assert.Throws<AccelAesException>(() => component.Forward(named)).Message);

        named = Named(inputs, inputs.Timesteps(_cpu));
        named["image_rotary_emb_real"] = _cpu.Zeros(new Shape(2, 2, 8));
        Assert.Equal("image_rotary_emb_imag", Assert.Throws<ModelInputException>(() => component.Forward(named)).Argument);

        named = Named(inputs, inputs.Timesteps(_cpu));
        named["base_sequence_length"] = _cpu.Upload([1f], new Shape(1));
        Assert.Equal("base_sequence_length", Assert.Throws<ModelInputException>(() => component.Forward(named)).Argument);
    }

    [Fact]
    public void A_rope_table_smaller_than_the_grid_is_refused()
    {
        var model = TinyModel();
        var inputs = LuminaReferenceInputs.Create(Tiny, 1, 6, 10, 3, seed: 9);
        var ex = Assert.Throws<ModelInputException>(() => model.Forward(inputs.Latents(_cpu), inputs.Timesteps(_cpu), inputs.Captions(_cpu),
            inputs.MaskTensor(_cpu), LuminaRotaryTable.Create(Tiny.HeadDim, 3, 4), 64));
        Assert.Equal("image_rotary_emb", ex.Argument);
    }

    private Dictionary<string, Tensor> Named(LuminaReferenceInputs inputs, Tensor timestep) => new()
    {
        ["hidden_states"] = inputs.Latents(_cpu),
        ["timestep"] = timestep,
        ["encoder_hidden_states"] = inputs.Captions(_cpu),
        ["encoder_mask"] = inputs.MaskTensor(_cpu),
    };
}
