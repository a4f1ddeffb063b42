using AccelAes.Engine.Pipelines;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>
/// AutoencoderKL decoding against diffusers' own outputs: <c>vae_tiny_16ch</c> (SD3/FLUX layout) and
/// <c>vae_tiny_4ch</c> (SDXL layout, post_quant_conv), both 8×12 latents → 64×96 images, batch 2.
/// </summary>
public class VaeConformanceTests
{
    [GoldenTheory]
    [InlineData("vae_tiny_16ch", null, "decoded")]
    [InlineData("vae_tiny_16ch", "bf16", "decoded_bf16_weights")]
    [InlineData("vae_tiny_4ch", null, "decoded")]
    [InlineData("vae_tiny_4ch", "bf16", "decoded_bf16_weights")]
    public void Decode_matches_diffusers(string golden, string? variant, string output)
    {
        var component = ConformanceHarness.LoadComponent(golden, variant);
        Assert.Equal(AutoencoderKLConfig.ClassName, component.Forward.ClassName);
        Assert.Empty(component.UnusedTensors);
        var inputs = GoldenTensors.Load(GoldenFiles.At(golden, "inputs.safetensors"));
        var expected = GoldenTensors.Load(GoldenFiles.At(golden, "outputs.safetensors"))[output];
        var result = component.Forward.Forward(
            new Dictionary<string, Tensors.Tensor> { ["z"] = ConformanceHarness.Upload(inputs["decoder_input"]) });
        Assert.Equal(expected.Shape, result["sample"].Shape.ToArray());
        GoldenTensors.AssertConforms(expected.Values, ConformanceHarness.Cpu.Download(result["sample"]), $"{golden} {output}");
    }

    /// <summary>The pipeline's un-scaling (SD3: z / 1.5305 + 0.0609; SDXL: z / 0.13025) reproduces the decoder input.</summary>
    [GoldenTheory]
    [InlineData("vae_tiny_16ch")]
    [InlineData("vae_tiny_4ch")]
    public void Decoder_input_from_latents_matches_the_pipeline(string golden)
    {
        var config = AutoencoderKLConfig.From(ModelFolder.Open(GoldenFiles.At(golden)).Component("vae").Config);
        var inputs = GoldenTensors.Load(GoldenFiles.At(golden, "inputs.safetensors"));
        var decoderInput = VaeDecoding.DecoderInputFromLatents(ConformanceHarness.Upload(inputs["z"]), config);
        Assert.Equal(inputs["decoder_input"].Shape, decoderInput.Shape.ToArray());
        // Division by the scaling factor vs multiplication by its reciprocal: a few fp32 ulps at most.
        GoldenTensors.AssertConforms(inputs["decoder_input"].Values, ConformanceHarness.Cpu.Download(decoderInput),
            $"{golden} decoder_input", bar: 1e-6);
    }
}
