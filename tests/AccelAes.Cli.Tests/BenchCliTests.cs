using System.Text.Json;

namespace AccelAes.Cli.Tests;

/// <summary>
/// `accelaes bench` on the CPU with small shapes: the code paths the GPU runs (model benchmark, per-op profile, step
/// mixes, micro-benchmarks, JSON) are exercised here; no speed is asserted.
/// </summary>
public class BenchCliTests
{
    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    [Fact]
    public void A_truncated_real_config_runs_on_the_cpu_and_reports_phases_ops_and_flops()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "sd3.json");
        var r = CliRunner.Run("bench", "--arch", "sd3-medium", "--layers", "1", "--resolution", "128", "--backend", "cpu",
            "--repeat", "1", "--warmup", "0", "--skip-peak", "--json", json);

        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("sd3-medium (1 of 24 blocks)", r.Output);
        Assert.Contains("transformer forward (dense)", r.Output);
        var root = Json(json);
        Assert.Equal("model", root.GetProperty("kind").GetString());
        Assert.Equal(64, root.GetProperty("image_tokens").GetInt32());
        Assert.Equal(333, root.GetProperty("text_tokens").GetInt32());
        Assert.Equal(2, root.GetProperty("batch").GetInt32());
        var ops = root.GetProperty("ops").EnumerateArray().ToDictionary(o => o.GetProperty("op").GetString()!);
        Assert.True(ops["Linear"].GetProperty("flops").GetDouble() > 0);
        // SD3 attends over its packed QKV buffer (AttentionPacked); any attention op counts.
        Assert.True(ops.Where(o => o.Key.StartsWith("Attention", StringComparison.Ordinal)).Sum(o => o.Value.GetProperty("flops").GetDouble()) > 0);
        // The forward's FLOPs are the sum of the matmul-like ops' FLOPs.
        double sum = ops.Values.Sum(o => o.GetProperty("flops").GetDouble());
        Assert.Equal(sum, root.GetProperty("forward_flops").GetDouble(), 1e-6 * sum);
        Assert.Equal(1.0, root.GetProperty("speedup").GetDouble());
    }

    [Theory]
    [InlineData("sd3", "1")]
    [InlineData("sd35", "2")] // its last block is not dual-attention, block 0 is: the cut keeps each as it was
    [InlineData("flux", "2")]
    [InlineData("lumina-next", "1")]
    public void A_model_folder_cut_to_fewer_blocks_runs_on_its_own_weights(string arch, string layers)
    {
        // Found by the fuzz test: a cut SD3 made its last kept block context_pre_only, which the checkpoint's block at
        // that index is not (shape error). The cut now keeps the checkpoint's last block there.
        using var cache = new CliCache();
        using var dir = new TempDirectory();
        string model = cache.MakeTiny(arch, dir);
        var r = cache.Run("bench", "--model", model, "--layers", layers, "--resolution", "64", "--repeat", "1", "--warmup", "0", "--skip-peak");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains($"({layers} of ", r.Output);
        Assert.Contains("weights: checkpoint", CliCache.Flat(r.Output));
    }

    /// <summary>
    /// `--offload sequential` is read: on the CPU it says there is no device to stream to (the time it adds is a GPU figure)
    /// and writes no residency figures; with a benchmark that times no model forward it is an error, not ignored.
    /// </summary>
    [Fact]
    public void Offload_sequential_on_the_cpu_says_it_is_a_gpu_figure_and_is_refused_without_a_model_forward()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "sd3.json");
        var r = CliRunner.Run("bench", "--arch", "sd3-medium", "--layers", "1", "--resolution", "64", "--backend", "cpu",
            "--repeat", "1", "--warmup", "0", "--skip-peak", "--offload", "sequential", "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.All);
        Assert.Contains("--offload sequential: not measured on cpu", text);
        Assert.Contains("GPU figure", text);
        Assert.False(Json(json).TryGetProperty("residency", out _));

        var micro = CliRunner.Run("bench", "--op", "gemm", "--sizes", "64", "--backend", "cpu", "--offload", "sequential");
        Assert.Equal(1, micro.ExitCode);
        Assert.Contains("--offload sequential times a model's forward", CliCache.Flat(micro.All));
    }

    [Fact]
    public void A_stepcache_mix_of_flux_times_skipped_steps()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "flux.json");
        var r = CliRunner.Run("bench", "--arch", "flux-dev", "--layers", "2", "--resolution", "64", "--backend", "cpu", "--accel", "stepcache",
            "--steps", "8", "--repeat", "1", "--warmup", "0", "--skip-peak", "--json", json);

        Assert.True(r.ExitCode == 0, r.All);
        var root = Json(json);
        Assert.Equal(1, root.GetProperty("batch").GetInt32()); // guidance-distilled: no CFG batch
        var kinds = root.GetProperty("step_kinds").EnumerateArray().ToDictionary(k => k.GetProperty("kind").GetString()!, k => k.GetProperty("count").GetInt32());
        Assert.Equal(8, kinds.Values.Sum());
        Assert.True(kinds.GetValueOrDefault("Skip") > 0, string.Join(", ", kinds));
    }

    [Fact]
    public void A_schnell_mix_takes_its_4_steps_where_the_preset_turns_stepcache_off()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "schnell.json");
        var r = CliRunner.Run("bench", "--arch", "flux-schnell", "--layers", "2", "--resolution", "64", "--backend", "cpu", "--accel", "stepcache",
            "--repeat", "1", "--warmup", "0", "--skip-peak", "--json", json);

        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("StepCache is off", CliCache.Flat(r.All));
        var kinds = Json(json).GetProperty("step_kinds").EnumerateArray().ToDictionary(k => k.GetProperty("kind").GetString()!, k => k.GetProperty("count").GetInt32());
        Assert.Equal(4, kinds.Values.Sum());
        Assert.False(kinds.ContainsKey("Skip"), string.Join(", ", kinds));
    }

    [Fact]
    public void An_accelaes_mix_of_lumina_runs_sparse_steps_on_a_stated_synthetic_mask()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "lumina.json");
        var r = CliRunner.Run("bench", "--arch", "lumina-next-sft", "--layers", "1", "--resolution", "64", "--backend", "cpu", "--accel", "accelaes",
            "--steps", "12", "--repeat", "1", "--warmup", "0", "--skip-peak", "--json", json);

        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("synthetic focus set", r.Output);
        var root = Json(json);
        Assert.Equal(0.5, root.GetProperty("synthetic_focus_fraction").GetDouble());
        var kinds = root.GetProperty("step_kinds").EnumerateArray().Select(k => k.GetProperty("kind").GetString()).ToList();
        Assert.Contains("Sparse", kinds);
        Assert.Contains("FullFillCache", kinds);
        Assert.Contains("FullCaptureMask", kinds);
    }

    [Fact]
    public void The_cpu_gemm_benchmark_reports_each_size()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "gemm.json");
        var r = CliRunner.Run("bench", "--op", "gemm", "--backend", "cpu", "--sizes", "64", "96", "--repeat", "1", "--json", json);

        Assert.True(r.ExitCode == 0, r.All);
        var rows = Json(json).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(["64×64×64", "96×96×96"], rows.Select(x => x.GetProperty("shape").GetString()));
        Assert.Equal(2.0 * 96 * 96 * 96, rows[1].GetProperty("flops").GetDouble());
    }

    [Theory]
    [InlineData("Unknown architecture 'sd4'", "--arch", "sd4")]
    [InlineData("Unknown --op 'conv'", "--op", "conv")]
    [InlineData("--layers 1 --resolution 128", "--arch", "flux-dev", "--backend", "cpu")]
    [InlineData("--resolution must be a multiple of 16, got 100", "--arch", "sd3-medium", "--layers", "1", "--resolution", "100", "--skip-peak")]
    [InlineData("Choose a benchmark", "--repeat", "1")]
    public void Bad_input_is_a_user_error_that_says_what_to_do(string message, params string[] args)
    {
        var r = CliRunner.Run(["bench", .. args]);
        Assert.True(r.ExitCode == 1, r.All);
        Assert.Contains(message, r.All);
    }
}
