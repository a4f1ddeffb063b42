using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AccelAes.Cli.Tests;

/// <summary>`--set sparse_ffn=off` (attention-only SkipSparse, paper Table 7) as `accelaes explain` costs it.</summary>
public class SparseFeedForwardCliTests
{
    private static double RelativeCost(params string[] set)
    {
        var r = CliRunner.Run(["explain", "--arch", "lumina", "--json", .. set]);
        Assert.True(r.ExitCode == 0, r.All);
        using var doc = JsonDocument.Parse(r.Output);
        Assert.True(doc.RootElement.GetProperty("sparse").GetInt32() > 0, "the Lumina preset has sparse steps");
        return doc.RootElement.GetProperty("relative_cost").GetDouble();
    }

    /// <summary>The "(P % of G GFLOP per forward scales with it)" share of the text output.</summary>
    private static int ScalingShare(params string[] set)
    {
        var r = CliRunner.Run(["explain", "--arch", "lumina", .. set]);
        Assert.True(r.ExitCode == 0, r.All);
        Match m = Regex.Match(CliCache.Flat(r.Output), @"\((\d+) % of [\d.]+ GFLOP per forward scales with it\)");
        Assert.True(m.Success, r.Output);
        return int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Explain_costs_attention_only_sparsity_higher_and_says_how_much_of_a_forward_scales()
    {
        double on = RelativeCost(), off = RelativeCost("--set", "sparse_ffn=off");
        Assert.Equal(on, RelativeCost("--set", "sparse_ffn=on"));
        Assert.True(off > on, $"relative cost off {off} vs on {on}");

        // The human-readable line names the share of FLOPs that shrinks with the focus fraction: the FFN leaves it.
        Assert.True(ScalingShare() > ScalingShare("--set", "sparse_ffn=off"));
    }
}
