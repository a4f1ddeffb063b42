namespace AccelAes.Cli.Tests;

/// <summary>
/// `generate --model FILE --components DIR` where DIR is a folder of single files as ComfyUI users have them (CLIP and T5
/// files in transformers' names, the VAE in the LDM layout), written here from the tiny pipelines: the image is the
/// diffusers folder's, bit for bit, on the CPU.
/// </summary>
public class SingleFileComponentsFolderCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private static readonly string[] Settings = ["--prompt", "a red cube", "--seed", "3", "--steps", "2", "--width", "32", "--height", "48"];

    private byte[] Generate(TempDirectory dir, string name, params string[] model)
    {
        string image = dir.File(name + ".png");
        var r = cache.Run(["generate", .. model, "--out", image, .. Settings]);
        Assert.True(r.ExitCode == 0, r.All);
        return GenerateCliTests.Decode(image).Rgb;
    }

    private static string Weights(string componentFolder) => Directory.EnumerateFiles(componentFolder, "*.safetensors").Single();

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }

    /// <summary>
    /// A FLUX folder of single files: clip_l / t5xxl / ae files, the tokenizers and scheduler of the diffusers folder, and the
    /// configs the tiny transformer, CLIP and VAE need (their rotary split, heads and groups are not the published ones); the
    /// T5's is inferred.
    /// </summary>
    private static string FluxParts(string folder, string parts)
    {
        Directory.CreateDirectory(parts);
        foreach (string sub in new[] { "tokenizer", "tokenizer_2", "scheduler" }) CopyFolder(Path.Combine(folder, sub), Path.Combine(parts, sub));
        foreach (string sub in new[] { "transformer", "text_encoder", "vae" })
        {
            Directory.CreateDirectory(Path.Combine(parts, sub));
            File.Copy(Path.Combine(folder, sub, "config.json"), Path.Combine(parts, sub, "config.json"));
        }
        File.Copy(Weights(Path.Combine(folder, "text_encoder")), Path.Combine(parts, "clip_l.safetensors"));
        File.Copy(Weights(Path.Combine(folder, "text_encoder_2")), Path.Combine(parts, "t5xxl_fp16.safetensors"));
        SaiSd3FileWriter.WriteVae(Path.Combine(folder, "vae"), Path.Combine(parts, "ae.safetensors"));
        string file = Path.Combine(parts, "flux1-tiny.safetensors"); // the model file may share the folder
        BflFluxFileWriter.Write(Path.Combine(folder, "transformer"), file);
        return file;
    }

    [Fact]
    public void Flux_file_with_a_folder_of_single_files_generates_the_folder_image()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        string parts = dir.File("parts");
        string file = FluxParts(folder, parts);
        byte[] expected = Generate(dir, "folder", "--model", folder);
        Assert.Equal(expected, Generate(dir, "parts", "--model", file, "--components", parts));

        // The component files are what run: another model's T5 file changes the image.
        string other = dir.File("other");
        var made = cache.Run("make-tiny", "--arch", "flux", "--seed", "9", "--out", other);
        Assert.True(made.ExitCode == 0, made.All);
        File.Copy(Weights(Path.Combine(other, "text_encoder_2")), Path.Combine(parts, "t5xxl_fp16.safetensors"), overwrite: true);
        Assert.NotEqual(expected, Generate(dir, "other-t5", "--model", file, "--components", parts));
    }

    [Fact]
    public void A_folder_of_single_files_names_what_it_lacks()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        string parts = dir.File("parts");
        string file = FluxParts(folder, parts);

        Directory.Delete(Path.Combine(parts, "tokenizer_2"), recursive: true);
        File.Delete(Path.Combine(parts, "ae.safetensors"));
        var r = cache.Run(["generate", "--model", file, "--components", parts, "--out", dir.File("a.png"), .. Settings]);
        Assert.NotEqual(0, r.ExitCode);
        string text = CliCache.Flat(r.All);
        Assert.Contains("lacks vae (VAE file), tokenizer_2/: no single file holds the tokenizers or the scheduler", text);
        Assert.Contains("clip_l.safetensors → text_encoder", text);

        File.Copy(Path.Combine(parts, "clip_l.safetensors"), Path.Combine(parts, "clip_l_copy.safetensors"));
        var twice = cache.Run(["generate", "--model", file, "--components", parts, "--out", dir.File("b.png"), .. Settings]);
        Assert.NotEqual(0, twice.ExitCode);
        Assert.Contains("are both CLIP-L files (text_encoder of a FluxPipeline); keep one", CliCache.Flat(twice.All));
    }

    [Fact]
    public void Sd3_diffusers_folder_with_single_files_in_it_generates_the_folder_image()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("sd3", dir);
        string file = dir.File("sd3.safetensors");
        SaiSd3FileWriter.Write(folder, file, vae: false);
        byte[] expected = Generate(dir, "folder", "--model", folder);
        // CLIP-G and the VAE as files in the pipeline folder, their subfolders keeping only config.json: the tiny CLIP-G's
        // width is not the published 1280, so its place comes from text_encoder_2/config.json's hidden_size.
        File.Move(Weights(Path.Combine(folder, "text_encoder_2")), Path.Combine(folder, "clip_g.safetensors"));
        SaiSd3FileWriter.WriteVae(Path.Combine(folder, "vae"), Path.Combine(folder, "sd3_vae.safetensors"), prefix: "first_stage_model.");
        File.Delete(Weights(Path.Combine(folder, "vae")));
        Assert.Equal(expected, Generate(dir, "mixed", "--model", file, "--components", folder));
    }

    [Fact]
    public void Generate_from_reruns_a_single_file_record_with_its_components_and_config()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        string parts = dir.File("parts");
        string file = FluxParts(folder, parts);
        // The transformer's config given by --config only, so the rerun needs the recorded --config as well as --components.
        string config = dir.File("config");
        Directory.CreateDirectory(config);
        File.Move(Path.Combine(parts, "transformer", "config.json"), Path.Combine(config, "config.json"));
        string first = dir.File("first.png"), again = dir.File("again.png");
        var r = cache.Run(["generate", "--model", file, "--components", parts, "--config", config, "--out", first, .. Settings]);
        Assert.True(r.ExitCode == 0, r.All);
        var rerun = cache.Run("generate", "--from", first, "--out", again);
        Assert.True(rerun.ExitCode == 0, rerun.All);
        Assert.Equal(GenerateCliTests.Decode(first).Rgb, GenerateCliTests.Decode(again).Rgb);
    }

    [Fact]
    public void Plan_counts_the_component_files_from_their_headers()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        string parts = dir.File("parts");
        string file = FluxParts(folder, parts);
        System.Text.Json.JsonElement Weights(string json, params string[] model)
        {
            var r = cache.Run(["plan", .. model, "--memory", "1GiB", "--width", "256", "--height", "256", "--json", json]);
            Assert.True(r.ExitCode == 0, r.All);
            return System.Text.Json.JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("weight_bytes").Clone();
        }
        var fromFolder = Weights(dir.File("folder.json"), "--model", folder);
        var fromParts = Weights(dir.File("parts.json"), "--model", file, "--components", parts);
        foreach (string component in new[] { "transformer", "vae", "text_encoder", "text_encoder_2" })
            Assert.Equal(fromFolder.GetProperty(component).GetInt64(), fromParts.GetProperty(component).GetInt64());
    }

    [Fact]
    public void Inspect_names_a_component_file_and_its_places()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        var r = cache.Run("inspect", Weights(Path.Combine(folder, "text_encoder_2")));
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("format: component file: a T5 encoder (encoder.block.N.*); it loads from a --components folder of single files", text);
        Assert.Contains("maps to: FluxPipeline text_encoder_2 = T5EncoderModel (T5-XXL)", text);
        Assert.Contains("maps to: StableDiffusion3Pipeline text_encoder_3 = T5EncoderModel (T5-XXL)", text);
    }

    [Fact]
    public void A_scaled_fp8_t5_file_loads_as_its_dequantised_weights()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        string parts = dir.File("parts");
        string file = FluxParts(folder, parts);
        // ComfyUI's t5xxl_fp8_e4m3fn_scaled layout: every Linear weight as F8_E4M3 codes with a per-tensor scale_weight, the
        // scaled_fp8 marker; the diffusers folder gets the same weights dequantised (code × scale in fp32), so both must
        // give one image.
        string t5 = Path.Combine(folder, "text_encoder_2");
        string t5File = Weights(t5);
        var fp8 = new Loader.SafeTensors.SafeTensorsWriter();
        var decoded = new Loader.SafeTensors.SafeTensorsWriter();
        var unscaled = new Loader.SafeTensors.SafeTensorsWriter(); // the same codes without their scales
        var random = new Random(5);
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
                    unscaled.Add(t.Name, shape, values);
                    continue;
                }
                // Codes of either sign with exponents up to 14 (never the NaN code S.1111.111).
                byte[] codes = Enumerable.Range(0, (int)t.ElementCount).Select(_ => (byte)(random.Next(0, 0x78) | (random.Next(2) << 7))).ToArray();
                float scale = 0.02f + 0.01f * random.NextSingle();
                float[] values2 = Loader.SafeTensors.DTypeConversion.ToFloat32(codes, Loader.SafeTensors.SafeTensorDType.F8E4M3);
                for (int i = 0; i < values2.Length; i++) values2[i] *= scale;
                fp8.Add(t.Name, Loader.SafeTensors.SafeTensorDType.F8E4M3, shape, codes);
                unscaled.Add(t.Name, Loader.SafeTensors.SafeTensorDType.F8E4M3, shape, codes);
                fp8.Add(t.Name[..^".weight".Length] + ".scale_weight", [], [scale]);
                decoded.Add(t.Name, shape, values2);
            }
        }
        fp8.Add("scaled_fp8", [0], []);
        File.Delete(Path.Combine(parts, "t5xxl_fp16.safetensors"));
        fp8.Save(Path.Combine(parts, "t5xxl_fp8_e4m3fn_scaled.safetensors"));
        decoded.Save(t5File);
        byte[] expected = Generate(dir, "folder", "--model", folder);
        Assert.Equal(expected, Generate(dir, "parts", "--model", file, "--components", parts));
        // The scales are applied: the codes alone give another image.
        File.Delete(Path.Combine(parts, "t5xxl_fp8_e4m3fn_scaled.safetensors"));
        unscaled.Save(Path.Combine(parts, "t5xxl_fp8_e4m3fn.safetensors"));
        Assert.NotEqual(expected, Generate(dir, "unscaled", "--model", file, "--components", parts));
    }
}
