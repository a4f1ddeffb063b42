using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Pipelines;

namespace AccelAes.Engine.Tests.Benchmarks;

/// <summary>The one vocabulary of model names: canonical names, aliases, what each maps to, and the error for others.</summary>
public class ModelArchitecturesTests
{
    [Theory]
    [InlineData("sd3", "sd3-medium")]
    [InlineData("SD3-Medium", "sd3-medium")]
    [InlineData("sd35-medium", "sd3.5-medium")]
    [InlineData("sd35-large", "sd3.5-large")]
    [InlineData("sd3.5-large", "sd3.5-large")]
    [InlineData("flux", "flux-dev")]
    [InlineData("FLUX-dev", "flux-dev")]
    [InlineData("flux-schnell", "flux-schnell")]
    [InlineData("lumina", "lumina-next-sft")]
    [InlineData("lumina-next", "lumina-next-sft")]
    [InlineData("lumina-next-sft", "lumina-next-sft")]
    public void Canonical_names_and_aliases_find_the_same_architecture(string typed, string canonical)
    {
        Assert.Equal(canonical, ModelArchitectures.Find(typed).Name);
    }

    [Fact]
    public void Each_architecture_maps_to_its_backbone_config_and_pipeline_defaults()
    {
        Assert.Equal((Backbone.Sd3, 28, 7f), Of("sd3"));
        Assert.Equal((Backbone.Sd3, 28, 7f), Of("sd3.5-large"));
        Assert.Equal((Backbone.Flux, 28, 3.5f), Of("flux"));
        Assert.Equal((Backbone.Flux, 4, 0f), Of("flux-schnell"));
        Assert.Equal((Backbone.Lumina, 30, 4f), Of("lumina"));
        Assert.Same(RealConfigs.Sd35Large, ModelArchitectures.Find("sd35-large").Config);
        Assert.Equal(13, RealConfigs.Sd35Medium.Sd3!.DualAttentionLayers.Length);

        var schnell = ModelArchitectures.Find("flux-schnell");
        Assert.False(schnell.Config.Flux!.GuidanceEmbeds);
        Assert.True(ModelArchitectures.Find("flux-dev").Config.Flux!.GuidanceEmbeds);
        Assert.Equal(256, schnell.Config.TextTokens);
        Assert.Equal(512, ModelArchitectures.Find("flux-dev").Config.TextTokens);
        Assert.True(PipelineDefaults.IsFluxSchnell(schnell.Config.Flux, schnell.Scheduler));
        Assert.False(PipelineDefaults.IsFluxSchnell(schnell.Config.Flux, ModelArchitectures.Find("flux-dev").Scheduler));

        static (Backbone, int, float) Of(string name)
        {
            var a = ModelArchitectures.Find(name);
            return (a.Backbone, a.Defaults.Steps, a.Defaults.GuidanceScale);
        }
    }

    [Fact]
    public void Schnell_samples_the_unshifted_linspace_and_dev_the_shifted_one()
    {
        float[] schnell = ModelArchitectures.FluxSchnell.Sigmas(4, 4096).Sigmas;
        Assert.Equal([1f, 0.75f, 0.5f, 0.25f], schnell[..4]);
        Assert.True(ModelArchitectures.FluxDev.Sigmas(4, 4096).Sigmas[2] > 0.6f); // μ = 1.15 pushes σ up
    }

    [Theory]
    [InlineData("sd3-medium", "sd3")]
    [InlineData("sd3.5-large", "sd35")]
    [InlineData("SD35-medium", "sd35")]
    [InlineData("flux-dev", "flux")]
    [InlineData("flux-schnell", "flux-schnell")]
    [InlineData("lumina", "lumina-next")]
    [InlineData("lumina-next-sft", "lumina-next")]
    public void Make_tiny_takes_the_model_names_for_the_tiny_layout_with_their_code_paths(string name, string layout)
    {
        Assert.Same(AccelAes.Engine.Tiny.TinyModels.Get(layout), AccelAes.Engine.Tiny.TinyModels.Get(name));
        Assert.Contains(name.ToLowerInvariant(), AccelAes.Engine.Tiny.TinyModels.Names);
    }

    [Fact]
    public void An_unknown_name_is_one_error_listing_every_name()
    {
        var e = Assert.Throws<AccelAesException>(() => ModelArchitectures.Find("sd4"));
        Assert.Contains("Unknown architecture 'sd4'", e.Message);
        foreach (var a in ModelArchitectures.All)
        {
            Assert.Contains(a.Name, e.Message);
            foreach (string alias in a.Aliases) Assert.Contains(alias, e.Message);
        }
    }
}
