namespace AccelAes.Cli.Tests;

/// <summary>
/// FLUX.1 "all-in-one" checkpoints as ComfyUI saves them (transformer under <c>model.diffusion_model.</c>, VAE under
/// <c>vae.</c>, CLIP-L and T5 under <c>text_encoders.*.transformer.</c>), written here from the tiny FLUX folder by
/// <see cref="AllInOneFileWriter"/>: the bundled VAE and text encoders load from the file, so `--components` gives only
/// the tokenizers and the scheduler (and the configs the tiny widths need), and the image is the folder's, bit for bit.
/// </summary>
public class AllInOneCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static readonly string[] Settings = ["--prompt", "a red cube", "--seed", "3", "--steps", "2", "--width", "32", "--height", "48"];

    private static readonly string[] Bundled = ["vae", "text_encoder", "text_encoder_2"];

    private byte[] Generate(TempDirectory dir, string name, params string[] model)
    {
        string image = dir.File(name + ".png");
        var r = cache.Run(["generate", .. model, "--out", image, .. Settings]);
        Assert.True(r.ExitCode == 0, r.All);
        return GenerateCliTests.Decode(image).Rgb;
    }

    /// <summary>The tiny FLUX folder and its all-in-one file.</summary>
    private (string Folder, string File) Make(TempDirectory dir)
    {
        string folder = cache.MakeTiny("flux", dir);
        string file = dir.File("flux1-tiny-aio.safetensors");
        AllInOneFileWriter.WriteFlux(folder, file, dir.Path);
        return (folder, file);
    }

    /// <summary>A copy of <paramref name="folder"/> with no weights of the transformer, the VAE or the text encoders: only configs, tokenizers, scheduler.</summary>
    private static string WithoutWeights(string folder, string copy)
    {
        foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            if (file.EndsWith(".safetensors", StringComparison.Ordinal)) continue;
            string to = Path.Combine(copy, Path.GetRelativePath(folder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
        return copy;
    }

    [Fact]
    public void An_all_in_one_file_with_a_folder_without_weights_generates_the_folder_image()
    {
        using var dir = new TempDirectory();
        var (folder, file) = Make(dir);
        byte[] expected = Generate(dir, "folder", "--model", folder);
        string small = WithoutWeights(folder, dir.File("small"));
        Assert.Equal(expected, Generate(dir, "aio", "--model", file, "--components", small));
    }

    [Fact]
    public void The_files_bundled_components_win_over_the_components_folders()
    {
        using var dir = new TempDirectory();
        var (folder, file) = Make(dir);
        byte[] expected = Generate(dir, "folder", "--model", folder);

        // Another model's VAE and text encoders in the folder (same shapes, other weights): they change the folder's image,
        // and the all-in-one file's own ones are still what runs, as ComfyUI's checkpoint loader does.
        string other = dir.File("other");
        var made = cache.Run("make-tiny", "--arch", "flux", "--seed", "9", "--out", other);
        Assert.True(made.ExitCode == 0, made.All);
        foreach (string component in Bundled)
            File.Copy(AllInOneFileWriter.Weights(Path.Combine(other, component)), AllInOneFileWriter.Weights(Path.Combine(folder, component)), overwrite: true);
        Assert.NotEqual(expected, Generate(dir, "changed-folder", "--model", folder));
        Assert.Equal(expected, Generate(dir, "aio-diffusers", "--model", file, "--components", folder));

        // The same with a folder of single files holding other CLIP-L / T5 / VAE files.
        string parts = WithoutWeights(folder, dir.File("parts"));
        File.Copy(AllInOneFileWriter.Weights(Path.Combine(other, "text_encoder")), Path.Combine(parts, "clip_l.safetensors"));
        File.Copy(AllInOneFileWriter.Weights(Path.Combine(other, "text_encoder_2")), Path.Combine(parts, "t5xxl_fp16.safetensors"));
        SaiSd3FileWriter.WriteVae(Path.Combine(other, "vae"), Path.Combine(parts, "ae.safetensors"));
        File.Delete(Path.Combine(parts, "model_index.json")); // a folder of single files, not a pipeline folder
        Assert.Equal(expected, Generate(dir, "aio-parts", "--model", file, "--components", parts));
    }

    [Fact]
    public void A_bundled_scaled_fp8_t5_loads_as_its_dequantised_weights()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        // Comfy-Org's fp8 all-in-one files carry T5 as e4m3 codes; here in ComfyUI's scaled layout (codes, a per-tensor
        // scale_weight, the scaled_fp8 marker). The folder gets the same weights dequantised (code × scale in fp32).
        string t5File = AllInOneFileWriter.Weights(Path.Combine(folder, "text_encoder_2"));
        string fp8File = dir.File("t5-fp8.safetensors");
        var fp8 = new Loader.SafeTensors.SafeTensorsWriter();
        var decoded = new Loader.SafeTensors.SafeTensorsWriter();
        var random = new Random(11);
        using (var set = Loader.SafeTensors.SafeTensorsSet.OpenFile(t5File))
        {
            foreach (var t in set.Tensors)
            {
                long[] shape = t.Shape.ToArray();
                if (t.Rank != 2 || t.Name == "shared.weight" || t.Name.EndsWith("relative_attention_bias.weight", StringComparison.Ordinal))
                {
                    float[] values = set.ReadAsFloat32(t.Name);
                    fp8.Add(t.Name, shape, values);
                    decoded.Add(t.Name, shape, values);
                    continue;
                }
                // Codes of either sign with exponents up to 14 (never the NaN code S.1111.111).
                byte[] codes = Enumerable.Range(0, (int)t.ElementCount).Select(_ => (byte)(random.Next(0, 0x78) | (random.Next(2) << 7))).ToArray();
                float scale = 0.02f + 0.01f * random.NextSingle();
                float[] dequantised = Loader.SafeTensors.DTypeConversion.ToFloat32(codes, Loader.SafeTensors.SafeTensorDType.F8E4M3);
                for (int i = 0; i < dequantised.Length; i++) dequantised[i] *= scale;
                fp8.Add(t.Name, Loader.SafeTensors.SafeTensorDType.F8E4M3, shape, codes);
                fp8.Add(t.Name[..^".weight".Length] + ".scale_weight", [], [scale]);
                decoded.Add(t.Name, shape, dequantised);
            }
        }
        fp8.Add("scaled_fp8", [0], []);
        fp8.Save(fp8File);
        decoded.Save(t5File);

        string transformer = dir.File("bfl.safetensors"), vae = dir.File("ae.safetensors"), file = dir.File("flux1-tiny-fp8-aio.safetensors");
        BflFluxFileWriter.Write(Path.Combine(folder, "transformer"), transformer);
        SaiSd3FileWriter.WriteVae(Path.Combine(folder, "vae"), vae);
        AllInOneFileWriter.Write(file,
        [
            (AllInOneFileWriter.DiffusionModel, transformer),
            (AllInOneFileWriter.FluxVae, vae),
            (AllInOneFileWriter.ClipL, AllInOneFileWriter.Weights(Path.Combine(folder, "text_encoder"))),
            (AllInOneFileWriter.T5xxl, fp8File),
        ]);
        byte[] expected = Generate(dir, "folder", "--model", folder);
        Assert.Equal(expected, Generate(dir, "aio-fp8", "--model", file, "--components", WithoutWeights(folder, dir.File("small"))));
    }

    [Fact]
    public void Without_components_the_error_names_only_what_no_single_file_holds()
    {
        using var dir = new TempDirectory();
        var (folder, file) = Make(dir);
        // --config: the tiny transformer's rotary split is not FLUX.1's published one, so it is given.
        var r = cache.Run(["generate", "--model", file, "--config", Path.Combine(folder, "transformer"), "--out", dir.File("a.png"), .. Settings]);
        Assert.NotEqual(0, r.ExitCode);
        string text = CliCache.Flat(r.All);
        Assert.Contains("holds transformer, vae, text_encoder, text_encoder_2 of a FluxPipeline; generating also needs tokenizer, tokenizer_2, scheduler", text);
    }

    [Fact]
    public void Inspect_names_each_bundled_component_and_plan_counts_them()
    {
        using var dir = new TempDirectory();
        var (folder, file) = Make(dir);
        // The tiny transformer's rotary split is not FLUX.1's published one: its config.json beside the file gives it.
        File.Copy(Path.Combine(folder, "transformer", "config.json"), Path.Combine(Path.GetDirectoryName(file)!, "config.json"));
        var r = cache.Run("inspect", file);
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("maps to: transformer = FluxTransformer2DModel", text);
        Assert.Contains("maps to: vae = AutoencoderKL (", text);
        Assert.Contains("bundled under 'vae.')", text);
        Assert.Contains("maps to: text_encoder = CLIPTextModel (", text);
        Assert.Contains("bundled under 'text_encoders.clip_l.transformer.')", text);
        Assert.Contains("maps to: text_encoder_2 = T5EncoderModel (", text);
        Assert.Contains("bundled under 'text_encoders.t5xxl.transformer.')", text);
        Assert.Contains("other tensors in the file (of no component the pipeline takes, not loaded): 1, e.g. text_encoders.clip_l.logit_scale", text);

        System.Text.Json.JsonElement Weights(string json, params string[] model)
        {
            var plan = cache.Run(["plan", .. model, "--memory", "1GiB", "--width", "256", "--height", "256", "--json", json]);
            Assert.True(plan.ExitCode == 0, plan.All);
            return System.Text.Json.JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("weight_bytes").Clone();
        }
        var fromFolder = Weights(dir.File("folder.json"), "--model", folder);
        var fromFile = Weights(dir.File("aio.json"), "--model", file, "--components", WithoutWeights(folder, dir.File("small")));
        string[] counted = ["transformer", .. Bundled];
        foreach (string component in counted)
            Assert.Equal(fromFolder.GetProperty(component).GetInt64(), fromFile.GetProperty(component).GetInt64());
    }
}
