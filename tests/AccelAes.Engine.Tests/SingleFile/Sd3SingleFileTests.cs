using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Engine.Tests.SingleFile;

/// <summary>
/// SD3 / SD3.5 single files in Stability AI's layout, written from the tiny diffusers pipelines by the independent
/// test-side <see cref="SaiSd3FileWriter"/>: the views give the diffusers tensors bit for bit, the configs are read off
/// the tensors, a file composed with its components folder generates the folder's image, and broken files are named.
/// </summary>
public sealed class Sd3SingleFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Tiny(string arch)
    {
        string folder = _dir.File(arch);
        if (!Directory.Exists(folder)) TinyModels.Write(arch, folder, seed: 5);
        return folder;
    }

    private string SaiFile(string arch, bool vae = true, bool textEncoders = false, Action<SortedDictionary<string, (long[] Shape, float[] Values)>>? edit = null)
    {
        string path = _dir.File($"{arch}-{Guid.NewGuid():N}.safetensors");
        SaiSd3FileWriter.Write(Tiny(arch), path, vae, textEncoders, edit);
        return path;
    }

    private static void AssertViewsEqualFolder(SingleFileCheckpoint checkpoint, SingleFilePart part, string componentFolder, string baseName, string? skip = null)
    {
        using var folder = SafeTensorsSet.OpenComponent(componentFolder, baseName, null);
        Assert.Equal(folder.Tensors.Select(t => t.Name).Where(n => n != skip).Order(StringComparer.Ordinal),
            part.Tensors.Keys.Where(n => n != skip).Order(StringComparer.Ordinal));
        foreach (var (name, view) in part.Tensors)
        {
            if (name == skip) continue;
            var expected = folder.ReadAsFloat32(name);
            var ours = new float[view.ElementCount];
            checkpoint.ReadFloat32(view, ours);
            Assert.True(expected.AsSpan().SequenceEqual(ours), $"{part.Component}: {name} differs from the folder's");
            Assert.Equal(folder.Get(name).Shape.ToArray(), view.Shape);
        }
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("sd35")]
    public void Every_view_equals_the_diffusers_tensor_bit_for_bit(string arch)
    {
        string folder = Tiny(arch);
        string file = SaiFile(arch, vae: true, textEncoders: true);
        using var checkpoint = SingleFileCheckpoint.Open(file, componentConfig: SingleFileModel.ComponentConfigs(folder));
        Assert.Equal(CheckpointLayout.SaiSd3, checkpoint.Format.Layout);
        Assert.Equal(["text_encoder", "text_encoder_2", "transformer", "vae"], checkpoint.Parts.Keys.Order(StringComparer.Ordinal));
        AssertViewsEqualFolder(checkpoint, checkpoint.Transformer, Path.Combine(folder, "transformer"), "diffusion_pytorch_model");
        AssertViewsEqualFolder(checkpoint, checkpoint.Parts["vae"], Path.Combine(folder, "vae"), "diffusion_pytorch_model");
        AssertViewsEqualFolder(checkpoint, checkpoint.Parts["text_encoder_2"], Path.Combine(folder, "text_encoder_2"), "model");
        // CLIP-L: diffusers replaces the projection with the identity (SD3 pools CLIP-L unprojected).
        AssertViewsEqualFolder(checkpoint, checkpoint.Parts["text_encoder"], Path.Combine(folder, "text_encoder"), "model", skip: "text_projection.weight");
        var projection = checkpoint.Parts["text_encoder"].Tensors["text_projection.weight"];
        var values = new float[projection.ElementCount];
        checkpoint.ReadFloat32(projection, values);
        long n = projection.Shape[0];
        for (long i = 0; i < n; i++)
            for (long j = 0; j < n; j++)
                Assert.Equal(i == j ? 1f : 0f, values[i * n + j]);
        Assert.All(checkpoint.Parts.Values, p => Assert.Empty(p.Unconsumed));
        // q / k / v are row ranges of the fused qkv: handed over from the map without a copy.
        Assert.True(checkpoint.Tensors["transformer_blocks.1.attn.to_k.weight"].IsZeroCopy);
        Assert.Equal("model.diffusion_model.joint_blocks.1.x_block.attn.qkv.weight", checkpoint.Tensors["transformer_blocks.1.attn.to_k.weight"].Parts[0].Source.Name);
    }

    [Fact]
    public void Comfyui_mixed_precision_file_gives_the_views_of_its_dequantised_weights()
    {
        string file = SaiFile("sd35", vae: false), mixed = _dir.File("sd35-mixed.safetensors"), dequantised = _dir.File("sd35-dequantised.safetensors");
        // ComfyUI keeps the embedders in float and quantises the blocks' Linears (keys here under model.diffusion_model.).
        ComfyQuantFileWriter.Write(file, mixed, dequantised, module => module.Contains("joint_blocks.", StringComparison.Ordinal) ? "float8_e4m3fn" : null);
        using var ours = SingleFileCheckpoint.Open(mixed);
        using var reference = SingleFileCheckpoint.Open(dequantised);
        Assert.Equal(WeightEncoding.ComfyMixedPrecision, ours.Format.Encoding);
        Assert.Empty(ours.Unconsumed);
        Assert.Equal(reference.Tensors.Keys.Order(StringComparer.Ordinal), ours.Tensors.Keys.Order(StringComparer.Ordinal));
        int scaled = 0;
        foreach (var (name, view) in ours.Tensors)
        {
            var expected = new float[view.ElementCount];
            var values = new float[view.ElementCount];
            reference.ReadFloat32(reference.Tensors[name], expected);
            ours.ReadFloat32(view, values);
            Assert.True(expected.AsSpan().SequenceEqual(values), $"{name} differs from the dequantised file's");
            if (view.Scale is not null) scaled++;
        }
        Assert.True(scaled > 0, "no view carries a weight_scale");
    }

    [Fact]
    public void Sd35_config_is_read_off_the_tensors()
    {
        string folder = Tiny("sd35");
        using var checkpoint = SingleFileCheckpoint.Open(SaiFile("sd35"));
        Assert.Equal("inferred from tensor shapes", checkpoint.ConfigOrigin);
        var inferred = Sd3TransformerConfig.From(checkpoint.Config);
        var published = Sd3TransformerConfig.From(JsonConfig.Load(Path.Combine(folder, "transformer", "config.json")));
        // sample_size leaves no trace in the weights: the published 128.
        Assert.Equal(published with { SampleSize = Sd3ConfigInference.PublishedSampleSize, DualAttentionLayers = inferred.DualAttentionLayers }, inferred);
        Assert.Equal(published.DualAttentionLayers, inferred.DualAttentionLayers);
        Assert.Equal("rms_norm", inferred.QkNorm);
        Assert.Equal(16, inferred.AttentionHeadDim); // the ln_q length, not the published 64

        // The tiny VAE's 8-wide first block admits no 32 groups (SD3's published norm_num_groups): its config must be given.
        var tinyVae = checkpoint.Parts["vae"];
        Assert.Null(tinyVae.Config);
        Assert.Contains("norm_num_groups leaves no trace in the weights", tinyVae.ConfigOrigin);
        Assert.Contains("--components DIR", Assert.Throws<AccelAesException>(() => tinyVae.RequireConfig(checkpoint.Source)).Message);
    }

    [Fact]
    public void Vae_config_is_read_off_the_tensors_with_sd3s_published_factors()
    {
        // A VAE whose widths admit 32 groups; inference reads output widths and key counts, so 1×1 kernels keep it small.
        var writer = new SafeTensorsWriter();
        void Add(string key, params long[] shape) => writer.Add(LdmVaeKeyMap.Prefix + key, shape, new float[shape.Aggregate(1L, (x, y) => x * y)]);
        Add("decoder.conv_in.weight", 64, 16, 1, 1);
        Add("decoder.conv_out.weight", 3, 32, 1, 1);
        Add("encoder.conv_in.weight", 32, 3, 1, 1);
        long[] widths = [32, 64, 64, 64];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
            {
                Add($"decoder.up.{i}.block.{j}.conv1.weight", widths[i], widths[i], 1, 1);
                Add($"decoder.up.{i}.block.{j}.conv2.weight", widths[i], widths[i], 1, 1);
            }
        Add("decoder.mid.attn_1.q.weight", 64, 64, 1, 1);
        string path = _dir.File("vae.safetensors");
        writer.Save(path);
        using var set = SafeTensorsSet.OpenFile(path);
        var shapes = set.Tensors.ToDictionary(t => t.Name, t => t, StringComparer.Ordinal);
        var (config, origin) = LdmVaeConfigInference.Resolve(LdmVaeConfigInference.Infer(shapes, "sd3-vae"), null, "sd3-vae");
        Assert.Equal("inferred from tensor shapes", origin);
        var vae = AutoencoderKLConfig.From(config!);
        Assert.Equal([32, 64, 64, 64], vae.BlockOutChannels);
        Assert.Equal((2, 16, 3, 3, false, false, true), (vae.LayersPerBlock, vae.LatentChannels, vae.InChannels, vae.OutChannels, vae.UseQuantConv, vae.UsePostQuantConv, vae.MidBlockAddAttention));
        Assert.Equal((1.5305, 0.0609, 32), (vae.ScalingFactor, vae.ShiftFactor, vae.NormNumGroups)); // SD3's published values
    }

    [Fact]
    public void Without_a_qk_norm_the_published_head_dim_64_is_assumed()
    {
        using var checkpoint = SingleFileCheckpoint.Open(SaiFile("sd3"));
        var inferred = Sd3TransformerConfig.From(checkpoint.Config);
        Assert.Equal((64, 1, null), (inferred.AttentionHeadDim, inferred.NumAttentionHeads, inferred.QkNorm));
        Assert.Empty(inferred.DualAttentionLayers);
        Assert.Equal(3, inferred.NumLayers);
    }

    [Fact]
    public void A_given_config_is_checked_field_by_field()
    {
        string folder = Tiny("sd35");
        string file = SaiFile("sd35");
        string wrong = _dir.File("wrong");
        Directory.CreateDirectory(wrong);
        File.WriteAllText(Path.Combine(wrong, "config.json"),
            File.ReadAllText(Path.Combine(folder, "transformer", "config.json")).Replace("\"dual_attention_layers\": [0, 1]", "\"dual_attention_layers\": [0]"));
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(file, wrong));
        Assert.Contains("dual_attention_layers = [0], but the tensors of", error.Message);
        Assert.Contains("say [0, 1]", error.Message);

        using var right = SingleFileCheckpoint.Open(file, Path.Combine(folder, "transformer"));
        Assert.Equal(Path.Combine(folder, "transformer", "config.json"), right.ConfigOrigin);
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("sd35")]
    public void A_file_with_its_components_folder_generates_the_folder_image(string arch)
    {
        string folder = Tiny(arch);
        string file = SaiFile(arch, vae: true);
        var cpu = new CpuBackend();
        var request = new GenerationRequest { Prompt = "a photo of a cat", Seed = 7, Steps = 2, Width = 32, Height = 48 };
        byte[] expected = TextToImage.Open(folder, cpu).Generate(request).Image.Pixels;
        var composed = SingleFileModel.Open(file, folder, null);
        Assert.True(composed.IsOverridden("transformer") && composed.IsOverridden("vae"));
        Assert.Equal(expected, TextToImage.Open(composed, cpu).Generate(request).Image.Pixels);
    }

    [Fact]
    public void Without_components_the_missing_pieces_are_named()
    {
        var error = Assert.Throws<AccelAesException>(() => SingleFileModel.Open(SaiFile("sd3", vae: true), null, null));
        Assert.Contains("holds transformer, vae of a StableDiffusion3Pipeline; generating also needs text_encoder, text_encoder_2, tokenizer, tokenizer_2, scheduler", error.Message);
        Assert.Contains("--components DIR", error.Message);
    }

    [Fact]
    public void A_components_folder_without_what_the_file_lacks_is_named()
    {
        string components = _dir.File("components");
        TinyModels.Write("sd3", components, seed: 5);
        foreach (string weights in Directory.EnumerateFiles(Path.Combine(components, "vae"), "*.safetensors")) File.Delete(weights);
        foreach (string weights in Directory.EnumerateFiles(Path.Combine(components, "transformer"), "*.safetensors")) File.Delete(weights);
        // The file carries the VAE: the folder's missing VAE weights do not matter, nor do its transformer's.
        Assert.True(SingleFileModel.Open(SaiFile("sd3", vae: true), components, null).IsOverridden("vae"));
        var error = Assert.Throws<AccelAesException>(() => SingleFileModel.Open(SaiFile("sd3", vae: false), components, null));
        Assert.Contains("lacks vae (AutoencoderKL)", error.Message);
        Assert.Contains("has no weights", error.Message);
        var flux = _dir.File("flux");
        TinyModels.Write("flux", flux, seed: 5);
        var wrongPipeline = Assert.Throws<AccelAesException>(() => SingleFileModel.Open(SaiFile("sd3"), flux, null));
        Assert.Contains("holds a FluxPipeline", wrongPipeline.Message);
    }

    [Fact]
    public void Hostile_files_are_named()
    {
        var rows = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(SaiFile("sd3", edit: t =>
        {
            string key = SaiSd3FileWriter.Prefix + "joint_blocks.0.x_block.attn.qkv.weight";
            var (shape, values) = t[key];
            t[key] = ([shape[0] - 1, shape[1]], values[..(int)((shape[0] - 1) * shape[1])]);
        })));
        Assert.Contains("tensor 'joint_blocks.0.x_block.attn.qkv.weight' has 191 rows", rows.Message);
        Assert.Contains("needs 64 + 64 + 64 = 192 (width 64 from x_embedder.proj.weight)", rows.Message);

        var missing = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(SaiFile("sd3",
            edit: t => t.Remove(SaiSd3FileWriter.Prefix + "joint_blocks.1.x_block.mlp.fc2.bias"))));
        Assert.Contains("needs tensor 'joint_blocks.1.x_block.mlp.fc2.bias', which the file lacks", missing.Message);

        var block = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(SaiFile("sd3", edit: t =>
        {
            foreach (string k in t.Keys.Where(k => k.Contains("joint_blocks.1.", StringComparison.Ordinal)).ToList()) t.Remove(k);
        })));
        Assert.Contains("'joint_blocks.1.*' is missing (the file has joint_blocks 0, 2)", block.Message);

        var table = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(SaiFile("sd3", edit: t =>
        {
            string key = SaiSd3FileWriter.Prefix + "pos_embed";
            var (shape, values) = t[key];
            t[key] = ([1, shape[1] - 1, shape[2]], values[..(int)((shape[1] - 1) * shape[2])]);
        })));
        Assert.Contains("'pos_embed' has 2303 positions, not a square table", table.Message);

        var vae = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(SaiFile("sd3",
            edit: t => t.Remove("first_stage_model.decoder.up.0.block.0.conv2.weight"))));
        // The bundled VAE is read as a VAE file under its prefix: the message names the prefix and the key under it.
        Assert.Contains("(vae, keys under 'first_stage_model.')", vae.Message);
        Assert.Contains("'decoder.up.0.block.0.conv2.weight' is missing", vae.Message);
    }
}
