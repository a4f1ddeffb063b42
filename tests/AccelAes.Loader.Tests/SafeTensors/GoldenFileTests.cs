using System.Runtime.InteropServices;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.SafeTensors;

/// <summary>Reads the real conformance files written by diffusers / transformers tooling.</summary>
public sealed class GoldenFileTests
{
    private static readonly string[] ModelFolders = ["sd3_tiny", "flux_tiny", "lumina_next_tiny", "vae_tiny_16ch", "vae_tiny_4ch"];
    private static readonly string[] TextEncoderFolders = ["clip_text_tiny", "t5_encoder_tiny", "gemma_tiny"];

    [GoldenFact]
    public void Sd3_tiny_has_the_expected_tensors_and_metadata()
    {
        using var set = SafeTensorsSet.OpenComponent(GoldenFiles.At("sd3_tiny"), "diffusion_pytorch_model", null);

        var file = Assert.Single(set.Files);
        Assert.EndsWith("diffusion_pytorch_model.safetensors", file.Path);
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, file.Metadata);
        Assert.Equal(67, set.Tensors.Count);
        Assert.All(set.Tensors, t => Assert.Equal(SafeTensorDType.F32, t.DType));
        var posEmbed = set.Get("pos_embed.pos_embed");
        Assert.Equal([1L, 256L, 64L], posEmbed.Shape);
        Assert.Equal(256 * 64 * 4, posEmbed.ByteLength);
        Assert.Equal("context_embedder.bias", set.Tensors[0].Name);
        Assert.Equal("transformer_blocks.1.norm1_context.linear.weight", set.Tensors[^1].Name);
        Assert.Equal(file.FileLength - file.Tensors.Sum(t => t.ByteLength), set.Tensors[0].FileOffset);
        Assert.True(set.Contains("transformer_blocks.0.attn.to_q.weight"));
    }

    [GoldenFact]
    public void Every_conformance_file_opens()
    {
        var files = Directory.GetFiles(GoldenFiles.Conformance, "*.safetensors", SearchOption.AllDirectories);
        Assert.True(files.Length >= 40, $"only {files.Length} files found");
        foreach (var path in files)
        {
            using var file = SafeTensorsFile.Open(path);
            Assert.NotEmpty(file.Tensors);
            Assert.Equal(file.FileLength, file.Tensors[^1].FileOffset + file.Tensors[^1].ByteLength);
        }
    }

    [GoldenFact]
    public void Bf16_weights_are_the_fp32_weights_rounded_to_nearest_even()
    {
        var checkedTensors = 0;
        foreach (var (folder, baseName) in ModelFolders.Select(f => (GoldenFiles.At(f), "diffusion_pytorch_model"))
                     .Concat(TextEncoderFolders.Select(f => (GoldenFiles.At("text_encoders", f), "model"))))
        {
            using var fp32 = SafeTensorsSet.OpenComponent(folder, baseName, null);
            using var bf16 = SafeTensorsSet.OpenComponent(folder, baseName, "bf16");
            Assert.EndsWith($"{baseName}.bf16.safetensors", bf16.Source);
            Assert.Equal(fp32.Tensors.Select(t => t.Name).Order(), bf16.Tensors.Select(t => t.Name).Order());

            foreach (var tensor in fp32.Tensors)
            {
                var rounded = bf16.Get(tensor.Name);
                Assert.Equal(SafeTensorDType.BF16, rounded.DType);
                Assert.Equal(tensor.Shape, rounded.Shape);

                var expected = new ushort[tensor.ElementCount];
                DTypeConversion.Float32ToBFloat16(MemoryMarshal.Cast<byte, float>(fp32.GetBytes(tensor)), expected);
                var actual = MemoryMarshal.Cast<byte, ushort>(bf16.GetBytes(rounded));
                Assert.True(actual.SequenceEqual(expected), $"{folder}: {tensor.Name} differs from RNE(fp32)");

                // And back: widening the bf16 file reproduces the rounded values exactly.
                var widened = bf16.ReadAsFloat32(tensor.Name);
                for (var i = 0; i < widened.Length; i++)
                    Assert.Equal(expected[i], (ushort)(BitConverter.SingleToUInt32Bits(widened[i]) >> 16));
                checkedTensors++;
            }
        }
        Assert.True(checkedTensors > 500, $"{checkedTensors} tensors checked");
    }

    [GoldenFact]
    public void Integer_and_mask_tensors_read_back()
    {
        using var clip = SafeTensorsSet.OpenFile(GoldenFiles.At("text_encoders", "clip_text_tiny", "inputs.safetensors"));
        var ids = clip.ReadAsInt64("input_ids");
        Assert.Equal([2L, 77L], clip.Get("input_ids").Shape);
        Assert.Equal([998L, 320, 575, 521, 320, 583, 999], ids[..7]);
        Assert.Equal(998L, ids[77]);
        Assert.Equal(ids.Select(v => (float)v), clip.ReadAsFloat32("input_ids"));

        using var mask = SafeTensorsSet.OpenFile(GoldenFiles.At("aesmask", "mask_finalisation", "m04_smooth8x12_skip05.safetensors"));
        Assert.Equal("m04_smooth8x12_skip05", mask.Files[0].Metadata["case"]);
        var binary = mask.Get("binary_mask");
        Assert.Equal(SafeTensorDType.U8, binary.DType);
        Assert.Equal(48L, mask.ReadAsInt64("binary_mask").Sum());
        Assert.Equal(51f, mask.ReadAsFloat32("token_mask_f32").Sum());
        Assert.Equal(SafeTensorDType.F64, mask.Get("sd3_threshold").DType);
        Assert.Equal((float)0.05534407123923302, Assert.Single(mask.ReadAsFloat32("sd3_threshold")));
        var sMap = mask.Get("s_map_bf16");
        Assert.Equal(SafeTensorDType.BF16, sMap.DType);
        Assert.Equal(1.0f, mask.ReadAsFloat32("s_map_bf16")[0]); // bits 0x3F80
    }
}
