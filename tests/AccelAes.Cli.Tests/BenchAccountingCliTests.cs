using System.Globalization;
using System.Text.Json;

namespace AccelAes.Cli.Tests;

/// <summary>
/// `accelaes bench --arch A --accounting`: the real configurations counted on the CUDA backend's rules (no GPU, no math),
/// the JSON fields issue 16 names, and the options that must change the count.
/// </summary>
public class BenchAccountingCliTests
{
    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    private static JsonElement Account(TempDirectory dir, string name, params string[] options)
    {
        string json = Path.Combine(dir.Path, name + ".json");
        var r = CliRunner.Run(["bench", .. options, "--accounting", "--json", json]);
        Assert.True(r.ExitCode == 0, r.All);
        return Json(json);
    }

    [Fact]
    public void Flux_dev_at_1024_reports_flops_traffic_launches_and_a_roofline_floor_per_card()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "flux.json");
        var r = CliRunner.Run("bench", "--arch", "flux-dev", "--accounting", "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        string flat = CliCache.Flat(r.Output);
        Assert.Contains("memory-bound traffic", flat);
        Assert.Contains("floor = (GEMM FLOPs + attention FLOPs) / peak", flat);

        var root = Json(json);
        Assert.Equal("accounting", root.GetProperty("kind").GetString());
        Assert.Equal(4096, root.GetProperty("image_tokens").GetInt32());
        double gemm = root.GetProperty("gemm_flops").GetDouble(), attention = root.GetProperty("attention_flops").GetDouble();
        long memory = root.GetProperty("memory_bound_bytes").GetInt64();
        Assert.InRange(gemm / 1e12, 59.4, 59.6);        // architectures.md §7.2: 59.49 TF of linears
        Assert.InRange(attention / 1e12, 14.8, 14.9);   // 4·S²·D × 57 blocks = 14.87 TF
        Assert.True(memory > 1e9, $"{memory} memory-bound bytes");
        Assert.True(root.GetProperty("launches_per_step").GetInt64() > 57, "at least a launch per block");

        // Every card has its floor, and the floor is the stated formula over the reported numbers.
        var cards = root.GetProperty("cards").EnumerateArray().ToList();
        Assert.Equal(["H100 SXM", "RTX 5090", "RTX 4090", "A100 80GB"], cards.Select(c => c.GetProperty("name").GetString()));
        var roofline = root.GetProperty("roofline_ms");
        foreach (var card in cards)
        {
            double expected = (gemm + attention) / (card.GetProperty("peak_bf16_tflops").GetDouble() * 1e12) * 1e3
                              + memory / (card.GetProperty("dram_gb_per_s").GetDouble() * 1e9) * 1e3;
            Assert.Equal(expected, roofline.GetProperty(card.GetProperty("name").GetString()!).GetDouble(), 1e-9 * expected);
        }

        // The breakdown: biggest traffic first, and its memory-bound classes add up to memory_bound_bytes.
        var classes = root.GetProperty("classes").EnumerateArray().ToList();
        var traffic = classes.Select(c => c.GetProperty("bytes_read").GetInt64() + c.GetProperty("bytes_written").GetInt64()).ToList();
        Assert.Equal(traffic.OrderByDescending(t => t), traffic);
        Assert.Equal(memory, classes.Where(c => c.GetProperty("kind").GetString() is "memory-bound" or "copy/memset")
            .Sum(c => c.GetProperty("bytes_read").GetInt64() + c.GetProperty("bytes_written").GetInt64()));
    }

    [Fact]
    public void Resolution_batch_and_layers_change_the_count()
    {
        using var dir = new TempDirectory();
        var small = Account(dir, "small", "--arch", "sd3-medium", "--resolution", "512");
        var large = Account(dir, "large", "--arch", "sd3-medium", "--resolution", "1024");
        var single = Account(dir, "single", "--arch", "sd3-medium", "--resolution", "512", "--batch", "1");
        var cut = Account(dir, "cut", "--arch", "sd3-medium", "--resolution", "512", "--layers", "2");

        long Bytes(JsonElement e) => e.GetProperty("memory_bound_bytes").GetInt64();
        double Gemm(JsonElement e) => e.GetProperty("gemm_flops").GetDouble();
        Assert.Equal(1024, small.GetProperty("image_tokens").GetInt32());
        Assert.True(Bytes(large) > 3 * Bytes(small), $"{Bytes(large)} vs {Bytes(small)}");
        Assert.Equal(2, small.GetProperty("batch").GetInt32());       // CFG backbone: batch 2 by default
        Assert.InRange(Gemm(single) / Gemm(small), 0.49, 0.51);
        Assert.True(cut.GetProperty("launches_per_step").GetInt64() < small.GetProperty("launches_per_step").GetInt64() / 5);
    }

    [Fact]
    public void An_accel_mix_counts_its_step_kinds()
    {
        using var dir = new TempDirectory();
        var root = Account(dir, "lumina", "--arch", "lumina-next-sft", "--resolution", "512", "--accel", "accelaes", "--steps", "30");
        var kinds = root.GetProperty("step_kinds").EnumerateArray().ToDictionary(k => k.GetProperty("kind").GetString()!);
        Assert.Equal(30, kinds.Values.Sum(k => k.GetProperty("count").GetInt32()));
        Assert.Equal(0, kinds["Skip"].GetProperty("gemm_flops").GetDouble());
        Assert.True(kinds["Sparse"].GetProperty("gemm_flops").GetDouble() < root.GetProperty("gemm_flops").GetDouble());
        double mix = root.GetProperty("mix_per_step").GetProperty("gemm_flops").GetDouble();
        Assert.True(mix < root.GetProperty("gemm_flops").GetDouble(), string.Create(CultureInfo.InvariantCulture, $"mix {mix}"));
    }

    /// <summary>
    /// Lumina's caption keys and values (norm1_context's convert and RMSNorm, to_k, norm_k, to_v: 5 launches a layer) and temb's
    /// caption half (the pooling attention and its convert, LayerNorm, Linear: 4) are reported once per generation, apart from
    /// the step; SD3 has no such work.
    /// </summary>
    [Fact]
    public void Luminas_caption_keys_and_values_are_reported_once_per_generation_apart_from_the_step()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "lumina.json");
        var r = CliRunner.Run("bench", "--arch", "lumina-next-sft", "--resolution", "512", "--layers", "2", "--accounting", "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("once per generation, before the first step (in no step above)", CliCache.Flat(r.Output));
        var generation = Json(json).GetProperty("per_generation");
        Assert.Equal(2 * 5 + 4, generation.GetProperty("launches").GetInt64());
        Assert.True(generation.GetProperty("gemm_flops").GetDouble() > 0 && generation.GetProperty("memory_bound_bytes").GetInt64() > 0);
        Assert.DoesNotContain(Json(json).GetProperty("classes").EnumerateArray(), c => c.GetProperty("kernel").GetString() == "rmsnorm_bf16");

        var sd3 = Account(dir, "sd3", "--arch", "sd3-medium", "--resolution", "512", "--layers", "2").GetProperty("per_generation");
        Assert.Equal((0L, 0L), (sd3.GetProperty("launches").GetInt64(), sd3.GetProperty("memory_bound_bytes").GetInt64()));
    }

    /// <summary>Lumina too: its generated weights have distinct query paths, and the count follows the forward that ran.</summary>
    [Theory]
    [InlineData("sd3-medium")]
    [InlineData("lumina-next-sft")]
    public void A_timed_bench_reports_the_counted_step_next_to_the_measured_one(string arch)
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "timed.json");
        var r = CliRunner.Run("bench", "--arch", arch, "--layers", "1", "--resolution", "128", "--backend", "cpu",
            "--repeat", "1", "--warmup", "0", "--skip-peak", "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("roofline floors: H100 SXM", CliCache.Flat(r.Output));
        var root = Json(json);
        var counted = root.GetProperty("accounting");
        Assert.Equal(root.GetProperty("image_tokens").GetInt32(), counted.GetProperty("image_tokens").GetInt32());
        Assert.Equal(root.GetProperty("batch").GetInt32(), counted.GetProperty("batch").GetInt32());
        // The timed forward's FLOPs (profiled from the op shapes) are the counted forward's.
        var forward = counted.GetProperty("forward");
        double countedFlops = forward.GetProperty("gemm_flops").GetDouble() + forward.GetProperty("attention_flops").GetDouble();
        Assert.Equal(root.GetProperty("forward_flops").GetDouble(), countedFlops, 1e-9 * countedFlops);
        Assert.True(counted.GetProperty("roofline_ms").GetProperty("RTX 5090").GetDouble() > 0);
    }

    [Fact]
    public void Accounting_is_refused_with_the_micro_benchmarks()
    {
        var r = CliRunner.Run("bench", "--op", "gemm", "--accounting");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--accounting", CliCache.Flat(r.All));
    }
}
