using System.Text.Json;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>
/// `accelaes plan`: the memory plan before anything loads. FLUX.1-dev's published sizes against the cards the issue
/// names, each option's effect on the plan, weight bytes of a model folder from its headers, and bad input.
/// </summary>
public class PlanCliTests(CliCache cache) : IClassFixture<CliCache>
{
    private const long GiB = 1L << 30;

    private JsonElement Plan(params string[] args)
    {
        using var dir = new TempDirectory();
        string json = dir.File("plan.json");
        var r = cache.Run(["plan", .. args, "--json", json]);
        Assert.True(r.ExitCode == 0, r.All);
        return JsonDocument.Parse(File.ReadAllBytes(json)).RootElement.Clone();
    }

    private static long Bytes(JsonElement e, string obj, string name) => e.GetProperty(obj).GetProperty(name).GetInt64();

    [Fact]
    public void Flux_dev_in_bf16_does_not_fit_32_GiB_all_resident_and_fits_with_encoders_which_generate_runs()
    {
        var r = cache.Run("plan", "--arch", "flux-dev", "--memory", "32GiB");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.Output);
        Assert.Contains("with policy encoders", text);
        Assert.DoesNotContain("not implemented in the runtime yet", text);

        var plan = Plan("--arch", "flux-dev", "--memory", "32GiB");
        Assert.True(plan.GetProperty("fits").GetBoolean());
        Assert.Equal("encoders", plan.GetProperty("policy").GetString());
        Assert.True(plan.GetProperty("policy_implemented").GetBoolean());
        var none = plan.GetProperty("policies").EnumerateArray().Single(p => p.GetProperty("policy").GetString() == "none");
        Assert.False(none.GetProperty("fits").GetBoolean());
        // The figures: 23.8 GB transformer, 9.5 GB T5-XXL, 33.7 GB in all.
        Assert.InRange(Bytes(plan, "weight_bytes", "transformer"), 23.7e9, 23.9e9);
        Assert.InRange(Bytes(plan, "weight_bytes", "text_encoder_2"), 9.4e9, 9.6e9);
        long total = plan.GetProperty("weight_bytes").EnumerateObject().Sum(p => p.Value.GetInt64());
        Assert.InRange(total, 33.6e9, 33.8e9);
        Assert.Equal(32 * GiB, plan.GetProperty("memory_bytes").GetInt64());
    }

    [Fact]
    public void A_card_smaller_than_the_transformer_plans_sequential_which_generate_runs()
    {
        var r = cache.Run("plan", "--arch", "flux-dev", "--memory", "20GiB");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.Output);
        Assert.Contains("with policy sequential", text);
        Assert.DoesNotContain("not yet", text);
        Assert.DoesNotContain("Runs today with", text);
        var plan = Plan("--arch", "flux-dev", "--memory", "20GiB");
        Assert.Equal("sequential", plan.GetProperty("policy").GetString());
        Assert.True(plan.GetProperty("policy_implemented").GetBoolean());
        Assert.Equal(JsonValueKind.Null, plan.GetProperty("runnable_remedy").ValueKind);
    }

    [Fact]
    public void Fp8_weights_make_flux_dev_fit_24_GiB_all_resident_and_an_80_GiB_card_keeps_everything_resident()
    {
        var bf16 = Plan("--arch", "flux-dev", "--memory", "24GiB");
        var fp8 = Plan("--arch", "flux-dev", "--memory", "24GiB", "--weights", "fp8");
        Assert.NotEqual("none", bf16.GetProperty("policy").GetString());
        Assert.Equal("none", fp8.GetProperty("policy").GetString());
        Assert.True(fp8.GetProperty("policy_implemented").GetBoolean());
        Assert.InRange(Bytes(fp8, "weight_bytes", "transformer") / (double)Bytes(bf16, "weight_bytes", "transformer"), 0.5, 0.51);

        var h100 = Plan("--arch", "flux-dev", "--memory", "80GiB");
        Assert.Equal("none", h100.GetProperty("policy").GetString());
        Assert.True(h100.GetProperty("fits").GetBoolean());
    }

    [Fact]
    public void A_run_that_fits_nowhere_is_reported_with_the_change_that_would_make_it_fit()
    {
        var r = cache.Run("plan", "--arch", "flux-dev", "--memory", "12GiB", "--width", "4096", "--height", "4096");
        Assert.True(r.ExitCode == 0, r.All);
        string text = CliCache.Flat(r.Output);
        Assert.Contains("Does not fit in 12.00 GiB", text);
        Assert.Contains("Would fit with --width 2048 --height 2048", text);
        var plan = Plan("--arch", "flux-dev", "--memory", "12GiB", "--width", "4096", "--height", "4096");
        Assert.False(plan.GetProperty("fits").GetBoolean());
    }

    [Fact]
    public void Two_pass_cfg_halves_the_forward_activations_of_a_cfg_model()
    {
        var batched = Plan("--arch", "sd3.5-large");
        var twoPass = Plan("--arch", "sd3.5-large", "--cfg-mode", "TwoPass");
        Assert.Equal(2, batched.GetProperty("forward_batch").GetInt32());
        Assert.Equal(1, twoPass.GetProperty("forward_batch").GetInt32());
        Assert.Equal(Bytes(batched, "activation_bytes", "denoise_forward"), 2 * Bytes(twoPass, "activation_bytes", "denoise_forward"));
    }

    [Fact]
    public void SkipSparse_adds_its_per_layer_caches_and_sparse_ffn_off_drops_the_ffn_caches()
    {
        Assert.Equal(0, Bytes(Plan("--arch", "sd3-medium"), "activation_bytes", "sparse_caches"));
        long withFfn = Bytes(Plan("--arch", "sd3-medium", "--accel", "accelaes", "--set", "sparse=on"), "activation_bytes", "sparse_caches");
        long attentionOnly = Bytes(Plan("--arch", "sd3-medium", "--accel", "accelaes", "--set", "sparse=on", "--set", "sparse_ffn=off"), "activation_bytes", "sparse_caches");
        // SD3-Medium: 24 layers × (attn + ff) caches of [2, 4096, 1536] bf16 at 1024².
        Assert.Equal(24L * 2 * 2 * 4096 * 1536 * 2, withFfn);
        Assert.Equal(withFfn / 2, attentionOnly);
    }

    [Fact]
    public void An_accelerated_schedule_keeps_a_second_step_graph_whose_pool_holds_another_forward()
    {
        var dense = Plan("--arch", "lumina-next-sft");
        var accelerated = Plan("--arch", "lumina-next-sft", "--accel", "accelaes");
        Assert.Equal(1, dense.GetProperty("step_graphs").GetInt32());
        Assert.Equal(0, Bytes(dense, "activation_bytes", "graph_pools"));
        Assert.Equal(2, accelerated.GetProperty("step_graphs").GetInt32());
        Assert.Equal(Bytes(accelerated, "activation_bytes", "denoise_forward"), Bytes(accelerated, "activation_bytes", "graph_pools"));
    }

    [Fact]
    public void The_image_size_scales_the_decode_estimate()
    {
        long small = Bytes(Plan("--arch", "flux-dev", "--width", "512", "--height", "512"), "activation_bytes", "decode");
        long large = Bytes(Plan("--arch", "flux-dev", "--width", "1024", "--height", "1024"), "activation_bytes", "decode");
        Assert.Equal(4 * small, large);
    }

    [Fact]
    public void A_model_folders_weight_bytes_come_from_its_safetensors_headers()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        var plan = Plan("--model", folder, "--memory", "1GiB");
        foreach (string component in new[] { "transformer", "text_encoder", "text_encoder_2" })
        {
            string path = Path.Combine(folder, component);
            string baseName = component == "transformer" ? "diffusion_pytorch_model" : "model";
            using var set = SafeTensorsSet.OpenComponent(path, baseName, null);
            Assert.Equal(set.TotalBytes, Bytes(plan, "weight_bytes", component));
        }
        Assert.True(plan.GetProperty("fits").GetBoolean());
        Assert.Equal("none", plan.GetProperty("policy").GetString());
    }

    [Fact]
    public void Variant_selects_the_weight_files_the_plan_reads()
    {
        using var dir = new TempDirectory();
        string folder = cache.MakeTiny("flux", dir);
        var plain = Plan("--model", folder);
        foreach (string file in Directory.EnumerateFiles(folder, "*.safetensors", SearchOption.AllDirectories))
            File.Move(file, file[..^".safetensors".Length] + ".fp16.safetensors");

        var r = cache.Run("plan", "--model", folder);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("fp16", CliCache.Flat(r.All));
        var variant = Plan("--model", folder, "--variant", "fp16");
        Assert.Equal(plain.GetProperty("weight_bytes").ToString(), variant.GetProperty("weight_bytes").ToString());
    }

    [Fact]
    public void Help_lists_every_model_name()
    {
        var r = CliRunner.Run("plan", "--help");
        Assert.True(r.ExitCode == 0, r.All);
        string help = CliCache.Flat(r.Output);
        foreach (string name in AccelAes.Engine.Benchmarks.ModelArchitectures.AllNames) Assert.Contains(name, help);
    }

    [Fact]
    public void Without_memory_the_plan_uses_the_devices_free_memory_or_says_no_limit_was_given()
    {
        var plan = Plan("--arch", "flux-dev");
        string source = plan.GetProperty("memory_source").GetString()!;
        if (source.StartsWith("no limit given", StringComparison.Ordinal))
        {
            Assert.Equal(JsonValueKind.Null, plan.GetProperty("memory_bytes").ValueKind);
            Assert.True(plan.GetProperty("fits").GetBoolean());
        }
        else
        {
            Assert.Matches("^(free|total) memory of ", source);
            Assert.True(plan.GetProperty("memory_bytes").GetInt64() > 0);
        }
    }

    [Theory]
    [InlineData("--memory", "lots", "--memory")]
    [InlineData("--width", "1000", "multiples of 16")]
    [InlineData("--weights", "int4", "fp8")]
    public void Bad_input_is_one_error_naming_the_option(string option, string value, string expected)
    {
        var r = cache.Run("plan", "--arch", "flux-dev", option, value);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(expected, CliCache.Flat(r.All));
    }

    [Fact]
    public void A_plan_needs_a_model()
    {
        var r = cache.Run("plan");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Give --arch NAME", CliCache.Flat(r.All));
    }
}
