using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>
/// ComfyUI's mixed-precision FLUX files (per-layer <c>comfy_quant</c> + <c>weight_scale</c>, <see cref="ComfyQuantFileWriter"/>)
/// load to exactly the weights ComfyUI dequantises them to: the forward equals, bit for bit on the CPU backend, the
/// forward of the same file written with those dequantised float weights.
/// </summary>
public class FluxComfyQuantTests
{
    private static readonly string[] ForwardInputs =
        ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids", "guidance"];

    private static string Golden(params string[] parts) => GoldenFiles.At(["flux_singlefile", "flux_singlefile_tiny", .. parts]);

    /// <summary>Records the op of every upload, then lets the CPU backend do it.</summary>
    private sealed class RecordingBackend(IBackend inner) : DelegatingBackend(inner, ownsInner: true)
    {
        public List<string> Ops { get; } = [];

        protected override T Call<T>(string op, Func<T> run)
        {
            Ops.Add(op);
            return run();
        }
    }

    // Mixed as ComfyUI's files are: most Linear weights e4m3, one e5m2, the image MLP and the final layer left in float.
    private static string? MixedFormat(string module)
        => module.Contains("img_mlp", StringComparison.Ordinal) || module.StartsWith("final_layer", StringComparison.Ordinal) ? null
            : module == "single_blocks.0.linear2" ? "float8_e5m2"
            : "float8_e4m3fn";

    private static float[] Forward(string path, IBackend backend)
    {
        var component = ComponentLoader.LoadSingleFile(path, backend, Golden());
        Assert.Empty(component.UnusedTensors);
        var golden = GoldenTensors.Load(Golden("inputs.safetensors"));
        var inputs = ForwardInputs.ToDictionary(n => n, n => backend.Upload(golden[n].Values, new Shape(golden[n].Shape)));
        return backend.Download(component.Forward.Forward(inputs)["sample"]);
    }

    [GoldenFact]
    public void Mixed_precision_file_gives_the_forward_of_its_dequantised_weights_bit_for_bit()
    {
        using var dir = new TempDirectory();
        string mixed = dir.File("flux1-tiny-mixed.safetensors"), dequantised = dir.File("flux1-tiny-dequantised.safetensors");
        ComfyQuantFileWriter.Write(Golden("flux1-tiny.safetensors"), mixed, dequantised, MixedFormat);

        using var backend = new RecordingBackend(new CpuBackend());
        float[] sample = Forward(mixed, backend);
        float[] expected = Forward(dequantised, ConformanceHarness.Cpu);
        Assert.All(sample, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(expected, sample);
        // The weights really are the quantised ones (not the original file's), and e4m3 Linear weights went to the
        // backend as codes + scales.
        Assert.NotEqual(Forward(Golden("flux1-tiny.safetensors"), ConformanceHarness.Cpu), sample);
        Assert.Contains("UploadFp8Weight", backend.Ops);
    }

    [GoldenFact]
    public void Mixed_precision_file_is_detected_and_named()
    {
        using var dir = new TempDirectory();
        string mixed = dir.File("mixed.safetensors");
        ComfyQuantFileWriter.Write(Golden("flux1-tiny.safetensors"), mixed, dir.File("reference.safetensors"), MixedFormat);
        using var checkpoint = SingleFileCheckpoint.Open(mixed, Golden());
        Assert.Equal(WeightEncoding.ComfyMixedPrecision, checkpoint.Format.Encoding);
        Assert.Contains("ComfyUI mixed-precision fp8", checkpoint.Format.Describe());
        // The config and input scale are parameters, not tensors of the model; the weight scale multiplies its weight.
        Assert.Empty(checkpoint.Unconsumed);
        Assert.Equal("double_blocks.0.img_attn.qkv.weight_scale", checkpoint.Tensors["transformer_blocks.0.attn.to_q.weight"].Scale?.Name);
    }

    [GoldenFact]
    public void Unsupported_format_is_refused_naming_the_layer_and_the_format()
    {
        using var dir = new TempDirectory();
        string path = dir.File("nvfp4.safetensors");
        ComfyQuantFileWriter.Write(Golden("flux1-tiny.safetensors"), path, dir.File("reference.safetensors"),
            module => module == "double_blocks.1.txt_attn.proj" ? "nvfp4" : MixedFormat(module));
        var error = Assert.Throws<AccelAesException>(() => ComponentLoader.LoadSingleFile(path, ConformanceHarness.Cpu, Golden()));
        Assert.Contains("'double_blocks.1.txt_attn.proj'", error.Message);
        Assert.Contains("'nvfp4'", error.Message);
        Assert.Contains("float8_e4m3fn", error.Message);
    }

    [GoldenFact]
    public void Weight_scale_without_its_config_is_refused_not_read_unscaled()
    {
        using var dir = new TempDirectory();
        string mixed = dir.File("mixed.safetensors"), path = dir.File("no-config.safetensors");
        ComfyQuantFileWriter.Write(Golden("flux1-tiny.safetensors"), mixed, dir.File("reference.safetensors"), MixedFormat);
        var writer = new Loader.SafeTensors.SafeTensorsWriter();
        using (var set = Loader.SafeTensors.SafeTensorsSet.OpenFile(mixed))
            foreach (var t in set.Tensors.Where(t => !t.Name.EndsWith(".comfy_quant", StringComparison.Ordinal)))
                writer.Add(t.Name, t.DType, t.Shape.ToArray(), set.GetBytes(t).ToArray());
        writer.Save(path);
        var error = Assert.Throws<AccelAesException>(() => ComponentLoader.LoadSingleFile(path, ConformanceHarness.Cpu, Golden()));
        Assert.Contains("'double_blocks.0.img_attn.proj.weight_scale' has no 'double_blocks.0.img_attn.proj.comfy_quant'", error.Message);
    }
}
