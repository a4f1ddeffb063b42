using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>
/// `forward --model FILE` on a component file of its own (ComfyUI's clip_l / t5xxl / ae files), written here from the tiny
/// pipelines' diffusers component folders: the outputs are `forward` on that folder's, bit for bit, on the CPU backend.
/// </summary>
public class ForwardComponentFileCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static string Weights(string componentFolder) => Directory.EnumerateFiles(componentFolder, "*.safetensors").Single();

    /// <summary>Token ids every tiny text encoder's vocabulary holds, the CLIP eos (2) last, as a tokenizer would give them.</summary>
    private static string TokenIds(TempDirectory dir)
    {
        var writer = new SafeTensorsWriter();
        long[] ids = [0, 5, 9, 4, 7, 2];
        writer.Add("input_ids", SafeTensorDType.I64, [1, ids.Length], ids.SelectMany(BitConverter.GetBytes).ToArray());
        string path = dir.File("ids.safetensors");
        writer.Save(path);
        return path;
    }

    private Dictionary<string, GoldenTensor> Forward(TempDirectory dir, string name, params string[] args)
    {
        string output = dir.File(name + ".safetensors");
        var r = cache.Run(["forward", .. args, "--out", output]);
        Assert.True(r.ExitCode == 0, r.All);
        return GoldenTensors.Load(output);
    }

    private static void AssertSameOutputs(Dictionary<string, GoldenTensor> expected, Dictionary<string, GoldenTensor> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, tensor) in expected)
        {
            Assert.Equal(tensor.Shape, actual[name].Shape);
            Assert.Equal(tensor.Values, actual[name].Values);
        }
    }

    private string Refused(TempDirectory dir, params string[] args)
    {
        string output = dir.File("refused.safetensors");
        var r = cache.Run(["forward", .. args, "--out", output]);
        Assert.Equal(1, r.ExitCode);
        Assert.False(File.Exists(output));
        return CliCache.Flat(r.All);
    }

    [Fact]
    public void Clip_and_t5_files_give_the_component_folders_outputs()
    {
        using var dir = new TempDirectory();
        string flux = cache.MakeTiny("flux", dir);
        string ids = TokenIds(dir);

        // FLUX's CLIP-L is a CLIPTextModel; the tiny one's heads are not the published ones, so its config.json is given.
        string clip = dir.File("clip_l.safetensors");
        File.Copy(Weights(Path.Combine(flux, "text_encoder")), clip);
        var clipFolder = Forward(dir, "clip-folder", "--model", flux, "--component", "text_encoder", "--inputs", ids);
        AssertSameOutputs(clipFolder, Forward(dir, "clip-file", "--model", clip, "--config", Path.Combine(flux, "text_encoder"), "--inputs", ids));
        Assert.Contains("pooler_output", clipFolder.Keys);

        // T5: every field is inferred from the shapes.
        string t5 = dir.File("t5xxl_fp16.safetensors");
        File.Copy(Weights(Path.Combine(flux, "text_encoder_2")), t5);
        AssertSameOutputs(Forward(dir, "t5-folder", "--model", flux, "--component", "text_encoder_2", "--inputs", ids),
            Forward(dir, "t5-file", "--model", t5, "--inputs", ids));
    }

    [Fact]
    public void A_clip_file_with_a_projection_runs_it_as_its_folder_does()
    {
        using var dir = new TempDirectory();
        string sd3 = cache.MakeTiny("sd3", dir);
        string ids = TokenIds(dir);
        // SD3's CLIP-G is a CLIPTextModelWithProjection: text_embeds come from the file's own text_projection.
        string clip = dir.File("clip_g.safetensors");
        File.Copy(Weights(Path.Combine(sd3, "text_encoder_2")), clip);
        var folder = Forward(dir, "folder", "--model", sd3, "--component", "text_encoder_2", "--inputs", ids);
        Assert.Contains("text_embeds", folder.Keys);
        AssertSameOutputs(folder, Forward(dir, "file", "--model", clip, "--config", Path.Combine(sd3, "text_encoder_2"), "--inputs", ids));
    }

    [Fact]
    public void A_vae_file_gives_the_vae_folders_outputs()
    {
        using var dir = new TempDirectory();
        string flux = cache.MakeTiny("flux", dir);
        string vae = dir.File("ae.safetensors");
        SaiSd3FileWriter.WriteVae(Path.Combine(flux, "vae"), vae);
        var writer = new SafeTensorsWriter();
        writer.Add("z", [1, 16, 3, 2], Enumerable.Range(0, 96).Select(i => MathF.Sin(i * 0.7f)).ToArray());
        string z = dir.File("z.safetensors");
        writer.Save(z);
        AssertSameOutputs(Forward(dir, "folder", "--model", flux, "--component", "vae", "--inputs", z),
            Forward(dir, "file", "--model", vae, "--config", Path.Combine(flux, "vae"), "--inputs", z));

        // The latent scaling leaves no trace in the weights: without a config or a pipeline the file is refused naming both.
        string text = Refused(dir, "--model", vae, "--inputs", z);
        Assert.Contains("latent scaling leaves no trace in the weights; give --pipeline flux|sd3", text);
        Assert.Contains("or --config DIR", text);
        // With a pipeline the published scaling is used, but the tiny VAE's group count (4) is not the published 32: named.
        text = Refused(dir, "--model", vae, "--pipeline", "flux", "--inputs", z);
        Assert.Contains("cannot be inferred: norm_num_groups leaves no trace in the weights", text);
        Assert.Contains("pass --config DIR", text);
        text = Refused(dir, "--model", vae, "--pipeline", "flux", "--config", Path.Combine(flux, "vae"), "--inputs", z);
        Assert.Contains("both give the VAE's latent scaling; give one", text);
    }

    /// <summary>
    /// A diffusers VAE folder whose config the tensors of its LDM file give with a pipeline's published values: the tiny
    /// VAE (16 latent channels) widened to 32 channels at every level, so GroupNorm's published 32 groups fit.
    /// </summary>
    private static string Vae32Folder(string tinyVae, string folder)
    {
        Directory.CreateDirectory(folder);
        var writer = new SafeTensorsWriter();
        int seed = 0;
        foreach (var (name, tensor) in GoldenTensors.Load(Weights(tinyVae)).OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            if (name.Contains("conv_shortcut", StringComparison.Ordinal)) continue; // equal widths: no shortcut convolutions
            // conv_in's inputs are the 16 latent channels; every other 8 or 16 is a block width.
            long[] shape = [.. tensor.Shape.Select((d, axis) => name == "decoder.conv_in.weight" && axis == 1 ? d : d is 8 or 16 ? 32 : d)];
            int count = (int)shape.Aggregate(1L, (a, d) => a * d), offset = seed++;
            writer.Add(name, shape, Enumerable.Range(0, count).Select(i => 0.2f * MathF.Sin(0.37f * i + offset)).ToArray());
        }
        writer.Save(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
        string config = File.ReadAllText(Path.Combine(tinyVae, "config.json"))
            .Replace("[8, 16, 32, 32]", "[32, 32, 32, 32]", StringComparison.Ordinal).Replace("\"norm_num_groups\": 4", "\"norm_num_groups\": 32", StringComparison.Ordinal);
        Assert.Contains("\"norm_num_groups\": 32", config);
        File.WriteAllText(Path.Combine(folder, "config.json"), config);
        return folder;
    }

    [Fact]
    public void A_vae_files_config_is_inferred_with_the_latent_scaling_of_pipeline()
    {
        using var dir = new TempDirectory();
        string flux = cache.MakeTiny("flux", dir);
        string folder = Vae32Folder(Path.Combine(flux, "vae"), dir.File("vae32"));
        string vae = dir.File("ae.safetensors");
        SaiSd3FileWriter.WriteVae(folder, vae);
        var writer = new SafeTensorsWriter();
        writer.Add("z", [1, 16, 2, 3], Enumerable.Range(0, 96).Select(i => MathF.Cos(i * 0.3f)).ToArray());
        string z = dir.File("z.safetensors");
        writer.Save(z);

        var expected = Forward(dir, "folder", "--model", folder, "--inputs", z);
        foreach (var (pipeline, scaling) in new[] { ("flux", "0.3611"), ("sd3", "1.5305") })
        {
            string output = dir.File(pipeline + ".safetensors");
            var r = cache.Run("forward", "--model", vae, "--pipeline", pipeline, "--inputs", z, "--out", output);
            Assert.True(r.ExitCode == 0, r.All);
            string text = CliCache.Flat(r.All);
            Assert.Contains("run as AutoencoderKL; config inferred from tensor shapes", text);
            Assert.Contains($"(latent scaling {scaling})", text);
            AssertSameOutputs(expected, GoldenTensors.Load(output));
        }
    }

    [Fact]
    public void Component_files_are_refused_where_they_cannot_run()
    {
        using var dir = new TempDirectory();
        string flux = cache.MakeTiny("flux", dir);
        string ids = TokenIds(dir);
        string clip = dir.File("clip_l.safetensors");
        File.Copy(Weights(Path.Combine(flux, "text_encoder")), clip);

        // The tiny CLIP's width is not CLIP-L's or CLIP-G's: its heads and activation need the config.
        string text = Refused(dir, "--model", clip, "--inputs", ids);
        Assert.Contains("heads and activation leave no trace in the weights", text);
        Assert.Contains("pass --config DIR", text);
        Assert.Contains("--pipeline applies to a VAE component file only", Refused(dir, "--model", flux, "--pipeline", "sd3", "--inputs", ids));
        Assert.Contains("--pipeline flux: it gives a VAE file's latent scaling",
            Refused(dir, "--model", clip, "--pipeline", "flux", "--config", Path.Combine(flux, "text_encoder"), "--inputs", ids));
        Assert.Contains("leave --component out", Refused(dir, "--model", clip, "--component", "vae", "--config", Path.Combine(flux, "text_encoder"), "--inputs", ids));

        // A file of neither kind says what was looked for and what it holds.
        var writer = new SafeTensorsWriter();
        writer.Add("lora_unet.down.weight", [2, 2], [1f, 2f, 3f, 4f]);
        string unknown = dir.File("mystery.safetensors");
        writer.Save(unknown);
        text = Refused(dir, "--model", unknown, "--inputs", ids);
        Assert.Contains("neither a transformer checkpoint", text);
        Assert.Contains("nor a component file", text);
        Assert.Contains("first keys: lora_unet.down.weight", text);
    }
}
