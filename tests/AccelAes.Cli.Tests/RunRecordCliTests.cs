using System.Runtime.InteropServices;
using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests;

/// <summary>
/// The run record a generated PNG carries, `generate --from` (rerun it, typed options overriding it, bad records
/// refused by key) and the files of `--save-mask`.
/// </summary>
public class RunRecordCliTests(CliCache cache) : IClassFixture<CliCache>
{
    /// <summary>An accelerated run on the built-in model whose every recorded setting differs from the defaults.</summary>
    private static readonly string[] Accelerated =
    [
        "--prompt", "a red apple on a wooden table", "--negative-prompt", "blurry", "--seed", "7", "--steps", "8",
        "--width", "64", "--height", "80", "--cfg-mode", "TwoPass", "--guidance", "5", "--accel", "accelaes", "--set", "sparse=on",
    ];

    private CliRunner.Result Generate(string output, params string[] args) => cache.Run(["generate", "--out", output, .. args]);

    private static void AssertSucceeded(CliRunner.Result r) => Assert.True(r.ExitCode == 0, r.All);

    private static void AssertRefused(CliRunner.Result r, params string[] fragments)
    {
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.All}");
        string all = CliCache.Flat(r.All);
        Assert.DoesNotContain("internal error", all);
        foreach (string f in fragments) Assert.Contains(f, all);
    }

    /// <summary><paramref name="args"/> with the values of some options replaced.</summary>
    private static string[] Replaced(string[] args, params (string Option, string Value)[] values)
    {
        string[] copy = args.ToArray();
        foreach (var (option, value) in values) copy[Array.IndexOf(copy, option) + 1] = value;
        return copy;
    }

    private static Dictionary<string, string> Record(string png) => PngText.Read(File.ReadAllBytes(png));

    private static byte[] Pixels(string png) => GenerateCliTests.Decode(png).Rgb;

    [Fact]
    public void An_accelerated_png_round_trips_through_from_to_the_same_pixels_and_record()
    {
        using var dir = new TempDirectory();
        string a = dir.File("a.png"), b = dir.File("b.png"), dense = dir.File("dense.png");
        AssertSucceeded(Generate(a, Accelerated));

        var record = Record(a);
        Assert.Equal("1", record["accelaes_record"]);
        Assert.Equal("accelaes", record["accel"]);
        Assert.Equal("[\"sparse=on\"]", record["accel_set"]);
        Assert.Equal("TwoPass", record["cfg_mode"]);
        Assert.Equal("builtin:sd3-tiny-v1", record["model"]); // by name: the cache folder differs between machines
        Assert.Equal("cpu", record["backend"]);
        Assert.Equal("64x80", record["size"]);
        Assert.Equal("5", record["guidance_scale"]);
        StepSchedule schedule = StepSchedule.FromJson(record["schedule"]);
        Assert.Equal(8, schedule.Count);
        Assert.True(schedule.SparseCount > 0 && schedule.SkippedCount > 0, record["schedule"]);
        Assert.Equal("20", record["mask_tokens"]); // 64×80 pixels, 16 pixels a token
        Assert.Equal("4x5", record["mask_grid"]);
        Assert.Equal("false", record["mask_fallback"]);
        int focus = int.Parse(record["mask_focus_tokens"]);
        Assert.InRange(focus, 1, 20);
        Assert.Equal(focus / 20.0, double.Parse(record["mask_focus_fraction"], System.Globalization.CultureInfo.InvariantCulture), 12);

        var rerun = cache.Run("generate", "--from", a, "--out", b);
        AssertSucceeded(rerun);
        Assert.Contains("Rerunning the record of", CliCache.Flat(rerun.Output));
        Assert.Equal(Pixels(a), Pixels(b));
        Assert.Equal(record, Record(b));

        // The recorded acceleration is what made the image: without it the same settings give other pixels.
        AssertSucceeded(Generate(dense, [.. Accelerated.Take(Accelerated.Length - 4)]));
        Assert.NotEqual(Pixels(a), Pixels(dense));
    }

    [Fact]
    public void The_record_lists_every_acceleration_knob_resolved()
    {
        using var dir = new TempDirectory();
        string a = dir.File("a.png");
        AssertSucceeded(Generate(a, "--steps", "8", "--width", "64", "--height", "64", "--accel", "accelaes", "--set", "interval=3", "--set", "s_fg=6.5"));
        using var resolved = JsonDocument.Parse(Record(a)["accel_resolved"]);
        var values = resolved.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.Equal(AccelerationOptions.Knobs.Select(k => k.Name).Order(), values.Keys.Order());
        Assert.Equal("3", values["interval"]);
        Assert.Equal("6.5", values["s_fg"]);
        // Each value is in the vocabulary --set takes, and means what the run used: given back, every one as an
        // override, they reproduce the image.
        string again = dir.File("again.png");
        AssertSucceeded(Generate(again, ["--steps", "8", "--width", "64", "--height", "64", "--accel", "accelaes",
            .. values.SelectMany(v => new[] { "--set", $"{v.Key}={v.Value}" })]));
        Assert.Equal(Pixels(a), Pixels(again));

        string dense = dir.File("dense.png");
        AssertSucceeded(Generate(dense, "--steps", "2", "--width", "32", "--height", "32"));
        var record = Record(dense);
        Assert.Equal("none", record["accel"]);
        Assert.Equal("[]", record["accel_set"]);
        Assert.False(record.ContainsKey("schedule"));
        Assert.False(record.ContainsKey("accel_resolved"));
    }

    [Fact]
    public void A_model_folder_round_trips_with_its_path_and_true_cfg_and_from_model_replaces_it()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("flux", dir);
        string a = dir.File("a.png"), b = dir.File("b.png"), c = dir.File("c.png");
        AssertSucceeded(Generate(a, "--model", model, "--steps", "2", "--width", "32", "--height", "32", "--seed", "11",
            "--true-cfg-scale", "2.5", "--negative-prompt", "blurry", "--prompt", "un caf\u00e9 \u2615 au lait"));
        Assert.Equal(Path.GetFullPath(model), Record(a)["model"]);
        Assert.Equal("2.5", Record(a)["true_cfg_scale"]);
        Assert.Equal("un caf\u00e9 \u2615 au lait", Record(a)["prompt"]); // UTF-8 text chunks: any prompt round-trips

        AssertSucceeded(cache.Run("generate", "--from", a, "--out", b));
        Assert.Equal(Pixels(a), Pixels(b));

        string moved = dir.File("moved");
        Directory.Move(model, moved);
        AssertRefused(cache.Run("generate", "--from", a, "--out", c), "'model'", "does not exist", "--model");
        Assert.False(File.Exists(c));
        AssertSucceeded(cache.Run("generate", "--from", a, "--model", moved, "--out", c));
        Assert.Equal(Pixels(a), Pixels(c));
        Assert.Equal(Path.GetFullPath(moved), Record(c)["model"]);
    }

    [Fact]
    public void The_weight_variant_is_recorded_and_loaded_again()
    {
        using var dir = new TempDirectory();
        string model = cache.MakeTiny("sd3", dir);
        // Only fp16-variant weight files: a rerun that forgot the variant would find no weights.
        foreach (string file in Directory.GetFiles(model, "*.safetensors", SearchOption.AllDirectories))
            File.Move(file, Path.ChangeExtension(file, ".fp16.safetensors"));
        string a = dir.File("a.png"), b = dir.File("b.png");
        AssertSucceeded(Generate(a, "--model", model, "--variant", "fp16", "--steps", "2", "--width", "32", "--height", "32"));
        Assert.Equal("fp16", Record(a)["variant"]);
        AssertSucceeded(cache.Run("generate", "--from", a, "--out", b));
        Assert.Equal(Pixels(a), Pixels(b));
    }

    [Fact]
    public void Options_typed_with_from_override_the_record_and_give_the_image_of_a_direct_run()
    {
        using var dir = new TempDirectory();
        string a = dir.File("a.png");
        AssertSucceeded(Generate(a, Accelerated));

        // --seed and --steps replace the recorded values, --set adds to the recorded overrides, the rest is kept.
        string over = dir.File("over.png"), direct = dir.File("direct.png");
        AssertSucceeded(cache.Run("generate", "--from", a, "--seed", "3", "--steps", "9", "--set", "interval=1", "--backend", "cpu", "--out", over));
        var record = Record(over);
        Assert.Equal("3", record["seed"]);
        Assert.Equal("9", record["steps"]);
        Assert.Equal("[\"sparse=on\",\"interval=1\"]", record["accel_set"]);
        Assert.Equal("a red apple on a wooden table", record["prompt"]);
        Assert.Equal("TwoPass", record["cfg_mode"]);
        AssertSucceeded(Generate(direct, [.. Replaced(Accelerated, ("--seed", "3"), ("--steps", "9")), "--set", "interval=1"]));
        Assert.Equal(Pixels(direct), Pixels(over));
        Assert.NotEqual(Pixels(a), Pixels(over));

        // --accel replaces the recorded preset and its overrides.
        string none = dir.File("none.png"), dense = dir.File("dense.png");
        AssertSucceeded(cache.Run("generate", "--from", a, "--accel", "none", "--prompt", "a green pear", "--out", none));
        Assert.Equal("none", Record(none)["accel"]);
        Assert.Equal("[]", Record(none)["accel_set"]);
        Assert.Equal("a green pear", Record(none)["prompt"]);
        AssertSucceeded(Generate(dense, [.. Replaced(Accelerated.Take(Accelerated.Length - 4).ToArray(), ("--prompt", "a green pear"))]));
        Assert.Equal(Pixels(dense), Pixels(none));
    }

    [Fact]
    public void From_and_out_naming_one_file_is_refused_before_anything_runs()
    {
        using var dir = new TempDirectory();
        string a = dir.File("a.png");
        AssertSucceeded(Generate(a, "--steps", "1", "--width", "32", "--height", "32"));
        byte[] before = File.ReadAllBytes(a);
        AssertRefused(cache.Run("generate", "--from", a, "--out", a), "--out", "--from", "an input of this run");
        Assert.Equal(before, File.ReadAllBytes(a));
    }

    /// <summary>A small dense record to damage, written once per test class.</summary>
    private byte[] Template()
    {
        string path = Path.Combine(cache.Path, "template.png");
        lock (cache)
        {
            if (!File.Exists(path))
                AssertSucceeded(Generate(path, "--steps", "1", "--width", "32", "--height", "32", "--accel", "stepcache"));
        }
        return File.ReadAllBytes(path);
    }

    [Fact]
    public void Fp8_gemm_is_recorded_when_not_auto_and_the_rerun_uses_it()
    {
        using var dir = new TempDirectory();
        string[] quick = ["--steps", "1", "--width", "32", "--height", "32"];
        string off = dir.File("off.png"), rerun = dir.File("rerun.png"), typed = dir.File("typed.png"), auto = dir.File("auto.png"), env = dir.File("env.png");
        AssertSucceeded(Generate(off, [.. quick, "--fp8-gemm", "off"]));
        Assert.Equal("off", Record(off)["fp8_gemm"]);

        // --from runs with the recorded mode: the rerun's own record carries it again (the CPU backend ignores the mode, so
        // the record is where it shows).
        AssertSucceeded(cache.Run("generate", "--from", off, "--out", rerun));
        Assert.Equal("off", Record(rerun)["fp8_gemm"]);
        Assert.Equal(Pixels(off), Pixels(rerun));

        // A typed --fp8-gemm replaces the recorded one and is named as taken from the command line.
        var r = cache.Run("generate", "--from", off, "--fp8-gemm", "on", "--out", typed);
        AssertSucceeded(r);
        Assert.Equal("on", Record(typed)["fp8_gemm"]);
        Assert.Contains("taken from the command line instead: --fp8-gemm", CliCache.Flat(r.Output));

        // auto, the default, is not written: records of auto runs read as before the key existed.
        AssertSucceeded(Generate(auto, [.. quick, "--fp8-gemm", "auto"]));
        Assert.False(Record(auto).ContainsKey("fp8_gemm"));

        // A recorded mode that is none of them is refused by key.
        string bad = dir.File("bad.png");
        File.WriteAllBytes(bad, PngChunkEditor.WithValue(File.ReadAllBytes(off), "fp8_gemm", "fast"));
        AssertRefused(cache.Run("generate", "--from", bad, "--out", dir.File("bad-out.png")), ["bad.png", "'fp8_gemm' is 'fast'", "auto, on or off"]);

        // A mode set by ACCELAES_FP8_GEMM is recorded too: the PNG, not the shell that ran it, carries it to a rerun.
        var environment = new Dictionary<string, string>(cache.Environment) { ["ACCELAES_FP8_GEMM"] = "on" };
        AssertSucceeded(CliRunner.Run(environment, ["generate", "--out", env, .. quick]));
        Assert.Equal("on", Record(env)["fp8_gemm"]);
    }

    public static TheoryData<string, string?, string[]> BadValues => new()
    {
        { "accelaes_record", null, ["no AccelAes run record", "'accelaes_record'"] },
        { "accelaes_record", "2", ["'accelaes_record' is '2'", "version 1"] },
        { "prompt", null, ["'prompt'", "incomplete"] },
        { "seed", "-1", ["'seed' is '-1'"] },
        { "steps", "0", ["'steps' is 0", "between 1"] },
        { "steps", "eight", ["'steps' is 'eight'"] },
        { "guidance_scale", "NaN", ["'guidance_scale' is 'NaN'", "finite"] },
        { "size", "64", ["'size' is '64'", "WIDTHxHEIGHT"] },
        { "size", "64x0", ["'size' (height) is 0"] },
        { "cfg_mode", "1", ["'cfg_mode' is '1'", "Batched"] },
        { "accel", "turbo", ["'accel'", "turbo"] },
        { "accel_set", "interval=3", ["'accel_set' is 'interval=3'", "JSON list"] },
        { "accel_set", "[\"no_such_knob=1\"]", ["'accel_set'", "no_such_knob"] },
        { "accel_set", "[\"interval=often\"]", ["'accel_set'", "interval"] },
        { "backend", "gpu", ["'backend' is 'gpu'", "cpu, cuda"] },
        { "model", "builtin:sd3-tiny-v0", ["'model' is 'builtin:sd3-tiny-v0'", "--model"] },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void A_bad_record_value_is_a_user_error_naming_the_key(string key, string? value, string[] message)
    {
        using var dir = new TempDirectory();
        string bad = dir.File("bad.png"), output = dir.File("out.png");
        File.WriteAllBytes(bad, PngChunkEditor.WithValue(Template(), key, value));
        AssertRefused(cache.Run("generate", "--from", bad, "--out", output), ["bad.png", .. message]);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Damaged_or_foreign_files_are_refused_with_the_reason()
    {
        using var dir = new TempDirectory();
        byte[] png = Template();
        string output = dir.File("out.png");
        var cases = new (string Name, byte[] Bytes, string[] Message)[]
        {
            ("crc.png", PngChunkEditor.WithDamagedText(png, "seed"), ["iTXt chunk fails its CRC check"]),
            ("short.png", png[..(png.Length - 30)], ["truncated"]),
            ("text.png", "seed=1\n"u8.ToArray(), ["not a PNG file"]),
            ("twice.png", PngChunkEditor.WithText(png, [.. PngText.Read(png), new("seed", "8")]), ["'seed' twice"]),
            ("plain.png", PngChunkEditor.WithText(png, [new("Software", "AccelAes")]), ["no AccelAes run record", "older than run records"]),
            ("foreign.png", PngChunkEditor.WithText(png, [new("Software", "GIMP"), new("prompt", "a cat")]), ["no AccelAes run record", "not written by `accelaes generate`"]),
            ("bomb.png", PngChunkEditor.WithCompressedText(png, "prompt", new byte[20 << 20]), ["'prompt' inflates past the 16777216-byte limit"]),
        };
        foreach (var (name, bytes, message) in cases)
        {
            string path = dir.File(name);
            File.WriteAllBytes(path, bytes);
            AssertRefused(cache.Run("generate", "--from", path, "--out", output), [name, .. message]);
            Assert.False(File.Exists(output));
        }
    }

    [Theory]
    [InlineData("/dev/zero", "is a character device")]
    [InlineData("/tmp", "is a folder")]
    [InlineData("missing.png", "does not exist")]
    public void From_reads_only_a_regular_file(string path, string message)
    {
        using var dir = new TempDirectory();
        string output = dir.File("out.png");
        AssertRefused(cache.Run("generate", "--from", path == "missing.png" ? dir.File(path) : path, "--out", output), "--from", message);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void A_compressed_text_chunk_is_read_like_a_plain_one()
    {
        using var dir = new TempDirectory();
        string edited = dir.File("edited.png"), output = dir.File("out.png");
        File.WriteAllBytes(edited, PngChunkEditor.WithCompressedText(Template(), "prompt", System.Text.Encoding.Latin1.GetBytes("a caf\u00e9 by the sea")));
        AssertSucceeded(cache.Run("generate", "--from", edited, "--out", output));
        Assert.Equal("a caf\u00e9 by the sea", Record(output)["prompt"]);
    }

    [Fact]
    public void Save_mask_writes_the_overlay_and_tensors_and_scores_that_agree_with_the_mask()
    {
        using var dir = new TempDirectory();
        string image = dir.File("a.png"), overlay = dir.File("mask.png");
        AssertSucceeded(Generate(image, [.. Accelerated, "--save-mask", overlay]));
        var record = Record(image);
        Assert.Equal((64, 80), (GenerateCliTests.Decode(overlay).Width, GenerateCliTests.Decode(overlay).Height));

        using var tensors = SafeTensorsFile.Open(dir.File("mask.safetensors"));
        float[] Tensor(string name)
        {
            SafeTensorInfo info = tensors[name];
            Assert.Equal(SafeTensorDType.F32, info.DType);
            Assert.Equal([5L, 4L], info.Shape.ToArray()); // [grid rows, grid columns]
            return MemoryMarshal.Cast<byte, float>(tensors.GetBytes(info)).ToArray();
        }
        float[] heat = Tensor("heat"), normalised = Tensor("heat_normalised"), binary = Tensor("binary"), soft = Tensor("soft"), focus = Tensor("focus");
        Assert.Equal("false", tensors.Metadata["fallback"]);
        float threshold = float.Parse(tensors.Metadata["threshold"], System.Globalization.CultureInfo.InvariantCulture);
        float min = heat.Min(), max = heat.Max();
        Assert.True(max > min);
        for (int p = 0; p < heat.Length; p++)
        {
            Assert.Equal((heat[p] - min) / (double)(max - min), normalised[p], 1e-5);
            Assert.Equal(normalised[p] >= threshold ? 1f : 0f, binary[p]);
            Assert.InRange(soft[p], 0f, 1f);
            Assert.Equal(soft[p] > 0.5f ? 1f : 0f, focus[p]);
        }
        Assert.Contains(0f, binary);
        Assert.Contains(1f, binary);
        Assert.Equal(int.Parse(record["mask_focus_tokens"]), (int)focus.Sum());

        using var scores = JsonDocument.Parse(File.ReadAllText(dir.File("mask.json")));
        JsonElement root = scores.RootElement;
        Assert.Equal("a red apple on a wooden table", root.GetProperty("prompt").GetString());
        Assert.Equal(int.Parse(record["mask_focus_tokens"]), root.GetProperty("focus_tokens").GetInt32());
        Assert.Equal(5, root.GetProperty("grid").GetProperty("height").GetInt32());
        Assert.Equal(4, root.GetProperty("grid").GetProperty("width").GetInt32());
        JsonElement[] encoders = root.GetProperty("encoders").EnumerateArray().ToArray();
        Assert.NotEmpty(encoders);
        foreach (JsonElement encoder in encoders)
        {
            JsonElement[] words = encoder.GetProperty("words").EnumerateArray().ToArray();
            Assert.Equal(["a", "red", "apple", "on", "a", "wooden", "table"], words.Select(w => w.GetProperty("word").GetString()!.Trim()));
            foreach (JsonElement word in words)
            {
                bool stop = word.GetProperty("stopword").GetBoolean();
                Assert.Equal(word.GetProperty("word").GetString()!.Trim() is "a" or "on", stop);
                Assert.Equal(stop, word.GetProperty("similarity").ValueKind == JsonValueKind.Null); // stop words are not scored
                Assert.NotEmpty(word.GetProperty("positions").EnumerateArray());
            }
        }
    }

    [Fact]
    public void After_a_mask_fallback_the_record_and_mask_files_hold_what_ran()
    {
        using var dir = new TempDirectory();
        string image = dir.File("a.png"), overlay = dir.File("mask.png");
        string[] knobs = ["--accel", "accelaes", "--set", "sparse=on"];
        // No heat map is that uneven: the mask falls back, and sparse steps and cache fills run as full steps.
        AssertSucceeded(Generate(image, ["--steps", "8", "--width", "64", "--height", "64", .. knobs, "--set", "std_threshold=0.9", "--save-mask", overlay]));
        var record = Record(image);
        Assert.Equal("true", record["mask_fallback"]);
        Assert.Equal("16", record["mask_focus_tokens"]);
        StepSchedule ran = StepSchedule.FromJson(record["schedule"]);
        Assert.Equal(0, ran.SparseCount);
        Assert.Empty(ran.IndicesOf(StepKind.FullFillCache));
        Assert.Single(ran.IndicesOf(StepKind.FullCaptureMask));

        var explain = cache.Run(["explain", "--arch", "sd3", "--steps", "8", "--json", .. knobs]);
        AssertSucceeded(explain);
        Assert.True(StepSchedule.FromJson(explain.Output).SparseCount > 0, explain.Output); // what was planned

        using var tensors = SafeTensorsFile.Open(dir.File("mask.safetensors"));
        Assert.Equal("true", tensors.Metadata["fallback"]);
        Assert.Equal("none", tensors.Metadata["threshold"]);
        foreach (string name in new[] { "binary", "soft", "focus" })
            Assert.All(MemoryMarshal.Cast<byte, float>(tensors.GetBytes(tensors[name])).ToArray(), v => Assert.Equal(1f, v));
        using var scores = JsonDocument.Parse(File.ReadAllText(dir.File("mask.json")));
        Assert.Equal(JsonValueKind.Null, scores.RootElement.GetProperty("threshold").ValueKind);
        Assert.True(scores.RootElement.GetProperty("fallback").GetBoolean());
    }

    [Fact]
    public void Save_mask_side_files_are_checked_before_anything_loads()
    {
        using var dir = new TempDirectory();
        string overlay = dir.File("mask.png");
        AssertRefused(Generate(dir.File("mask.json"), "--steps", "8", "--accel", "accelaes", "--save-mask", overlay),
            "--out and --save-mask (word scores) both name");
        Directory.CreateDirectory(dir.File("mask.safetensors"));
        AssertRefused(Generate(dir.File("a.png"), "--steps", "8", "--accel", "accelaes", "--save-mask", overlay),
            "--save-mask (mask tensors)", "is a folder");
        Assert.False(File.Exists(overlay));
        Assert.False(File.Exists(dir.File("a.png")));
    }
}
