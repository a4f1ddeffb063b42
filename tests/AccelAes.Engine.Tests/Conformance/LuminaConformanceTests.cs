using AccelAes.Engine.Components;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>
/// LuminaNextDiT2DModel against diffusers' own outputs (../shared/conformance/lumina_next_tiny). The golden forward
/// was called with the RoPE table and base_sequence_length LuminaText2ImgPipeline computes for a 128×192 image;
/// the component derives both itself from the latent size and timestep[0], so only the four tensors are passed.
/// </summary>
public class LuminaConformanceTests(ITestOutputHelper output)
{
    private const string Folder = "lumina_next_tiny";
    private static readonly string[] ForwardInputNames = ["hidden_states", "timestep", "encoder_hidden_states", "encoder_mask"];

    [GoldenTheory]
    [InlineData(null, "sample")]
    [InlineData("bf16", "sample_bf16_weights")]
    public void Forward_matches_diffusers(string? variant, string outputName)
    {
        var component = ConformanceHarness.LoadComponent(Folder, variant);
        Assert.Empty(component.UnusedTensors);
        var inputs = GoldenTensors.Load(GoldenFiles.At(Folder, "inputs.safetensors"));
        var expected = GoldenTensors.Load(GoldenFiles.At(Folder, "outputs.safetensors"))[outputName];
        var result = component.Forward.Forward(ConformanceHarness.Inputs(inputs, ForwardInputNames));
        Assert.Equal(expected.Shape, result["sample"].Shape.ToArray());
        float[] actual = ConformanceHarness.Cpu.Download(result["sample"]);
        output.WriteLine($"{Folder} {outputName}: max|ours − ref|/max(1, max|ref|) = {GoldenTensors.RelativeMaxError(expected.Values, actual):E3} (bar 1e-4)");
        GoldenTensors.AssertConforms(expected.Values, actual, $"{Folder} {outputName}");
    }

    [GoldenFact]
    public void Forward_with_the_stored_rope_table_and_base_matches_diffusers()
    {
        // The same call with diffusers' table and cross_attention_kwargs passed explicitly, as a PyTorch user would.
        var component = ConformanceHarness.LoadComponent(Folder);
        var inputs = GoldenTensors.Load(GoldenFiles.At(Folder, "inputs.safetensors"));
        var expected = GoldenTensors.Load(GoldenFiles.At(Folder, "outputs.safetensors"))["sample"];
        var named = ConformanceHarness.Inputs(inputs, [.. ForwardInputNames, "image_rotary_emb_real", "image_rotary_emb_imag"]);
        named["base_sequence_length"] = ConformanceHarness.Cpu.Upload([64f], new Shape(1));
        float[] actual = ConformanceHarness.Cpu.Download(component.Forward.Forward(named)["sample"]);
        output.WriteLine($"{Folder} sample, stored table: {GoldenTensors.RelativeMaxError(expected.Values, actual):E3} (bar 1e-4)");
        GoldenTensors.AssertConforms(expected.Values, actual, $"{Folder} sample (stored table)");
    }

    [GoldenFact]
    public void Rope_table_equals_diffusers_image_rotary_emb()
    {
        var config = LuminaNextDiTConfig.From(JsonConfig.Load(GoldenFiles.At(Folder, "config.json")));
        var inputs = GoldenTensors.Load(GoldenFiles.At(Folder, "inputs.safetensors"));
        var real = inputs["image_rotary_emb_real"];
        var imag = inputs["image_rotary_emb_imag"];
        var latent = inputs["hidden_states"].Shape;
        float t0 = inputs["timestep"].Values[0];
        var scaling = LuminaResolutionScaling.ForPipeline(config, latent[2], latent[3], t0);
        Assert.Equal(Math.Sqrt(128.0 * 192 / (128 * 128)), scaling.LinearFactor, 15);
        Assert.Equal(1.0, scaling.NtkFactor);
        Assert.Equal(64, scaling.BaseSequenceLength);

        var table = LuminaRotaryTable.Create(config.HeadDim, real.Shape[0], real.Shape[1], scaling.LinearFactor, scaling.NtkFactor);
        Assert.Equal(real.Values.Length, table.Cos.Length);
        output.WriteLine($"RoPE table max abs error: real {GoldenTensors.RelativeMaxError(real.Values, table.Cos):E3}, imag {GoldenTensors.RelativeMaxError(imag.Values, table.Sin):E3}");
        GoldenTensors.AssertConforms(real.Values, table.Cos, "image_rotary_emb_real", bar: 1e-6);
        GoldenTensors.AssertConforms(imag.Values, table.Sin, "image_rotary_emb_imag", bar: 1e-6);
    }

    [GoldenFact]
    public void Masked_caption_tokens_do_not_influence_the_output()
    {
        var component = ConformanceHarness.LoadComponent(Folder);
        var inputs = GoldenTensors.Load(GoldenFiles.At(Folder, "inputs.safetensors"));
        float[] mask = inputs["encoder_mask"].Values;
        int[] shape = inputs["encoder_hidden_states"].Shape;
        int length = shape[1], dim = shape[2];
        Assert.Contains(0f, mask); // the golden masks the tail of sample 1

        float[] captions = (float[])inputs["encoder_hidden_states"].Values.Clone();
        var rng = new Random(11);
        for (int b = 0; b < shape[0]; b++)
            for (int l = 0; l < length; l++)
                if (mask[b * length + l] == 0f)
                    for (int j = 0; j < dim; j++) captions[(b * length + l) * dim + j] = 50f * (rng.NextSingle() - 0.5f);

        var original = component.Forward.Forward(ConformanceHarness.Inputs(inputs, ForwardInputNames));
        var named = ConformanceHarness.Inputs(inputs, ForwardInputNames);
        named["encoder_hidden_states"] = ConformanceHarness.Cpu.Upload(captions, new Shape(shape));
        var perturbed = component.Forward.Forward(named);
        Assert.Equal(ConformanceHarness.Cpu.Download(original["sample"]), ConformanceHarness.Cpu.Download(perturbed["sample"]));
    }
}
