using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Loader.Tests.SingleFile;

/// <summary>
/// The VAE and text encoders an all-in-one FLUX file bundles (ComfyUI's <c>text_encoders.*.transformer.</c>): read as the
/// component files are — a published-width CLIP-L gets the published config with no config.json, a ComfyUI scaled-fp8 T5
/// keeps its per-tensor scales — and only what no component takes is left over.
/// </summary>
public class BundledComponentsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string Clip = "text_encoders.clip_l.transformer.";
    private const string T5 = "text_encoders.t5xxl.transformer.";

    /// <summary>A prefixed BFL transformer with a CLIP-L of the published width 768 (one layer) and a scaled-fp8 T5 (one block) bundled.</summary>
    private string AllInOne(byte code, float scale)
    {
        string plain = new BflFluxFile { Prefix = "model.diffusion_model.", Width = 128, HeadDim = 128 }.Save(_dir.File("plain.safetensors"));
        var writer = new SafeTensorsWriter();
        using (var source = SafeTensorsSet.OpenFile(plain))
            foreach (var t in source.Tensors)
                writer.Add(t.Name, t.Shape.ToArray(), source.ReadAsFloat32(t.Name));
        void F32(string name, params long[] shape) => writer.Add(name, shape, new float[shape.Aggregate(1L, (a, d) => a * d)]);
        F32(Clip + "text_model.embeddings.token_embedding.weight", 4, 768);
        F32(Clip + "text_model.embeddings.position_embedding.weight", 2, 768);
        F32(Clip + "text_model.encoder.layers.0.mlp.fc1.weight", 8, 768);
        F32("text_encoders.clip_l.logit_scale", 1);
        F32(T5 + "shared.weight", 5, 8);
        F32(T5 + "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 32, 2);
        F32(T5 + "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", 16, 8);
        writer.Add(T5 + "encoder.block.0.layer.0.SelfAttention.q.weight", SafeTensorDType.F8E4M3, [8, 8], Enumerable.Repeat(code, 64).ToArray());
        writer.Add(T5 + "encoder.block.0.layer.0.SelfAttention.q.scale_weight", [], [scale]);
        writer.Add(T5 + "scaled_fp8", [0], []);
        string path = _dir.File("aio.safetensors");
        writer.Save(path);
        return path;
    }

    [Fact]
    public void Bundled_text_encoders_map_as_component_files_with_configs_and_fp8_scales()
    {
        const byte code = 0x38; // e4m3fn: 1.0
        using var checkpoint = SingleFileCheckpoint.Open(AllInOne(code, 0.25f));
        Assert.Equal(new[] { "transformer", "text_encoder", "text_encoder_2" }, checkpoint.Parts.Keys.ToArray());

        var clip = checkpoint.Parts["text_encoder"];
        Assert.Equal(Clip, clip.FilePrefix);
        Assert.Equal("CLIPTextModel", clip.ClassName);
        Assert.Equal("inferred from tensor shapes", clip.ConfigOrigin);
        Assert.Equal(12, clip.Config!.GetOptionalInt("num_attention_heads")); // the published CLIP-L's, as for a clip_l.safetensors
        Assert.Contains("text_model.embeddings.token_embedding.weight", clip.Tensors.Keys);

        var t5 = checkpoint.Parts["text_encoder_2"];
        Assert.Equal("T5EncoderModel", t5.ClassName);
        Assert.Equal(2, t5.Config!.GetOptionalInt("num_heads"));
        var q = t5.Tensors["encoder.block.0.layer.0.SelfAttention.q.weight"];
        Assert.NotNull(q.Scale);
        var values = new float[64];
        checkpoint.ReadFloat32(q, values);
        Assert.All(values, v => Assert.Equal(0.25f, v));
        Assert.Empty(t5.Unconsumed);

        // Only CLIP's logit_scale is of no component; nothing of the bundles is a transformer leftover.
        Assert.Equal(["text_encoders.clip_l.logit_scale"], checkpoint.OtherComponents);
        Assert.Empty(checkpoint.Unconsumed);
    }
}
