using AccelAes.Engine.Components;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>
/// FLUX single-file checkpoints (BFL layout, ComfyUI prefix, fp8 e4m3fn, ComfyUI scaled fp8) loaded through the
/// key mapping and run on the CPU backend against diffusers' own outputs (../shared/conformance/flux_singlefile).
/// </summary>
public class FluxSingleFileConformanceTests
{
    private static readonly string[] ForwardInputs =
        ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids", "guidance"];

    private static string Case(string folder, string file) => GoldenFiles.At("flux_singlefile", folder, file);

    private static float[] RunForward(string folder, string file, string? configFolder = null, string? path = null)
    {
        var component = ComponentLoader.LoadSingleFile(path ?? Case(folder, file), ConformanceHarness.Cpu, configFolder);
        Assert.Empty(component.UnusedTensors);
        var inputs = ConformanceHarness.Inputs(GoldenTensors.Load(Case(folder, "inputs.safetensors")), ForwardInputs);
        var result = component.Forward.Forward(inputs);
        return ConformanceHarness.Cpu.Download(result["sample"]);
    }

    [GoldenTheory]
    [InlineData("flux_singlefile_tiny", "flux1-tiny.safetensors")]
    [InlineData("flux_singlefile_tiny_prefixed", "flux1-tiny-prefixed.safetensors")]
    [InlineData("flux_fp8_e4m3_tiny", "flux1-tiny-fp8-e4m3fn.safetensors")]
    [InlineData("flux_fp8_scaled_tiny", "flux1-tiny-fp8-scaled.safetensors")]
    public void Single_file_forward_matches_diffusers(string folder, string file)
    {
        var expected = GoldenTensors.Load(Case(folder, "outputs.safetensors"))["sample"];
        GoldenTensors.AssertConforms(expected.Values, RunForward(folder, file), $"{folder} sample");
    }

    [GoldenFact]
    public void Prefixed_file_gives_the_unprefixed_sample_bit_for_bit()
    {
        float[] plain = RunForward("flux_singlefile_tiny", "flux1-tiny.safetensors");
        float[] prefixed = RunForward("flux_singlefile_tiny_prefixed", "flux1-tiny-prefixed.safetensors");
        Assert.Equal(plain, prefixed);
    }

    [GoldenFact]
    public void Explicit_config_folder_is_used_and_checked()
    {
        using var dir = new TempDirectory();
        string copy = dir.File("flux1-tiny.safetensors");
        File.Copy(Case("flux_singlefile_tiny", "flux1-tiny.safetensors"), copy);

        // Alone (no config.json beside it), the tiny head dim 16 leaves axes_dims_rope unknown: named, not guessed.
        var error = Assert.Throws<AccelAesException>(() => ComponentLoader.LoadSingleFile(copy, ConformanceHarness.Cpu));
        Assert.Contains("axes_dims_rope", error.Message);
        Assert.Contains("--config", error.Message);

        var expected = GoldenTensors.Load(Case("flux_singlefile_tiny", "outputs.safetensors"))["sample"];
        GoldenTensors.AssertConforms(expected.Values,
            RunForward("flux_singlefile_tiny", "", GoldenFiles.At("flux_singlefile", "flux_singlefile_tiny"), copy), "--config");

        // A config that disagrees with the tensors is refused, naming the field.
        string wrong = dir.Sub("wrong");
        string config = File.ReadAllText(Case("flux_singlefile_tiny", "config.json")).Replace("\"num_layers\": 2", "\"num_layers\": 3");
        TempDirectory.WriteText(wrong, "config.json", config);
        var mismatch = Assert.Throws<AccelAesException>(() => ComponentLoader.LoadSingleFile(copy, ConformanceHarness.Cpu, wrong));
        Assert.Contains("num_layers = 3", mismatch.Message);
        Assert.Contains("say 2", mismatch.Message);

        // A config of another model class is refused by its class, not by whichever field differs first.
        string sd3 = dir.Sub("sd3");
        TempDirectory.WriteText(sd3, "config.json", config.Replace("FluxTransformer2DModel", "SD3Transformer2DModel"));
        var wrongClass = Assert.Throws<AccelAesException>(() => ComponentLoader.LoadSingleFile(copy, ConformanceHarness.Cpu, sd3));
        Assert.Contains("'SD3Transformer2DModel' is not FluxTransformer2DModel", wrongClass.Message);
    }

    [GoldenTheory]
    [InlineData("flux_singlefile_tiny", "flux1-tiny.safetensors", CheckpointLayout.BflFlux, "", WeightEncoding.Float)]
    [InlineData("flux_singlefile_tiny_prefixed", "flux1-tiny-prefixed.safetensors", CheckpointLayout.BflFlux, "model.diffusion_model.", WeightEncoding.Float)]
    [InlineData("flux_fp8_e4m3_tiny", "flux1-tiny-fp8-e4m3fn.safetensors", CheckpointLayout.BflFlux, "", WeightEncoding.Fp8)]
    [InlineData("flux_fp8_scaled_tiny", "flux1-tiny-fp8-scaled.safetensors", CheckpointLayout.BflFlux, "", WeightEncoding.ScaledFp8)]
    public void Format_is_detected(string folder, string file, CheckpointLayout layout, string prefix, WeightEncoding encoding)
    {
        using var checkpoint = SingleFileCheckpoint.Open(Case(folder, file));
        Assert.Equal(new CheckpointFormat(layout, prefix, encoding), checkpoint.Format);
    }
}

/// <summary>Single files that are not the goldens: inferred configs that build, and shapes the model refuses by name.</summary>
public class FluxSingleFileLoadTests
{
    [Fact]
    public void Published_head_dim_file_builds_from_its_inferred_config_and_runs()
    {
        using var dir = new TempDirectory();
        string path = new BflFluxFile { Width = 256, HeadDim = 128, DoubleBlocks = 1, SingleBlocks = 2, InChannels = 8 }
            .Save(dir.File("flux.safetensors"));
        var loaded = ComponentLoader.LoadSingleFile(path, ConformanceHarness.Cpu);
        Assert.Empty(loaded.UnusedTensors);
        var model = ((FluxTransformerComponent)loaded.Forward).Model;
        Assert.Equal(2, model.Config.NumAttentionHeads);
        Assert.Equal(2, model.Config.NumSingleLayers);
        Assert.Equal([16, 56, 56], model.Config.AxesDimsRope);
    }

    [Fact]
    public void Tensor_of_the_wrong_shape_names_both_names()
    {
        using var dir = new TempDirectory();
        var file = new BflFluxFile { Width = 128, HeadDim = 128 };
        string path = file.Save(dir.File("flux.safetensors"), s => s["double_blocks.0.img_mlp.0.weight"] = [3 * 128, 128]);
        var error = Assert.Throws<Weights.WeightShapeException>(() => ComponentLoader.LoadSingleFile(path, ConformanceHarness.Cpu));
        Assert.Contains("transformer_blocks.0.ff.net.0.proj.weight", error.Message);
        Assert.Contains("double_blocks.0.img_mlp.0.weight", error.Message);
        Assert.Contains("[384, 128]", error.Message);
    }

    [Fact]
    public void Leftover_file_keys_are_reported_as_unused()
    {
        using var dir = new TempDirectory();
        string path = new BflFluxFile { Width = 128, HeadDim = 128 }.Save(dir.File("flux.safetensors"),
            s => s["double_blocks.0.extra.weight"] = [2]);
        var loaded = ComponentLoader.LoadSingleFile(path, ConformanceHarness.Cpu);
        Assert.Equal(["double_blocks.0.extra.weight"], loaded.UnusedTensors);
    }
}

/// <summary>What <see cref="Weights.SingleFileWeightSource"/> hands the backend for each kind of view.</summary>
public class SingleFileWeightSourceTests
{
    [GoldenFact]
    public void Bf16_file_keeps_its_bits_through_slices_and_swapped_halves()
    {
        using var dir = new TempDirectory();
        string f32 = GoldenFiles.At("flux_singlefile", "flux_singlefile_tiny", "flux1-tiny.safetensors");
        string bf16 = dir.File("flux1-tiny-bf16.safetensors");
        using (var source = Loader.SafeTensors.SafeTensorsSet.OpenFile(f32))
        {
            var writer = new Loader.SafeTensors.SafeTensorsWriter();
            foreach (var t in source.Tensors)
                writer.Add(t.Name, t.Shape.ToArray(), source.ReadAsFloat32(t.Name), Loader.SafeTensors.SafeTensorDType.BF16);
            writer.Save(bf16);
        }
        using var reference = SingleFileCheckpoint.Open(f32);
        using var checkpoint = SingleFileCheckpoint.Open(bf16, GoldenFiles.At("flux_singlefile", "flux_singlefile_tiny"));
        var weights = new Weights.SingleFileWeightSource(checkpoint);
        foreach (string name in new[] { "norm_out.linear.weight", "norm_out.linear.bias", "single_transformer_blocks.0.proj_mlp.weight", "x_embedder.weight" })
        {
            var view = reference.Tensors[name];
            var expected = new float[view.ElementCount];
            reference.ReadFloat32(view, expected);
            for (int i = 0; i < expected.Length; i++)
                expected[i] = Loader.SafeTensors.DTypeConversion.BFloat16ToFloat32(Loader.SafeTensors.DTypeConversion.Float32ToBFloat16(expected[i]));
            var loaded = weights.Load(name, new Tensors.Shape(view.Shape.Select(d => (int)d).ToArray()), ConformanceHarness.Cpu);
            Assert.Equal(expected, ConformanceHarness.Cpu.Download(loaded));
        }
    }

    [Fact]
    public void Weight_of_an_unreadable_dtype_is_named()
    {
        using var dir = new TempDirectory();
        string path = dir.File("flux.safetensors");
        var file = new BflFluxFile { Width = 128, HeadDim = 128 };
        var writer = new Loader.SafeTensors.SafeTensorsWriter();
        using (var source = Loader.SafeTensors.SafeTensorsSet.OpenFile(file.Save(dir.File("plain.safetensors"))))
            foreach (var t in source.Tensors)
                if (t.Name == "txt_in.weight")
                    writer.Add(t.Name, Loader.SafeTensors.SafeTensorDType.F8E8M0, t.Shape.ToArray(), new byte[t.ElementCount]);
                else
                    writer.Add(t.Name, t.Shape.ToArray(), source.ReadAsFloat32(t.Name));
        writer.Save(path);
        var error = Assert.Throws<AccelAesException>(() => ComponentLoader.LoadSingleFile(path, ConformanceHarness.Cpu));
        Assert.Contains("'txt_in.weight'", error.Message);
        Assert.Contains("F8_E8M0", error.Message);
    }
}

/// <summary><see cref="Pipelines.PipelineFactory.OpenSingleFile"/>: the denoising loop of a single file's transformer.</summary>
public class SingleFileDenoisingTests
{
    [Fact]
    public void Scheduler_is_the_published_one_of_the_model_the_file_is()
    {
        using var dir = new TempDirectory();
        string dev = new BflFluxFile { Width = 128, HeadDim = 128 }.Save(dir.File("dev.safetensors"));
        string schnell = new BflFluxFile { Width = 128, HeadDim = 128, Guidance = false }.Save(dir.File("schnell.safetensors"));

        var devSetup = Pipelines.PipelineFactory.OpenSingleFile(dev, ConformanceHarness.Cpu);
        Assert.True(devSetup.Scheduler.UseDynamicShifting);
        Assert.IsType<Pipelines.FluxPipeline>(devSetup.Pipeline);

        var schnellSetup = Pipelines.PipelineFactory.OpenSingleFile(schnell, ConformanceHarness.Cpu);
        Assert.False(schnellSetup.Scheduler.UseDynamicShifting);
        Assert.Equal(1.0, schnellSetup.Scheduler.Shift);
        Assert.Contains("schnell", schnellSetup.SchedulerSource);

        string file = dir.File("scheduler_config.json");
        File.WriteAllText(file, """{"shift": 2.5, "use_dynamic_shifting": false}""");
        var explicitSetup = Pipelines.PipelineFactory.OpenSingleFile(schnell, ConformanceHarness.Cpu, schedulerFile: file);
        Assert.Equal(2.5, explicitSetup.Scheduler.Shift);
        Assert.Equal(file, explicitSetup.SchedulerSource);
    }
}
