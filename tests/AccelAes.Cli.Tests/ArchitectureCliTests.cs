using System.Text.Json;
using AccelAes.Engine.Benchmarks;

namespace AccelAes.Cli.Tests;

/// <summary>
/// One model vocabulary for every --arch (explain, bench): the same names and aliases, listed in every help text,
/// one error for an unknown name; explain --model DIR reads a folder's configs instead.
/// </summary>
public class ArchitectureCliTests(CliCache cache) : IClassFixture<CliCache>
{
    public static TheoryData<string, string> AliasPairs()
    {
        var data = new TheoryData<string, string>();
        foreach (var a in ModelArchitectures.All)
            foreach (string alias in a.Aliases) data.Add(alias, a.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(AliasPairs))]
    public void An_alias_explains_exactly_as_its_canonical_name(string alias, string canonical)
    {
        var byAlias = CliRunner.Run("explain", "--json", "--arch", alias, "--steps", "12", "--accel", "accelaes");
        var byName = CliRunner.Run("explain", "--json", "--arch", canonical.ToUpperInvariant(), "--steps", "12", "--accel", "accelaes");
        Assert.True(byAlias.ExitCode == 0, byAlias.All);
        Assert.True(byName.ExitCode == 0, byName.All);
        Assert.Equal(byName.Output, byAlias.Output);
    }

    [Theory]
    [InlineData("explain")]
    [InlineData("bench")]
    [InlineData("make-tiny")]
    public void Every_arch_option_lists_every_name_and_alias_in_its_help(string command)
    {
        var r = CliRunner.Run(command, "--help");
        Assert.True(r.ExitCode == 0, r.All);
        string help = CliCache.Flat(r.Output);
        foreach (var a in ModelArchitectures.All)
        {
            Assert.Contains(a.Name, help);
            foreach (string alias in a.Aliases) Assert.Contains(alias, help);
        }
    }

    [Theory]
    [InlineData("explain")]
    [InlineData("bench")]
    public void An_unknown_name_is_one_error_listing_the_names(string command)
    {
        var r = CliRunner.Run(command, "--arch", "sd4", "--steps", "4");
        Assert.Equal(1, r.ExitCode);
        string text = CliCache.Flat(r.All);
        Assert.Contains("Unknown architecture 'sd4'", text);
        Assert.Contains("sd3-medium (sd3)", text);
        Assert.Contains("flux-schnell", text);
        Assert.Contains("lumina-next-sft (lumina, lumina-next)", text);
    }

    [Fact]
    public void Explain_defaults_to_each_models_pipeline_steps_and_schnell_to_4_unshifted_steps()
    {
        Assert.Equal(28, Steps("explain", "--json", "--arch", "flux-dev").Length);
        Assert.Equal(30, Steps("explain", "--json", "--arch", "lumina").Length);
        Assert.Equal([1, 0.75, 0.5, 0.25], Steps("explain", "--json", "--arch", "flux-schnell"));
    }

    [Theory]
    [InlineData("flux-schnell", "flux-schnell")]
    [InlineData("flux", "flux-dev")]
    [InlineData("sd3", "sd3-medium")]
    [InlineData("lumina-next", "lumina-next-sft")]
    public void Explain_reads_a_model_folder_for_its_backbone_defaults_and_scheduler(string tiny, string published)
    {
        // The make-tiny folders carry the published pipelines' scheduler configs and model_index.json classes: dense
        // schedules (no cost model involved) at the same token count must be the published ones, default step count included.
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny(tiny, dir);
        var byFolder = CliRunner.Run("explain", "--json", "--model", folder, "--size", "64", "--accel", "none");
        var byName = CliRunner.Run("explain", "--json", "--arch", published, "--size", "64", "--accel", "none");
        Assert.True(byFolder.ExitCode == 0, byFolder.All);
        Assert.True(byName.ExitCode == 0, byName.All);
        Assert.Equal(byName.Output, byFolder.Output);
        if (tiny == "flux-schnell")
        {
            var text = CliRunner.Run("explain", "--model", folder, "--size", "64");
            Assert.True(text.ExitCode == 0, text.All);
            Assert.Contains("FLUX.1-schnell-like", CliCache.Flat(text.Output));
            Assert.Contains("4 steps at 64×64 (16 image tokens)", CliCache.Flat(text.Output));
        }
    }

    [Fact]
    public void Explain_takes_arch_or_model_not_both_nor_neither()
    {
        using var dir = new TempDirectory();
        var both = CliRunner.Run("explain", "--arch", "sd3", "--model", dir.Path);
        Assert.Equal(1, both.ExitCode);
        Assert.Contains("alternatives", both.All);
        var neither = CliRunner.Run("explain");
        Assert.Equal(1, neither.ExitCode);
        Assert.Contains("--arch NAME", CliCache.Flat(neither.All));
        var notAModel = CliRunner.Run("explain", "--model", dir.Path);
        Assert.Equal(1, notAModel.ExitCode);
        Assert.Contains("model_index.json", CliCache.Flat(notAModel.All));
    }

    private static double[] Steps(params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 0, r.All);
        using var doc = JsonDocument.Parse(r.Output);
        return [.. doc.RootElement.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("sigma").GetDouble())];
    }
}
