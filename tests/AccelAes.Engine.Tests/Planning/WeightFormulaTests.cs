using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.Planning;

/// <summary>
/// The weight formulas the plan uses for --arch are checked against what the model code actually binds: a tiny model
/// is written by make-tiny's generator (every tensor the constructors ask for), stored as bf16, and its safetensors
/// headers, read by <see cref="FolderComponents"/>, must give the same bytes, blocks and Linear shapes.
/// </summary>
public class WeightFormulaTests
{
    [Theory]
    [InlineData("sd3")]
    [InlineData("sd35")]
    [InlineData("flux")]
    [InlineData("flux-schnell")]
    [InlineData("lumina-next")]
    public void The_transformer_formula_equals_the_tiny_checkpoints_headers_block_by_block(string arch)
    {
        using var dir = new TempDirectory();
        TinyModels.Write(arch, dir.Path, storeAs: SafeTensorDType.BF16);
        var fromHeaders = FolderComponents.Of(dir.Path, textTokens: 8, variant: "bf16").Single(c => c.Role == ComponentRole.Transformer).Blocks!;
        var formula = TransformerWeights.FromConfig(ModelArchitectures.FromFolder(dir.Path).Config);

        Assert.Equal(fromHeaders.Blocks.Select(b => b.StoredBytes), formula.Blocks.Select(b => b.StoredBytes));
        AssertSame(fromHeaders.Rest, formula.Rest);
        AssertSame(fromHeaders.Total, formula.Total);
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    [InlineData("lumina-next")]
    public void The_text_encoder_and_vae_formulas_equal_the_tiny_checkpoints_headers(string arch)
    {
        using var dir = new TempDirectory();
        TinyModels.Write(arch, dir.Path, storeAs: SafeTensorDType.BF16);
        var folder = ModelFolder.Open(dir.Path);
        var components = FolderComponents.Of(dir.Path, textTokens: 8, variant: "bf16");
        int checkedEncoders = 0;
        foreach (var component in components.Where(c => c.Role == ComponentRole.TextEncoder))
        {
            var c = folder.Component(component.Name);
            WeightTally formula = c.ClassName switch
            {
                "CLIPTextModel" => ComponentWeightFormulas.ClipText(ClipTextConfig.From(c.Config), withProjection: false),
                "CLIPTextModelWithProjection" => ComponentWeightFormulas.ClipText(ClipTextConfig.From(c.Config), withProjection: true),
                "T5EncoderModel" => ComponentWeightFormulas.T5Encoder(T5Config.From(c.Config)),
                _ => ComponentWeightFormulas.Gemma(GemmaConfig.From(c.Config)),
            };
            Assert.True(formula.StoredBytes == component.Weights.StoredBytes, $"{component.Name} ({c.ClassName}): formula {formula.StoredBytes} B, headers {component.Weights.StoredBytes} B");
            checkedEncoders++;
        }
        Assert.True(checkedEncoders > 0);
        var vae = components.Single(c => c.Role == ComponentRole.Vae);
        AssertSame(vae.Weights, ComponentWeightFormulas.VaeDecoder(vae.Vae!));
    }

    [Fact]
    public void The_published_sizes_match_the_model_cards()
    {
        // Parameter counts the model cards state: FLUX.1-dev 12 B, T5-XXL encoder 4.76 B, CLIP-L text 123 M, SD3.5-Large 8.1 B.
        var flux = PublishedComponents.Of(ModelArchitectures.FluxDev).ToDictionary(c => c.Kind == "T5-XXL" || c.Kind == "CLIP-L" ? c.Kind : c.Name);
        Assert.InRange(flux["transformer"].Weights.Elements, 11.85e9, 11.95e9);
        Assert.InRange(flux["T5-XXL"].Weights.Elements, 4.75e9, 4.77e9);
        Assert.InRange(flux["CLIP-L"].Weights.Elements, 122e6, 124e6);
        var sd35 = PublishedComponents.Of(ModelArchitectures.Sd35Large).Single(c => c.Role == ComponentRole.Transformer);
        Assert.InRange(sd35.Weights.Elements, 8.0e9, 8.2e9);
    }

    [Fact]
    public void Fp8_counts_one_byte_per_linear_weight_element_plus_an_fp32_scale_per_output_channel()
    {
        // Linear 3 → 4 with bias at bf16 (12 + 4 elements) and a 5-element norm: 42 B stored.
        var t = new WeightTally().Linear(3, 4).Tensor(5);
        Assert.Equal(2 * (12 + 4 + 5), t.Bytes(WeightPrecision.AsStored));
        Assert.Equal(12 * 1 + 4 * 4 + 2 * (4 + 5), t.Bytes(WeightPrecision.Fp8));
    }

    private static void AssertSame(WeightTally expected, WeightTally actual)
    {
        Assert.Equal(expected.StoredBytes, actual.StoredBytes);
        Assert.Equal(expected.Elements, actual.Elements);
        Assert.Equal(expected.LinearWeightElements, actual.LinearWeightElements);
        Assert.Equal(expected.LinearOutChannels, actual.LinearOutChannels);
    }
}
