using System.Text.Json.Nodes;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.Models;

/// <summary>The tiny text encoders: they build, save as transformers would, load back, run, and fit the tiny tokenizers.</summary>
public class TextEncoderTinyTests
{
    private static readonly CpuBackend Cpu = new();

    public static TheoryData<string> Specs => new(AllSpecs().Keys);

    private static Dictionary<string, TinyComponentSpec> AllSpecs() => new()
    {
        ["clip-l"] = TinyTextEncoders.ClipL(),
        ["clip-l-no-projection"] = TinyTextEncoders.ClipL(withProjection: false),
        ["clip-g"] = TinyTextEncoders.ClipG(),
        ["t5"] = TinyTextEncoders.T5("text_encoder_3"),
        ["gemma"] = TinyTextEncoders.Gemma(),
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void Written_folder_loads_back_and_runs_like_the_generated_weights(string name)
    {
        TinyComponentSpec spec = AllSpecs()[name];
        var weights = TinyModels.GenerateWeights(spec, seed: 3);
        var config = JsonConfig.Parse("<tiny>", spec.ConfigJson);
        var inMemory = ComponentLoader.Build(spec.ClassName, config, weights, Cpu);

        using var dir = new TempDirectory();
        var writer = new SafeTensorsWriter().AddMetadata("format", "pt");
        foreach (var (tensor, (shape, values)) in weights.Tensors)
            writer.Add(tensor, shape.Dims.ToArray().Select(d => (long)d).ToArray(), values, SafeTensorDType.F32);
        writer.Save(dir.File("model.safetensors"));
        File.WriteAllText(dir.File("config.json"), spec.ConfigJson);
        var loaded = ComponentLoader.Load(ModelFolder.Open(dir.Path).Component(spec.Folder), Cpu);
        Assert.Equal(spec.ClassName, loaded.Forward.ClassName);
        Assert.Empty(loaded.UnusedTensors);

        int vocab = config.GetInt("vocab_size");
        var ids = TextEncoderTestModels.RandomIds(2, 12, vocab, 4);
        var inputs = new Dictionary<string, Tensor> { ["input_ids"] = Cpu.Upload(Array.ConvertAll(ids.Values.ToArray(), v => (float)v), new Shape(2, 12)) };
        var a = inMemory.Forward.Forward(inputs);
        var b = loaded.Forward.Forward(inputs);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var key in a.Keys)
        {
            float[] values = Cpu.Download(a[key]);
            Assert.Equal(values, Cpu.Download(b[key]));
            Assert.All(values, v => Assert.True(float.IsFinite(v) && Math.Abs(v) < 100, $"{name} {key}: {v}"));
        }
    }

    [Fact]
    public void Gemma_norm_weights_are_centred_on_zero_and_depend_on_the_seed()
    {
        var spec = TinyTextEncoders.Gemma();
        float[] a = TinyModels.GenerateWeights(spec, 1).Tensors["norm.weight"].Values;
        float[] b = TinyModels.GenerateWeights(spec, 2).Tensors["norm.weight"].Values;
        Assert.InRange(a.Average(), -0.1, 0.1);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Pipeline_sets_fit_the_transformer_widths_they_are_made_for()
    {
        var sd3 = TinyTextEncoders.ForSd3(jointAttentionDim: 64, pooledProjectionDim: 64);
        Assert.Equal(["text_encoder", "text_encoder_2", "text_encoder_3"], sd3.Select(s => s.Folder));
        var l = JsonConfig.Parse("<l>", sd3[0].ConfigJson);
        var g = JsonConfig.Parse("<g>", sd3[1].ConfigJson);
        Assert.Equal(64, l.GetInt("projection_dim") + g.GetInt("projection_dim"));
        Assert.True(l.GetInt("hidden_size") + g.GetInt("hidden_size") < 64, "leaves room for SD3's zero padding");
        Assert.Equal(64, JsonConfig.Parse("<t5>", sd3[2].ConfigJson).GetInt("d_model"));

        var flux = TinyTextEncoders.ForFlux(jointAttentionDim: 48, pooledProjectionDim: 24);
        Assert.Equal("CLIPTextModel", flux[0].ClassName);
        Assert.Equal(24, JsonConfig.Parse("<clip>", flux[0].ConfigJson).GetInt("hidden_size"));
        Assert.Equal(48, JsonConfig.Parse("<t5>", flux[1].ConfigJson).GetInt("d_model"));

        Assert.Equal(40, JsonConfig.Parse("<gemma>", TinyTextEncoders.ForLumina(40)[0].ConfigJson).GetInt("hidden_size"));
    }

    /// <summary>The tiny vocabularies must hold every id the conformance tokenizers produce (prompt → ids → embeddings).</summary>
    [GoldenTheory]
    [InlineData("clip_tokenizer_golden.json", TinyTextEncoders.ClipVocabSize)]
    [InlineData("t5_tokenizer_golden.json", TinyTextEncoders.T5VocabSize)]
    [InlineData("gemma_tokenizer_golden.json", TinyTextEncoders.GemmaVocabSize)]
    public void Tokenizer_golden_ids_fit_the_tiny_vocabularies(string file, int vocabSize)
    {
        var root = JsonNode.Parse(File.ReadAllText(GoldenFiles.At("text_encoders", "tokenizers", file)))!;
        var ids = new List<int>();
        Collect(root, inIds: false, ids);
        Assert.NotEmpty(ids);
        Assert.InRange(ids.Max(), 0, vocabSize - 1);
    }

    private static void Collect(JsonNode? node, bool inIds, List<int> ids)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o) Collect(value, key.Contains("ids", StringComparison.Ordinal), ids);
                break;
            case JsonArray a:
                foreach (var item in a) Collect(item, inIds, ids);
                break;
            case JsonValue v when inIds && v.TryGetValue(out int id):
                ids.Add(id);
                break;
        }
    }
}
