using AccelAes.Engine.Components;
using AccelAes.Engine.Models;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tiny;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using static AccelAes.Engine.Tests.Models.TextEncoderTestModels;

namespace AccelAes.Engine.Tests.Models;

/// <summary>The text encoders as <c>accelaes forward</c> components: names in, transformers' names out, clear errors.</summary>
public class TextEncoderComponentTests
{
    private static LoadedComponent Build(TinyComponentSpec spec, RandomWeightSource? weights = null)
        => ComponentLoader.Build(spec.ClassName, JsonConfig.Parse("<tiny>", spec.ConfigJson), weights ?? TinyModels.GenerateWeights(spec, 1), Cpu);

    /// <summary>Ids or a mask as <c>accelaes forward</c> receives them: one row of whole numbers in fp32.</summary>
    private static Tensor Row(params float[] values) => Cpu.Upload(values, new Shape(1, values.Length));

    [Theory]
    [InlineData("CLIPTextModelWithProjection", "text_embeds", 3)]
    [InlineData("CLIPTextModel", "pooler_output", 3)]
    [InlineData("T5EncoderModel", null, 3)]
    [InlineData("GemmaModel", null, 4)]
    public void Outputs_carry_transformers_names(string cls, string? pooledName, int hiddenStates)
    {
        TinyComponentSpec spec = cls switch
        {
            "CLIPTextModelWithProjection" => TinyTextEncoders.ClipL(),
            "CLIPTextModel" => TinyTextEncoders.ClipL(withProjection: false),
            "T5EncoderModel" => TinyTextEncoders.T5("text_encoder_3"),
            _ => TinyTextEncoders.Gemma(),
        };
        var component = Build(spec).Forward;
        Assert.Equal(cls, component.ClassName);
        var ids = Row(5, 6, 7, 8);
        var outputs = component.Forward(new Dictionary<string, Tensor> { ["input_ids"] = ids });
        var expected = new List<string> { "last_hidden_state" };
        if (pooledName is not null) expected.Add(pooledName);
        expected.AddRange(Enumerable.Range(0, hiddenStates).Select(i => $"hidden_states.{i}"));
        Assert.Equal(expected.Order(), outputs.Keys.Order());
    }

    [Fact]
    public void Unknown_and_bad_inputs_are_named()
    {
        var component = Build(TinyTextEncoders.Gemma()).Forward;
        var ids = Row(5, 6, 7);
        var unknown = Assert.Throws<AccelAesException>(() => component.Forward(new Dictionary<string, Tensor>
        {
            ["input_ids"] = ids, ["encoder_attention_mask"] = ids,
        }));
        Assert.Contains("'encoder_attention_mask'", unknown.Message);
        Assert.Contains("input_ids", Assert.Throws<AccelAesException>(() => component.Forward(new Dictionary<string, Tensor>())).Message);

        var outOfRange = Assert.Throws<ModelInputException>(() => component.Forward(new Dictionary<string, Tensor>
        {
            ["input_ids"] = Row(5, TinyTextEncoders.GemmaVocabSize),
        }));
        Assert.Equal("input_ids", outOfRange.Argument);
        Assert.Contains($"vocab_size {TinyTextEncoders.GemmaVocabSize}", outOfRange.Message);

        var badMask = Assert.Throws<ModelInputException>(() => component.Forward(new Dictionary<string, Tensor>
        {
            ["input_ids"] = ids, ["attention_mask"] = Row(1, 0.5f, 1),
        }));
        Assert.Equal("attention_mask", badMask.Argument);
    }

    [Fact]
    public void A_gemma_causal_lm_checkpoint_runs_as_its_inner_model()
    {
        var spec = TinyTextEncoders.Gemma();
        var baseWeights = TinyModels.GenerateWeights(spec, 1);
        var causalLm = new RandomWeightSource(99);
        foreach (var (name, (shape, values)) in baseWeights.Tensors) causalLm.Add("model." + name, shape, values);
        causalLm.Add("lm_head.weight", baseWeights.Tensors["embed_tokens.weight"].Shape, baseWeights.Tensors["embed_tokens.weight"].Values);

        var json = JsonConfig.Parse("<causal lm>", spec.ConfigJson.Replace("\"GemmaModel\"", "\"GemmaForCausalLM\""));
        var loaded = ComponentLoader.Build(json.ClassName!, json, causalLm, Cpu);
        Assert.Equal("GemmaForCausalLM", loaded.Forward.ClassName);
        Assert.Equal(["lm_head.weight"], loaded.UnusedTensors);

        var inputs = new Dictionary<string, Tensor> { ["input_ids"] = Row(9, 8, 7) };
        Assert.Equal(Cpu.Download(Build(spec, baseWeights).Forward.Forward(inputs)["last_hidden_state"]),
            Cpu.Download(loaded.Forward.Forward(inputs)["last_hidden_state"]));
    }

    [Fact]
    public void T5_loads_its_embeddings_under_either_tied_name()
    {
        var spec = TinyTextEncoders.T5("text_encoder_3");
        var weights = TinyModels.GenerateWeights(spec, 1);
        var renamed = new RandomWeightSource(5);
        foreach (var (name, (shape, values)) in weights.Tensors)
            renamed.Add(name == "shared.weight" ? "encoder.embed_tokens.weight" : name, shape, values);
        var loaded = Build(spec, renamed);
        Assert.Empty(loaded.UnusedTensors);
        var inputs = new Dictionary<string, Tensor> { ["input_ids"] = Row(9, 8, 7) };
        Assert.Equal(Cpu.Download(Build(spec, weights).Forward.Forward(inputs)["last_hidden_state"]),
            Cpu.Download(loaded.Forward.Forward(inputs)["last_hidden_state"]));
    }
}
