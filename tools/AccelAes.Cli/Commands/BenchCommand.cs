using System.CommandLine;
using System.Globalization;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Files;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Validation;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes bench`: measurements that go into docs/perf. Speed is only ever measured here, never in unit tests.
/// Model benchmarks (--arch / --model), micro-benchmarks (--op gemm|attention), checkpoint read throughput (--read),
/// sparse-forward cost against the FLOP model (--sparse-cost).
/// </summary>
internal static class BenchCommand
{
    /// <summary>CPU runs of real configs above this many GFLOP per forward are refused (minutes per forward at CPU rates).</summary>
    internal const double CpuGflopLimit = 500;

    /// <summary>Deeper than any real backbone (57 blocks at most): the value only truncates.</summary>
    private const int MaxLayers = 10_000;

    /// <summary>A benchmark batch; real ones are 1 or 2 (CFG).</summary>
    private const int MaxBatch = 64;

    /// <summary>The largest GEMM side: 16384³ is already 8.8 TFLOP and three 1 GiB bf16 operands.</summary>
    private const int MaxGemmSize = 16_384;

    /// <summary>CUDA device ordinals: the driver enumerates far fewer.</summary>
    private const int MaxDeviceOrdinal = 1024;

    public static Command Create()
    {
        var read = new Option<string?>("--read") { Description = "Measure reading every tensor of a safetensors file or model component folder from page cache (GB/s)." };
        var repeat = new Option<int>("--repeat") { Description = "Measured repetitions (the median is reported).", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Unmeasured runs before the measured ones.", DefaultValueFactory = _ => 2 };
        var sparseCost = new Option<bool>("--sparse-cost") { Description = "Time a dense and a SkipSparse forward of a mid-size SD3-shaped model and compare with the FLOP model explain uses." };
        var focus = new Option<double>("--focus-fraction") { Description = "Focus fraction of the sparse steps (a synthetic random focus set).", DefaultValueFactory = _ => 0.5 };
        var arch = ArchitectureOption.Create("Benchmark a published configuration with generated weights");
        var model = CommonOptions.Model(required: false);
        model.Description = "Benchmark the transformer of a model folder (its config and weights).";
        var layers = new Option<int?>("--layers") { Description = "Keep only the first N transformer blocks (smoke runs on the CPU)." };
        var resolution = new Option<int>("--resolution") { Description = "Image side in pixels.", DefaultValueFactory = _ => 1024 };
        var batch = new Option<int?>("--batch") { Description = "Batch of the forward (default: 2 for CFG backbones, 1 for FLUX)." };
        var accel = new Option<string>("--accel")
        {
            Description = "Step mix to compare with dense: none, stepcache, accelaes; with --accounting also the caching policies teacache, fbcache, fora, taylorseer, delta-dit, ras.",
            DefaultValueFactory = _ => "none",
        };
        accel.AcceptOnlyFromAmong("none", "stepcache", "accelaes", "teacache", "fbcache", "fora", "taylorseer", "delta-dit", "ras");
        var overrides = AccelerationOptionsCli.Overrides();
        overrides.Description = "With --accounting and a caching policy: override one of its knobs, knob=value (repeatable), e.g. interval=2 for fora.";
        var schedule = new Option<string?>("--schedule")
        {
            Description = "With --accounting and a dynamic policy (teacache, fbcache): the executed mix, one letter per step, F computed, X reused " +
                          "(as a run record reports it). Without it the mix is decided at run time and only each step kind's cost is reported.",
        };
        var steps = new Option<int?>("--steps") { Description = "Steps of the mix (default: the model's pipeline default: 4 for FLUX.1-schnell, else the preset's)." };
        var op = new Option<string?>("--op") { Description = "Micro-benchmark: gemm (M = N = K) or attention (bf16, 4096/4608 tokens, head dims 64/72/128)." };
        var sizes = new Option<int[]>("--sizes") { Description = "GEMM sizes for --op gemm (default: 1024..8192 on a GPU, 256..1024 on the CPU).", AllowMultipleArgumentsPerToken = true };
        var skipPeak = new Option<bool>("--skip-peak") { Description = "Do not measure the GEMM peak that --arch compares its TFLOP/s with." };
        var accounting = new Option<bool>("--accounting")
        {
            Description = "With --arch or --model: count one step on the CUDA backend's rules without running it (GEMM and attention FLOPs, " +
                          "memory-bound bytes, kernel launches, roofline floors per card). Seconds, on any machine.",
        };
        var offload = new Option<string>("--offload")
        {
            Description = "With --arch or --model: none (default), or sequential: also build the transformer with its blocks in pinned host memory and report the time " +
                          "each residency policy adds per step and the weight stream's upload bandwidth (CUDA backend; the CPU has no device to stream to).",
            DefaultValueFactory = _ => "none",
        };
        offload.AcceptOnlyFromAmong("none", "sequential");
        var swiGluGemm = CommonOptions.SwiGluGemm();
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file." };
        var device = new Option<int>("--device") { Description = "CUDA device ordinal.", DefaultValueFactory = _ => 0 };
        var backend = CommonOptions.Backend();
        var command = new Command("bench", "Benchmarks: real model configs (--arch, --model), micro-benchmarks (--op), checkpoint reads (--read), sparse-forward cost (--sparse-cost).")
        {
            read, repeat, warmup, sparseCost, focus, arch, model, layers, resolution, batch, accel, overrides, schedule, steps, op, sizes, skipPeak, accounting, offload, swiGluGemm, json, device, backend,
        };
        command.SetAction(parse =>
        {
            // Every number is checked before any work, never clamped: a typo is an error, not a different benchmark.
            int reps = ValueChecks.Count(parse.GetValue(repeat), "--repeat", 1, InputLimits.MaxRepeat);
            int warm = ValueChecks.Count(parse.GetValue(warmup), "--warmup", 0, InputLimits.MaxRepeat);
            ValueChecks.Fraction(parse.GetValue(focus), "--focus-fraction");
            int side = ValueChecks.Count(parse.GetValue(resolution), "--resolution", 16, InputLimits.MaxImageSide);
            if (side % 16 != 0) throw new AccelAesException($"--resolution must be a multiple of 16, got {side}.");
            if (parse.GetValue(layers) is int keep) ValueChecks.Count(keep, "--layers", 1, MaxLayers);
            if (parse.GetValue(batch) is int b) ValueChecks.Count(b, "--batch", 1, MaxBatch);
            if (parse.GetValue(steps) is int n) ValueChecks.Count(n, "--steps", 1, InputLimits.MaxSteps);
            foreach (int gemmSize in parse.GetValue(sizes) ?? []) ValueChecks.Count(gemmSize, "--sizes", 1, MaxGemmSize);
            ValueChecks.Count(parse.GetValue(device), "--device", 0, MaxDeviceOrdinal);
            string? jsonPath = parse.GetValue(json);
            new RunFiles().Input(parse.GetValue(model), "--model").Input(parse.GetValue(read), "--read").Output(jsonPath, "--json").Check();
            if (parse.GetValue(accounting) && (parse.GetValue(read) is not null || parse.GetValue(sparseCost) || parse.GetValue(op) is not null))
                throw new AccelAesException("--accounting counts a model step: use it with --arch NAME or --model DIR, not with --op, --read or --sparse-cost.");
            if (parse.GetValue(offload) == "sequential" && (parse.GetValue(accounting) || parse.GetValue(read) is not null || parse.GetValue(sparseCost) || parse.GetValue(op) is not null))
                throw new AccelAesException("--offload sequential times a model's forward with its blocks streamed: use it with --arch NAME or --model DIR, not with --accounting, --op, --read or --sparse-cost.");
            if (parse.GetValue(read) is string path)
                return ReadThroughput(path, reps);
            string backendName = parse.GetValue(backend)!;
            if (parse.GetValue(sparseCost))
                return SparseCost(backendName, parse.GetValue(focus), reps);
            if (parse.GetValue(op) is string opName)
                return Micro(backendName, parse.GetValue(device), opName, parse.GetValue(sizes), parse.GetValue(batch) ?? 2, warm, reps, jsonPath);
            string? archName = parse.GetValue(arch), modelDir = parse.GetValue(model);
            if (archName is null && modelDir is null)
                throw new AccelAesException("Choose a benchmark: --arch NAME, --model DIR, --op gemm|attention, --read PATH or --sparse-cost.");
            if (archName is not null && modelDir is not null)
                throw new AccelAesException("--arch and --model are alternatives; give one.");
            ModelArchitecture? architecture = archName is not null ? ModelArchitectures.Find(archName) : null;
            var request = AccelerationRequest.Parse(parse.GetValue(accel)!, parse.GetValue(overrides) ?? []);
            var preset = request.Preset;
            string? letters = parse.GetValue(schedule);
            if (letters is not null) ValueChecks.Count(letters.Length, "--schedule's length (steps)", 1, InputLimits.MaxSteps);
            var swiGlu = CommonOptions.SwiGluGemmMode(parse.GetValue(swiGluGemm));
            if (parse.GetValue(accounting))
                return Accounting(architecture?.Config, modelDir, parse.GetValue(layers), side, parse.GetValue(batch), request,
                    parse.GetValue(steps) ?? (letters is null ? architecture?.Defaults.Steps : null), parse.GetValue(focus), letters, jsonPath, swiGlu);
            if (preset is AccelerationPreset.TeaCache or AccelerationPreset.FbCache or AccelerationPreset.Fora or AccelerationPreset.TaylorSeer
                or AccelerationPreset.DeltaDit or AccelerationPreset.Ras)
                throw new AccelAesException($"--accel {parse.GetValue(accel)}: a timed bench runs none, stepcache or accelaes; add --accounting to count a caching policy's steps.");
            if (request.Overrides.Count > 0 || letters is not null)
                throw new AccelAesException("--set and --schedule apply to --accounting with a caching policy (--accel teacache, fbcache, fora, taylorseer, delta-dit, ras).");
            var options = new ModelOptions(architecture?.Config, modelDir, parse.GetValue(layers), parse.GetValue(resolution), parse.GetValue(batch), preset,
                parse.GetValue(steps) ?? architecture?.Defaults.Steps, parse.GetValue(focus), warm, reps, parse.GetValue(skipPeak), jsonPath,
                MeasureSequential: parse.GetValue(offload) == "sequential", SwiGlu: swiGlu);
            return Model(backendName, parse.GetValue(device), options);
        });
        return command;
    }

    internal sealed record ModelOptions(RealConfig? Config, string? ModelDir, int? Layers, int Resolution, int? Batch, AccelerationPreset Accel,
        int? Steps, double Focus, int Warmup, int Repeats, bool SkipPeak, string? JsonPath, bool MeasureSequential = false,
        Engine.Backends.Cuda.SwiGluGemm SwiGlu = Engine.Backends.Cuda.SwiGluGemm.Auto);

    private static int Model(string backendName, int deviceOrdinal, ModelOptions o)
    {
        using var folder = o.ModelDir is null ? null : BenchModelFolder.Open(o.ModelDir);
        RealConfig config = folder?.Config ?? o.Config!;
        if (o.Layers is int n) config = config.Truncated(n);
        int batch = o.Batch ?? (config.UsesCfg ? 2 : 1);
        int tokens = (o.Resolution / 16) * (o.Resolution / 16);
        double gflop = config.CostModel(Math.Max(1, tokens)).TotalGflop * batch;
        if (backendName == "cpu" && gflop > CpuGflopLimit)
            throw new AccelAesException(string.Create(CultureInfo.InvariantCulture,
                $"{config.Description} at {o.Resolution}² (batch {batch}) is ≈ {gflop / 1000:F1} TFLOP per forward: minutes to hours on the CPU. " +
                $"Use --backend cuda, or a smoke run such as --layers 1 --resolution 128 (the CPU limit is {CpuGflopLimit} GFLOP per forward)."));

        using IBackend be = CommonOptions.CreateBackend(backendName, null, o.SwiGlu.ToString().ToLowerInvariant(), deviceOrdinal);
        BackendDiagnostics.ShowEnvironment(be);
        BackendDiagnostics.ShowWarnings(be);
        Ui.Info($"{config.Description} on {be.Name}; {o.Resolution}², batch {batch}; weights: {(folder is null ? "generated on the host (uniform, bf16), uploaded" : folder.Description)}");
        MicroResult? peak = null;
        if (!o.SkipPeak)
        {
            int size = backendName == "cpu" ? 1024 : 8192;
            Ui.Info($"measuring the matmul peak: a {size}³ {be.ActivationType} GEMM through Linear");
            peak = MicroBenchmarks.Gemm(be, [size], o.Warmup, o.Repeats)[0];
        }
        var request = new ModelBenchmarkRequest(config, o.Resolution, batch, o.Accel, o.Warmup, o.Repeats, o.Focus, o.Steps ?? folder?.DefaultSteps,
            o.MeasureSequential);
        if (o.MeasureSequential && be is not Engine.Backends.Cuda.CudaBackend)
            Ui.Warn($"--offload sequential: not measured on {be.Name}: the CPU backend has no device to stream blocks to (the policy is a no-op there); " +
                    "the time it adds per step is a GPU figure (--backend cuda).");
        // The same step counted (a second on the host, done first so that a problem shows before the long run): the
        // measured time is reported next to the floor it cannot beat. Generated weights are all distinct (Lumina then
        // computes its cross-attention query too), so the count follows them; a folder's weights are taken as published.
        var accounting = AccountingBenchmark.Run(new AccountingRequest(config, o.Resolution, batch, PublishedWeightTies: folder is not null, SwiGlu: o.SwiGlu));
        var result = ModelBenchmark.Run(be, request, folder?.WeightsFor(config), Ui.Info);
        BenchReports.ShowModel(result, peak);
        AccountingReports.ShowNextToMeasured(accounting, result.DenseMilliseconds / result.Steps);
        BackendDiagnostics.ShowGemmSummary(be);
        BackendDiagnostics.ShowSwiGluDecisions(be);
        if (o.JsonPath is not null)
            JsonFiles.Write(o.JsonPath, w => BenchReports.WriteModelJson(w, result, peak, be, more: inner => AccountingReports.WriteJson(inner, accounting, "accounting")));
        return ExitCodes.Success;
    }

    /// <summary>
    /// `--accounting`: the dense step (and with --accel the step kinds of the mix) counted on the counting backend; the
    /// timing options (--backend, --device, --repeat, --warmup, --skip-peak) do not apply.
    /// </summary>
    private static int Accounting(RealConfig? architecture, string? modelDir, int? layers, int resolution, int? batch, AccelerationRequest accel,
        int? steps, double focus, string? schedule, string? jsonPath, Engine.Backends.Cuda.SwiGluGemm swiGlu)
    {
        using var folder = modelDir is null ? null : BenchModelFolder.Open(modelDir);
        RealConfig config = folder?.Config ?? architecture!;
        if (layers is int n) config = config.Truncated(n);
        var request = new AccountingRequest(config, resolution, batch ?? (config.UsesCfg ? 2 : 1), accel.Preset, focus,
            steps ?? (schedule is null ? folder?.DefaultSteps : null), Overrides: accel.Overrides, Schedule: schedule, SwiGlu: swiGlu);
        var result = AccountingBenchmark.Run(request, Ui.Info);
        AccountingReports.Show(result);
        if (swiGlu == Engine.Backends.Cuda.SwiGluGemm.Auto)
            AccountingReports.ShowSwiGluAuto(result, AccountingBenchmark.Run(request with { SwiGlu = Engine.Backends.Cuda.SwiGluGemm.Split }));
        if (jsonPath is not null)
            JsonFiles.Write(jsonPath, w => AccountingReports.WriteJson(w, result));
        return ExitCodes.Success;
    }

    private static int Micro(string backendName, int deviceOrdinal, string op, int[]? sizes, int batch, int warmup, int repeats, string? jsonPath)
    {
        if (op is not ("gemm" or "attention"))
            throw new AccelAesException($"Unknown --op '{op}'; choose gemm or attention.");
        using IBackend be = BackendFactory.Create(backendName, deviceOrdinal);
        BackendDiagnostics.ShowEnvironment(be);
        BackendDiagnostics.ShowWarnings(be);
        bool gpu = backendName != "cpu";
        IReadOnlyList<MicroResult> results = op == "gemm"
            ? MicroBenchmarks.Gemm(be, sizes is { Length: > 0 } ? sizes : MicroBenchmarks.DefaultGemmSizes(gpu), warmup, repeats)
            : MicroBenchmarks.Attention(be, MicroBenchmarks.AttentionTokens, MicroBenchmarks.AttentionHeads, batch, warmup, repeats);
        BenchReports.ShowMicro(be, results, repeats);
        BackendDiagnostics.ShowGemmSummary(be);
        if (jsonPath is not null)
            JsonFiles.Write(jsonPath, w => BenchReports.WriteMicroJson(w, be, results, repeats));
        return ExitCodes.Success;
    }

    private static int SparseCost(string backendName, double focus, int repeat)
    {
        using IBackend be = BackendFactory.Create(backendName);
        var m = SparseCostBenchmark.MeasureSd3(be, focusFraction: focus, repeats: repeat);
        var inv = CultureInfo.InvariantCulture;
        var table = Ui.Table("config", "tokens (img + txt)", "focus", "dense", "sparse", "measured ratio", "FLOP model", "deviation");
        table.AddCells(m.Config, $"{m.ImageTokens} + {m.TextTokens}", m.FocusFraction.ToString("F2", inv), $"{m.DenseSeconds * 1e3:F1} ms",
            $"{m.SparseSeconds * 1e3:F1} ms", m.MeasuredRatio.ToString("F3", inv), m.PredictedRatio.ToString("F3", inv), m.Deviation.ToString("P1", inv));
        Ui.Show(table);
        return ExitCodes.Success;
    }

    private static int ReadThroughput(string path, int repeat)
    {
        using var set = File.Exists(path) ? SafeTensorsSet.OpenFile(path) : SafeTensorsSet.OpenComponent(path, "diffusion_pytorch_model", null);
        SafeTensorsThroughput.ReadAll(set); // warm the page cache and the JIT
        var table = Ui.Table("threads", "bytes", "median", "GB/s");
        foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
        {
            var runs = Enumerable.Range(0, repeat).Select(_ => SafeTensorsThroughput.ReadAll(set, threads)).OrderBy(r => r.Elapsed).ToList();
            var median = runs[runs.Count / 2];
            table.AddCells(threads, Ui.Bytes(median.Bytes), Ui.Seconds(median.Elapsed), median.GigabytesPerSecond.ToString("F2"));
        }
        Ui.Show(table);
        return ExitCodes.Success;
    }
}
