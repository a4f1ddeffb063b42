using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Engine.Tests.SingleFile;

/// <summary>
/// Component files of a <c>--components</c> folder of single files: which place each file fills (CLIP by width, T5, VAE),
/// and the configs read off their shapes with the published values of that place. The files hold zeros in the shapes
/// the inference reads (widths at their published size, everything else small).
/// </summary>
public sealed class ComponentFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void Add(SafeTensorsWriter writer, string key, params long[] shape)
        => writer.Add(key, shape, new float[shape.Aggregate(1L, (x, y) => x * y)]);

    private string Clip(string name, long width, bool projection, int layers = 2)
    {
        var writer = new SafeTensorsWriter();
        Add(writer, "text_model.embeddings.token_embedding.weight", 3, width);
        Add(writer, "text_model.embeddings.position_embedding.weight", 5, width);
        for (int i = 0; i < layers; i++) Add(writer, $"text_model.encoder.layers.{i}.mlp.fc1.weight", 7, width);
        if (projection) Add(writer, "text_projection.weight", 11, width);
        string path = _dir.File(name);
        writer.Save(path);
        return path;
    }

    private string T5(string name)
    {
        var writer = new SafeTensorsWriter();
        const string a = "encoder.block.0.layer.0.SelfAttention.";
        Add(writer, "shared.weight", 9, 12);
        Add(writer, a + "relative_attention_bias.weight", 32, 6);
        Add(writer, a + "q.weight", 30, 12);
        Add(writer, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", 20, 12);
        Add(writer, "encoder.block.2.layer.0.layer_norm.weight", 12);
        string path = _dir.File(name);
        writer.Save(path);
        return path;
    }

    private string Vae(string name)
    {
        var writer = new SafeTensorsWriter();
        Add(writer, "decoder.conv_in.weight", 64, 16, 1, 1);
        Add(writer, "decoder.conv_out.weight", 3, 32, 1, 1);
        for (int i = 0; i < 2; i++)
        {
            Add(writer, $"decoder.up.{i}.block.0.conv1.weight", 32 * (i + 1), 32 * (i + 1), 1, 1);
            Add(writer, $"decoder.up.{i}.block.0.conv2.weight", 32 * (i + 1), 32 * (i + 1), 1, 1);
        }
        string path = _dir.File(name);
        writer.Save(path);
        return path;
    }

    private static Dictionary<string, SafeTensorInfo> Tensors(string path)
    {
        using var set = SafeTensorsSet.OpenFile(path);
        return set.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    [Fact]
    public void Clip_files_take_the_published_heads_and_activation_of_their_width()
    {
        string l = Clip("clip_l.safetensors", 768, projection: true), g = Clip("clip_g.safetensors", 1280, projection: true);

        using var clipL = SingleFileCheckpoint.OpenComponentFile(l, ComponentSlot.Sd3Pipeline, "text_encoder");
        var configL = ClipTextConfig.From(clipL.Parts["text_encoder"].Config!);
        Assert.Equal((768, 12, "quick_gelu", 2, 768), (configL.HiddenSize, configL.NumAttentionHeads, configL.HiddenAct, configL.NumHiddenLayers, configL.ProjectionDim));
        // SD3 pools CLIP-L unprojected: the file's projection is replaced by the identity.
        Assert.True(clipL.Parts["text_encoder"].Tensors["text_projection.weight"].IsIdentity);

        using var clipG = SingleFileCheckpoint.OpenComponentFile(g, ComponentSlot.Sd3Pipeline, "text_encoder_2");
        var configG = ClipTextConfig.From(clipG.Parts["text_encoder_2"].Config!);
        Assert.Equal((1280, 20, "gelu", 11), (configG.HiddenSize, configG.NumAttentionHeads, configG.HiddenAct, configG.ProjectionDim));
        Assert.False(clipG.Parts["text_encoder_2"].Tensors["text_projection.weight"].IsIdentity);

        // Another width has no published heads: no config, and the reason names the config.json to give.
        using var odd = SingleFileCheckpoint.OpenComponentFile(Clip("odd.safetensors", 100, projection: false), ComponentSlot.FluxPipeline, "text_encoder");
        Assert.Null(odd.Parts["text_encoder"].Config);
        Assert.Contains("give text_encoder/config.json", odd.Parts["text_encoder"].ConfigOrigin);
    }

    [Fact]
    public void T5_config_is_read_off_the_shapes()
    {
        using var t5 = SingleFileCheckpoint.OpenComponentFile(T5("t5xxl_fp16.safetensors"), ComponentSlot.FluxPipeline, "text_encoder_2");
        var c = T5Config.From(t5.Parts["text_encoder_2"].Config!);
        Assert.Equal((12, 9, 3, 6, 5, 20, 32, true, "gelu_new"), (c.DModel, c.VocabSize, c.NumLayers, c.NumHeads, c.DKv, c.DFf, c.RelativeAttentionNumBuckets, c.IsGatedAct, c.DenseActFn));
    }

    [Fact]
    public void A_vae_file_takes_the_latent_scaling_of_its_pipeline()
    {
        string vae = Vae("ae.safetensors");
        using var flux = SingleFileCheckpoint.OpenComponentFile(vae, ComponentSlot.FluxPipeline, "vae");
        using var sd3 = SingleFileCheckpoint.OpenComponentFile(vae, ComponentSlot.Sd3Pipeline, "vae");
        var f = AutoencoderKLConfig.From(flux.Parts["vae"].Config!);
        var s = AutoencoderKLConfig.From(sd3.Parts["vae"].Config!);
        Assert.Equal((0.3611, 0.1159), (f.ScalingFactor, f.ShiftFactor ?? double.NaN));
        Assert.Equal((1.5305, 0.0609), (s.ScalingFactor, s.ShiftFactor ?? double.NaN));
        Assert.Equal([32, 64], f.BlockOutChannels);
        Assert.Contains("decoder.up_blocks.1.resnets.0.conv1.weight", flux.Parts["vae"].Tensors.Keys); // LDM's finest level is diffusers' last
    }

    [Fact]
    public void Files_are_placed_by_kind_and_width_per_pipeline()
    {
        string root = _dir.File("parts");
        Directory.CreateDirectory(root);
        Clip(Path.Combine("parts", "clip_l.safetensors"), 768, projection: true);
        Clip(Path.Combine("parts", "clip_g.safetensors"), 1280, projection: true);
        T5(Path.Combine("parts", "t5xxl_fp8_e4m3fn.safetensors"));
        Vae(Path.Combine("parts", "ae.safetensors"));
        var sd3 = ComponentFilesFolder.Assign(root, ComponentSlot.Sd3Pipeline, "", _ => null);
        Assert.Equal(["text_encoder", "text_encoder_2", "text_encoder_3", "vae"], sd3.Keys);
        Assert.EndsWith("clip_g.safetensors", sd3["text_encoder_2"]);
        Assert.EndsWith("t5xxl_fp8_e4m3fn.safetensors", sd3["text_encoder_3"]);
        // FLUX has no CLIP-G: the file is passed over, the T5 is text_encoder_2.
        var flux = ComponentFilesFolder.Assign(root, ComponentSlot.FluxPipeline, "", _ => null);
        Assert.Equal(["text_encoder", "text_encoder_2", "vae"], flux.Keys);
        Assert.EndsWith("t5xxl_fp8_e4m3fn.safetensors", flux["text_encoder_2"]);

        File.Copy(Other(), Path.Combine(root, "notes.safetensors"));
        var error = Assert.Throws<AccelAesException>(() => ComponentFilesFolder.Assign(root, ComponentSlot.FluxPipeline, "", _ => null));
        Assert.Contains("notes.safetensors' is none of the files a folder of single files takes", error.Message);
    }

    private string Other()
    {
        var writer = new SafeTensorsWriter();
        Add(writer, "something.else", 2);
        string path = _dir.File("other.safetensors");
        writer.Save(path);
        return path;
    }
}
