using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models;
using AccelAes.Engine.Models.Vae;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tiny;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.Models;

/// <summary>Properties of the AutoencoderKL decoder that hold for any weights (conformance against diffusers is separate).</summary>
public class VaeModelTests
{
    private readonly CpuBackend _cpu = new();

    private static AutoencoderKLConfig Tiny(int levels = 3, bool postQuantConv = true, bool attention = true, int layersPerBlock = 1) => new()
    {
        LatentChannels = 4,
        BlockOutChannels = new[] { 8, 16, 16, 16 }[..levels],
        UpBlockTypes = Enumerable.Repeat(AutoencoderKLConfig.UpDecoderBlock, levels).ToArray(),
        LayersPerBlock = layersPerBlock,
        NormNumGroups = 4,
        UsePostQuantConv = postQuantConv,
        MidBlockAddAttention = attention,
    };

    private AutoencoderKL Build(AutoencoderKLConfig config, RandomWeightSource? source = null)
        => new(new WeightReader(source ?? new RandomWeightSource(11), _cpu), config);

    [Fact]
    public void Batch_items_are_independent()
    {
        var vae = Build(Tiny());
        float[] latents = TestData.Random(2 * 4 * 3 * 5, 1, -2f, 2f);
        float[] both = _cpu.Download(vae.Decode(_cpu.Upload(latents, new Shape(2, 4, 3, 5))));
        int image = 3 * 12 * 20;
        Assert.Equal(2 * image, both.Length);
        float[] second = _cpu.Download(vae.Decode(_cpu.Upload(latents.AsSpan(60, 60), new Shape(1, 4, 3, 5))));
        TestData.AssertClose(second, both.AsSpan(image, image), 1e-5, "batch item 1 alone vs in a batch of 2");
        Assert.True(TestData.MaxAbsDiff(both.AsSpan(0, image), both.AsSpan(image, image)) > 1e-3, "different latents must decode differently");
    }

    [Theory]
    [InlineData(3, 3, 5)]
    [InlineData(4, 1, 2)]
    [InlineData(2, 7, 4)]
    public void Non_square_latents_decode_at_the_spatial_scale(int levels, int height, int width)
    {
        var config = Tiny(levels);
        var vae = Build(config);
        Tensor image = vae.Decode(_cpu.Upload(TestData.Random(4 * height * width, 2), new Shape(1, 4, height, width)));
        int scale = config.SpatialScale;
        Assert.Equal(new Shape(1, 3, height * scale, width * scale), image.Shape);
        Assert.Equal(0, _cpu.CountNonFinite(image));
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(0, true)]
    public void Loads_exactly_the_tensors_the_diffusers_decoder_has(int layersPerBlock, bool attention)
    {
        var source = new RandomWeightSource(5);
        Build(Tiny(levels: 3, attention: attention, layersPerBlock: layersPerBlock), source);
        var names = source.Tensors.Keys.ToHashSet();
        Assert.Contains("post_quant_conv.weight", names);
        Assert.Equal(attention, names.Contains("decoder.mid_block.attentions.0.to_q.weight"));
        Assert.Equal(attention, names.Contains("decoder.mid_block.attentions.0.group_norm.weight"));
        Assert.Contains("decoder.mid_block.resnets.1.conv2.weight", names);
        // reversed (8, 16, 16): up block 0 16→16, 1 16→16, 2 16→8 (the only width change: one conv_shortcut).
        Assert.Equal(["decoder.up_blocks.2.resnets.0.conv_shortcut.weight"],
            names.Where(n => n.Contains("conv_shortcut.weight")).ToArray());
        // add_upsample = not is_final_block: every block but the last.
        Assert.Equal(["decoder.up_blocks.0.upsamplers.0.conv.weight", "decoder.up_blocks.1.upsamplers.0.conv.weight"],
            names.Where(n => n.Contains("upsamplers")).Where(n => n.EndsWith(".weight")).Order().ToArray());
        for (int b = 0; b < 3; b++)
        {
            Assert.Contains($"decoder.up_blocks.{b}.resnets.{layersPerBlock}.conv1.weight", names);
            Assert.DoesNotContain($"decoder.up_blocks.{b}.resnets.{layersPerBlock + 1}.conv1.weight", names);
        }
        Assert.Contains("decoder.conv_norm_out.weight", names);
        Assert.Equal(new Shape(3, 8, 3, 3), source.Tensors["decoder.conv_out.weight"].Shape);
        Assert.Equal(new Shape(16, 4, 3, 3), source.Tensors["decoder.conv_in.weight"].Shape);
    }

    [Fact]
    public void Without_post_quant_conv_the_latent_goes_straight_to_conv_in()
    {
        var source = new RandomWeightSource(5);
        Build(Tiny(postQuantConv: false), source);
        Assert.DoesNotContain(source.Tensors.Keys, n => n.StartsWith("post_quant_conv", StringComparison.Ordinal));
    }

    [Fact]
    public void Latent_with_the_wrong_channel_count_names_z()
    {
        var vae = Build(Tiny());
        var ex = Assert.Throws<ModelInputException>(() => vae.Decode(_cpu.Zeros(new Shape(1, 16, 4, 4))));
        Assert.Equal("z", ex.Argument);
        Assert.Contains("[B, 4, h, w]", ex.Message);
    }

    [Fact]
    public void Component_refuses_unknown_inputs_by_name()
    {
        var component = new AutoencoderKLComponent(Build(Tiny()));
        var ex = Assert.Throws<AccelAesException>(() => component.Forward(
            new Dictionary<string, Tensor> { ["latents"] = _cpu.Zeros(new Shape(1, 4, 2, 2)) }));
        Assert.Contains("'latents'", ex.Message);
        Assert.Contains("z", ex.Message);
    }

    [Fact]
    public void Legacy_attention_names_load_and_decode_identically()
    {
        using var dir = new TempDirectory();
        string current = Path.Combine(dir.Path, "current"), legacy = Path.Combine(dir.Path, "legacy");
        TinyModels.Write("vae4", current, seed: 3);
        var renames = new Dictionary<string, string>
        {
            ["to_q"] = "query", ["to_k"] = "key", ["to_v"] = "value", ["to_out.0"] = "proj_attn",
        };
        RewriteCheckpoint(current, legacy, name =>
        {
            const string attention = "decoder.mid_block.attentions.0.";
            if (!name.StartsWith(attention, StringComparison.Ordinal)) return name;
            string local = name[attention.Length..];
            var hit = renames.FirstOrDefault(r => local.StartsWith(r.Key + ".", StringComparison.Ordinal));
            return hit.Key is null ? name : attention + hit.Value + local[hit.Key.Length..];
        });
        using (var set = SafeTensorsSet.OpenFile(Path.Combine(legacy, "diffusion_pytorch_model.safetensors")))
        {
            Assert.Contains(set.Tensors, t => t.Name == "decoder.mid_block.attentions.0.proj_attn.bias");
            Assert.DoesNotContain(set.Tensors, t => t.Name.Contains(".to_q.", StringComparison.Ordinal));
        }

        var a = ComponentLoader.Load(ModelFolder.Open(current).Component("vae"), _cpu);
        var b = ComponentLoader.Load(ModelFolder.Open(legacy).Component("vae"), _cpu);
        Assert.Empty(b.UnusedTensors);
        var z = new Dictionary<string, Tensor> { ["z"] = _cpu.Upload(TestData.Random(4 * 2 * 3, 4), new Shape(1, 4, 2, 3)) };
        Assert.Equal(_cpu.Download(a.Forward.Forward(z)["sample"]), _cpu.Download(b.Forward.Forward(z)["sample"]));
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        using var dir = new TempDirectory();
        string full = Path.Combine(dir.Path, "full"), broken = Path.Combine(dir.Path, "broken");
        TinyModels.Write("vae16", full);
        const string dropped = "decoder.up_blocks.2.resnets.0.conv_shortcut.weight";
        RewriteCheckpoint(full, broken, name => name == dropped ? null : name);
        var ex = Assert.Throws<MissingTensorException>(() => ComponentLoader.Load(ModelFolder.Open(broken).Component("vae"), _cpu));
        Assert.Equal(dropped, ex.TensorName);
        Assert.Contains(dropped, ex.Message);
    }

    [Fact]
    public void Checkpoint_that_does_not_fit_the_config_names_the_tensor()
    {
        using var dir = new TempDirectory();
        TinyModels.Write("vae16", dir.Path);
        // The weights were made for 16 latent channels; a config claiming 4 must fail at conv_in, by name.
        string configPath = Path.Combine(dir.Path, "config.json");
        File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"latent_channels\": 16", "\"latent_channels\": 4"));
        var ex = Assert.Throws<WeightShapeException>(() => ComponentLoader.Load(ModelFolder.Open(dir.Path).Component("vae"), _cpu));
        Assert.Equal("decoder.conv_in.weight", ex.TensorName);
    }

    [Fact]
    public void Encoder_tensors_are_expected_leftovers_but_others_are_reported()
    {
        using var dir = new TempDirectory();
        string plain = Path.Combine(dir.Path, "plain"), extra = Path.Combine(dir.Path, "extra");
        TinyModels.Write("vae4", plain);
        RewriteCheckpoint(plain, extra, name => name, add:
        [
            ("encoder.conv_in.weight", new long[] { 8, 3, 3, 3 }),
            ("quant_conv.weight", new long[] { 8, 8, 1, 1 }),
            ("decoder.mid_block.attentions.1.to_q.weight", new long[] { 16, 16 }),
        ]);
        var loaded = ComponentLoader.Load(ModelFolder.Open(extra).Component("vae"), _cpu);
        Assert.Equal(["decoder.mid_block.attentions.1.to_q.weight"], loaded.UnusedTensors);
    }

    /// <summary>Copies a component folder, renaming (or, for null, dropping) tensors and optionally adding zero tensors.</summary>
    private static void RewriteCheckpoint(string from, string to, Func<string, string?> rename, (string Name, long[] Shape)[]? add = null)
    {
        Directory.CreateDirectory(to);
        File.Copy(Path.Combine(from, "config.json"), Path.Combine(to, "config.json"));
        var writer = new SafeTensorsWriter().AddMetadata("format", "pt");
        using (var set = SafeTensorsSet.OpenFile(Path.Combine(from, "diffusion_pytorch_model.safetensors")))
        {
            foreach (var t in set.Tensors)
                if (rename(t.Name) is string name)
                    writer.Add(name, t.Shape.Select(d => (long)d).ToArray(), set.ReadAsFloat32(t.Name), SafeTensorDType.F32);
        }
        foreach (var (name, shape) in add ?? [])
            writer.Add(name, shape, new float[shape.Aggregate(1L, (p, d) => p * d)], SafeTensorDType.F32);
        writer.Save(Path.Combine(to, "diffusion_pytorch_model.safetensors"));
    }
}
