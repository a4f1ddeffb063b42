using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Loader.Tests.SingleFile;

/// <summary>The BFL → diffusers view, config inference, and what a broken single file is told.</summary>
public class FluxSingleFileMappingTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Case(string folder, string file) => GoldenFiles.At("flux_singlefile", folder, file);

    /// <summary>The reference rows of a view: each part's rows of the reference tensor of the same BFL name, in order.</summary>
    private static float[] ExpectedRows(SafeTensorsSet reference, MappedTensor view)
    {
        var result = new List<float>();
        foreach (var part in view.Parts)
        {
            string name = part.Source.Name.Replace(CheckpointFormatDetector.ComfyPrefix, "");
            float[] all = reference.ReadAsFloat32(name);
            result.AddRange(all.AsSpan((int)(part.FirstRow * part.RowElements), (int)part.ElementCount).ToArray());
        }
        return [.. result];
    }

    [GoldenTheory]
    [InlineData("flux_fp8_e4m3_tiny", "flux1-tiny-fp8-e4m3fn.safetensors")]
    [InlineData("flux_fp8_scaled_tiny", "flux1-tiny-fp8-scaled.safetensors")]
    public void Fp8_views_dequantise_to_the_reference_bit_for_bit(string folder, string file)
    {
        using var checkpoint = SingleFileCheckpoint.Open(Case(folder, file));
        using var reference = SafeTensorsSet.OpenFile(Case(folder, "dequantized_reference.safetensors"));
        int scaled = 0;
        foreach (var view in checkpoint.Tensors.Values)
        {
            var ours = new float[view.ElementCount];
            checkpoint.ReadFloat32(view, ours);
            Assert.Equal(ExpectedRows(reference, view), ours);
            scaled += view.Scale is null ? 0 : 1;
        }
        // 36 scaled Linear weights, of which the qkv / linear1 ones each feed 3 or 4 views.
        Assert.Equal(folder.Contains("scaled") ? 36 + 2 * 2 * 2 + 2 * 3 : 0, scaled);
    }

    [GoldenFact]
    public void Split_and_swap_rows_follow_diffusers()
    {
        using var checkpoint = SingleFileCheckpoint.Open(Case("flux_singlefile_tiny", "flux1-tiny.safetensors"));
        var q = checkpoint.Tensors["single_transformer_blocks.1.attn.to_k.weight"];
        Assert.Equal("single_blocks.1.linear1.weight", q.Parts.Single().Source.Name);
        Assert.Equal((32L, 32L), (q.Parts[0].FirstRow, q.Parts[0].RowCount));
        var mlp = checkpoint.Tensors["single_transformer_blocks.0.proj_mlp.bias"];
        Assert.Equal((96L, 128L), (mlp.Parts[0].FirstRow, mlp.Parts[0].RowCount));
        var norm = checkpoint.Tensors["norm_out.linear.weight"];
        Assert.Equal([(32L, 32L), (0L, 32L)], norm.Parts.Select(p => (p.FirstRow, p.RowCount)));
        Assert.True(checkpoint.Tensors["transformer_blocks.0.attn.add_v_proj.weight"].IsZeroCopy);
        Assert.Empty(checkpoint.Unconsumed);
    }

    [GoldenTheory]
    [InlineData("flux_singlefile_tiny", "flux1-tiny.safetensors")]
    [InlineData("flux_fp8_scaled_tiny", "flux1-tiny-fp8-scaled.safetensors")]
    public void Inferred_config_equals_the_golden_config(string folder, string file)
    {
        using var set = SafeTensorsSet.OpenFile(Case(folder, file));
        var stripped = CheckpointFormatDetector.StripPrefix(set.Tensors, set.Source, out _);
        var inferred = FluxConfigInference.Infer(stripped, set.Source);
        var golden = JsonConfig.Load(Case(folder, "config.json"));
        foreach (string field in new[] { "attention_head_dim", "in_channels", "joint_attention_dim", "num_attention_heads",
                     "num_layers", "num_single_layers", "patch_size", "pooled_projection_dim" })
            Assert.Equal((long)golden.GetInt(field), Convert.ToInt64(inferred[field]));
        Assert.Equal(golden.GetBool("guidance_embeds"), inferred["guidance_embeds"]);
        Assert.Equal(16L, Convert.ToInt64(inferred["out_channels"])); // golden: null = in_channels
        Assert.False(inferred.ContainsKey("axes_dims_rope")); // head dim 16: not FLUX.1's published split
    }

    [Fact]
    public void Published_head_dim_gets_the_published_axes_and_schnell_has_no_guidance()
    {
        string path = new BflFluxFile { Width = 256, HeadDim = 128, Guidance = false, DoubleBlocks = 2, SingleBlocks = 3 }
            .Save(_dir.File("flux.safetensors"));
        using var checkpoint = SingleFileCheckpoint.Open(path);
        Assert.Equal("inferred from tensor shapes", checkpoint.ConfigOrigin);
        Assert.Equal([16, 56, 56], checkpoint.Config.GetIntArray("axes_dims_rope"));
        Assert.Equal(2, checkpoint.Config.GetInt("num_attention_heads"));
        Assert.Equal(2, checkpoint.Config.GetInt("num_layers"));
        Assert.Equal(3, checkpoint.Config.GetInt("num_single_layers"));
        Assert.False(checkpoint.Config.GetBool("guidance_embeds"));
        Assert.DoesNotContain("time_text_embed.guidance_embedder.linear_1.weight", checkpoint.Tensors.Keys);
    }

    [Fact]
    public void Comfy_prefix_is_removed()
    {
        string path = new BflFluxFile { Prefix = "model.diffusion_model.", Width = 128, HeadDim = 128 }.Save(_dir.File("comfy.safetensors"));
        using var checkpoint = SingleFileCheckpoint.Open(path, configFolder: null);
        Assert.Equal("model.diffusion_model.", checkpoint.Format.KeyPrefix);
        Assert.Contains("transformer_blocks.0.attn.to_q.weight", checkpoint.Tensors.Keys);
    }

    [Fact]
    public void Bundled_components_of_a_prefixed_file_are_not_transformer_leftovers()
    {
        string path = _dir.File("all-in-one.safetensors");
        var file = new BflFluxFile { Prefix = "model.diffusion_model.", Width = 128, HeadDim = 128 };
        string plain = file.Save(_dir.File("plain.safetensors"), s => s["double_blocks.0.stray.weight"] = [2]);
        var writer = new SafeTensorsWriter();
        using (var source = SafeTensorsSet.OpenFile(plain))
            foreach (var t in source.Tensors)
                writer.Add(t.Name, t.Shape.ToArray(), source.ReadAsFloat32(t.Name));
        writer.Add("first_stage_model.decoder.conv_in.weight", [2], [1f, 2f]).Save(path);

        using var checkpoint = SingleFileCheckpoint.Open(path);
        Assert.Equal(["first_stage_model.decoder.conv_in.weight"], checkpoint.OtherComponents);
        Assert.Equal(["double_blocks.0.stray.weight"], checkpoint.Unconsumed);
    }

    [Fact]
    public void Prefix_is_removed_wherever_it_occurs_as_diffusers_replace_does()
    {
        string path = _dir.File("mid.safetensors");
        new SafeTensorsWriter().Add("a.model.diffusion_model.b", [1], [1f]).Add("c", [1], [1f]).Save(path);
        using var set = SafeTensorsSet.OpenFile(path);
        var stripped = CheckpointFormatDetector.StripPrefix(set.Tensors, set.Source, out bool prefixed);
        Assert.True(prefixed);
        Assert.Equal(["a.b", "c"], stripped.Keys.Order());
    }

    [Fact]
    public void Two_keys_that_collide_after_prefix_removal_are_named()
    {
        string path = _dir.File("twice.safetensors");
        new SafeTensorsWriter().Add("img_in.weight", [1], [1f]).Add("model.diffusion_model.img_in.weight", [1], [1f]).Save(path);
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(path));
        Assert.Contains("'img_in.weight'", error.Message);
        Assert.Contains("'model.diffusion_model.img_in.weight'", error.Message);
    }

    [Fact]
    public void Missing_key_is_named()
    {
        string path = new BflFluxFile { HeadDim = 32, Width = 128 }.Save(_dir.File("f.safetensors"),
            s => s.Remove("double_blocks.0.txt_attn.qkv.bias"));
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(path));
        Assert.Contains("'double_blocks.0.txt_attn.qkv.bias'", error.Message);
    }

    [Theory]
    [InlineData("single_blocks.0.linear1.weight", 6, "linear1")]
    [InlineData("double_blocks.0.img_attn.qkv.weight", 4, "qkv")]
    public void Fused_tensor_with_inconsistent_rows_is_refused(string key, int widths, string fused)
    {
        var file = new BflFluxFile();
        string path = file.Save(_dir.File("f.safetensors"), s => s[key] = [widths * file.Width, file.Width]);
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(path));
        Assert.Contains($"'{key}'", error.Message);
        Assert.Contains($"{widths * file.Width} rows", error.Message);
        Assert.Contains(fused, error.Message);
        Assert.Contains("width 32", error.Message);
    }

    [Fact]
    public void Odd_final_modulation_cannot_swap_halves()
    {
        var file = new BflFluxFile();
        string path = file.Save(_dir.File("f.safetensors"), s => s["final_layer.adaLN_modulation.1.bias"] = [63]);
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(path));
        Assert.Contains("'final_layer.adaLN_modulation.1.bias'", error.Message);
        Assert.Contains("63 rows", error.Message);
    }

    [Fact]
    public void Scale_weight_must_be_one_element()
    {
        var file = new BflFluxFile();
        string path = file.Save(_dir.File("f.safetensors"), s => s["img_in.scale_weight"] = [2]);
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(path));
        Assert.Contains("'img_in.scale_weight'", error.Message);
        Assert.Contains("[2]", error.Message);
    }

    [Fact]
    public void Missing_block_in_the_sequence_is_named()
    {
        var file = new BflFluxFile { Width = 128, HeadDim = 128, SingleBlocks = 3 };
        string path = file.Save(_dir.File("f.safetensors"),
            s => { foreach (var k in s.Keys.Where(k => k.StartsWith("single_blocks.1.")).ToList()) s.Remove(k); });
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(path));
        Assert.Contains("single_blocks.1.*", error.Message);
    }

    [Fact]
    public void Unrecognised_file_says_what_it_looked_for()
    {
        string path = _dir.File("other.safetensors");
        new SafeTensorsWriter().Add("encoder.weight", [1], [1f]).Save(path);
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(path));
        Assert.Contains("double_blocks", error.Message);
        Assert.Contains("encoder.weight", error.Message);
    }

    [Fact]
    public void Stability_single_file_without_its_patch_embedding_names_the_tensor()
    {
        string path = _dir.File("sd35.safetensors");
        new SafeTensorsWriter().Add("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", [3, 1], [1f, 2f, 3f]).Save(path);
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(path));
        Assert.Contains("Stability AI SD3 / SD3.5 layout needs tensor 'x_embedder.proj.weight'", error.Message);
    }

    [Fact]
    public void Head_dim_that_does_not_divide_the_width_is_refused()
    {
        string path = new BflFluxFile { Width = 48, HeadDim = 32 }.Save(_dir.File("f.safetensors"));
        var error = Assert.Throws<AccelAesException>(() => SingleFileCheckpoint.Open(path));
        Assert.Contains("width 48", error.Message);
        Assert.Contains("32", error.Message);
    }
}
