using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.EdgeDensity;

namespace AccelAes.Engine.Tests.Evaluation;

public class MetricCatalogTests
{
    private static readonly ScorerFiles NoFiles = new(null, null, null, null, null);

    [Fact]
    public void Metrics_come_in_the_papers_column_order_whatever_order_they_are_named_in()
    {
        Assert.Equal(["CLIP", "ImageReward", "HPS", "Aesth", "Edge"], MetricCatalog.All.Select(e => e.Column));
        Assert.Equal(["clip", "edge_density"], MetricCatalog.Select("edge_density, CLIP").Select(e => e.Name));
    }

    [Fact]
    public void An_unknown_metric_is_named_with_the_known_ones()
    {
        var e = Assert.Throws<AccelAesException>(() => MetricCatalog.Select("edge_density,pickscore"));
        Assert.Contains("'pickscore'", e.Message);
        Assert.Contains("imagereward", e.Message);
    }

    [Theory]
    [InlineData("clip", "--clip DIR")]
    [InlineData("aesthetic", "--aesthetic FILE")]
    [InlineData("hps", "--hps FILE")]
    [InlineData("imagereward", "--imagereward FILE")]
    public void A_model_metric_without_its_files_names_the_option_it_needs(string metric, string option)
    {
        var e = Assert.Throws<AccelAesException>(() => MetricCatalog.Create(MetricCatalog.Select(metric), NoFiles));
        Assert.Contains($"metric {metric} needs {option}", e.Message);
    }

    [Fact]
    public void Edge_density_needs_no_files()
    {
        var metrics = MetricCatalog.Create(MetricCatalog.Select("edge_density"), NoFiles);
        Assert.IsType<EdgeDensityMetric>(Assert.Single(metrics));
        Assert.False(metrics[0].UsesPrompt);
    }
}
