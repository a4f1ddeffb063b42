using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Fidelity;
using AccelAes.Engine.Evaluation.Runs;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Files;
using AccelAes.Loader.Prompts;
using AccelAes.Loader.Validation;
using Spectre.Console;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes eval`: the paper's protocol — prompts × seeds × methods, every image generated, scored and compared with
/// its dense twin — resumable from its JSONL ledger, summarised in the paper's column order.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "A diffusers pipeline folder (SD3 / SD3.5, FLUX.1, Lumina-Next). Default: the built-in tiny random-weight model.";
        var prompts = new Option<string>("--prompts")
        {
            Description = "The prompts: a text file, one prompt a line, or a Parquet (.parquet, e.g. a Pick-a-Pic shard) or CSV (.csv / .tsv, with a header row) column (--prompt-column).",
            Required = true,
        };
        var promptColumn = new Option<string?>("--prompt-column") { Description = $"The CSV column holding the prompts (default: {PromptFile.DefaultColumn}, Pick-a-Pic's)." };
        var seeds = new Option<string>("--seeds") { Description = "Seeds per prompt, comma-separated (the paper: three).", DefaultValueFactory = _ => "0,1,2" };
        var accel = new Option<string>("--accel")
        {
            Description = "Methods, comma-separated: none (dense, the baseline every method is paired with; added when missing), "
                + string.Join(", ", Enum.GetValues<AccelerationPreset>().Where(p => p != AccelerationPreset.None).Select(AccelerationOptions.PresetName)) + ". "
                + "--set knobs apply to every accelerated method, as generate applies them.",
            DefaultValueFactory = _ => "none,stepcache,accelaes",
        };
        var overrides = AccelerationOptionsCli.Overrides();
        var output = new Option<string>("--out") { Description = "Folder for the images, eval.jsonl, summary.json / .md and plots/ (created; an existing run there is resumed).", Required = true };
        var warmup = new Option<int>("--warmup")
        {
            Description = "Untimed generations per method before the first timed one (JIT, kernel compiles and caches would otherwise count against the first method).",
            DefaultValueFactory = _ => 1,
        };
        var shared = new GenerationOptionsCli();
        var scorers = new ScorerOptionsCli();
        var command = new Command("eval", "Evaluate acceleration methods as the paper does: prompts × seeds × methods, metrics, paired differences to dense with bootstrap intervals, speed-up, PSNR / SSIM; resumable.")
        {
            model, prompts, promptColumn, seeds, accel, overrides, output, warmup,
        };
        foreach (Option option in shared.All.Concat(scorers.All)) command.Options.Add(option);
        command.SetAction(parse =>
        {
            string? modelPath = parse.GetValue(model);
            string outDir = parse.GetValue(output)!;
            int warmups = ValueChecks.Count(parse.GetValue(warmup), "--warmup", 0, InputLimits.MaxRepeat);
            IReadOnlyList<ulong> seedList = ParseSeeds(parse.GetValue(seeds)!);
            string[] sets = parse.GetValue(overrides) ?? [];
            IReadOnlyList<EvalMethod> methods = ParseMethods(parse.GetValue(accel)!, sets);
            IReadOnlyList<MetricEntry> metricEntries = scorers.Selected(parse);
            string promptsPath = parse.GetValue(prompts)!;

            var inputs = new RunFiles().Input(promptsPath, "--prompts").Input(modelPath ?? BuiltInModel.Folder, modelPath is null ? "the built-in model" : "--model")
                .Input(parse.GetValue(shared.AesMaskClip), "--aesmask-clip");
            foreach (var (path, what) in scorers.Inputs(parse)) inputs.Input(path, what);
            if (Directory.Exists(outDir)) inputs.Output(Path.Combine(outDir, EvalFiles.Ledger), "--out");
            inputs.Check();
            IReadOnlyList<string> promptList = PromptFile.Read(promptsPath, parse.GetValue(promptColumn));

            GenerationRequest Request(EvalItem item) => shared.Request(parse, item.Prompt, item.Seed, item.Method.Acceleration);
            // Everything that needs no weights is checked before anything loads, for every method.
            string folder = modelPath ?? GenerateCommand.BuiltInFolder();
            ModelArchitecture architecture = ModelArchitectures.FromFolder(folder);
            foreach (EvalMethod method in methods)
                GenerationRequestValidation.CheckBeforeLoading(Request(new EvalItem(0, promptList[0], seedList[0], method)), architecture, GenerationFieldNames.Cli);

            // Scorers load before anything is written: a metric without its files leaves no folder behind.
            string backendName = parse.GetValue(shared.Backend)!;
            string? variantName = parse.GetValue(shared.Variant);
            using IBackend be = BackendFactory.Create(backendName);
            BackendDiagnostics.ShowWarnings(be);
            IReadOnlyList<IImageMetric> metrics = MetricCatalog.Create(metricEntries, scorers.Files(parse, be));
            using var scorersLoaded = new DisposeAll(metrics);
            EvalFiles.PrepareFolder(outDir, EvalFiles.Settings(parse, shared, modelPath, sets, metricEntries));
            var ledger = EvalLedger.Open(Path.Combine(outDir, EvalFiles.Ledger));
            if (ledger.DroppedLines > 0) Ui.Warn($"{EvalFiles.Ledger}: {ledger.DroppedLines} incomplete line(s) dropped (an interrupted run); those images are generated again.");
            IReadOnlyList<EvalItem> items = EvalPlan.Items(promptList, seedList, methods);
            EvalFiles.CheckLedgerMatches(ledger, promptList, [.. metricEntries.Select(e => e.Name)]);
            EvalItem[] pending = [.. items.Where(i => !ledger.Records.ContainsKey(i.Key))];
            Ui.Info($"{items.Count} images ({promptList.Count} prompts × {seedList.Count} seeds × {methods.Count} methods): "
                    + (pending.Length == items.Count ? "none finished yet." : $"{items.Count - pending.Length} finished in {outDir}, {pending.Length} to go."));

            if (pending.Length > 0)
                Run(pending, items.Count, ledger, outDir, metrics, warmups, Request, folder, be, modelPath, variantName, backendName);

            string[] metricNames = [.. metricEntries.Select(e => e.Name)];
            var keys = items.Select(i => i.Key).ToHashSet(); // a ledger may hold more (methods or seeds of an earlier run)
            IReadOnlyList<MethodSummary> summary = EvalSummary.Compute(
                ledger.Records.Values.Where(r => keys.Contains(r.Key)), [.. methods.Select(m => m.Name)], metricNames);
            EvalReports.Show(summary, metricEntries);
            EvalReports.WriteFiles(outDir, summary, metricEntries, promptList.Count, seedList);
            Ui.Done($"{items.Count} images, eval.jsonl, summary.json, summary.md and plots/ → {Path.GetFullPath(outDir)}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Run(EvalItem[] pending, int total, EvalLedger ledger, string outDir, IReadOnlyList<IImageMetric> metrics, int warmups,
        Func<EvalItem, GenerationRequest> request, string folder, IBackend backend, string? modelPath, string? variant, string backendName)
    {
        var denseImages = new Dictionary<(int, ulong), RgbImage>();
        var warnings = new SortedSet<string>(StringComparer.Ordinal);
        if (warmups > 0) Ui.Info($"warm-up: {warmups} untimed generation(s) per method before the timed ones (--warmup).");
        AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var load = ctx.AddTask("load", maxValue: 1);
                ITextToImagePipeline pipeline = TextToImage.Open(folder, backend, variant);
                load.Increment(1);
                if (warmups > 0)
                {
                    EvalItem[] firsts = [.. pending.GroupBy(i => i.Method.Name).Select(g => g.First())];
                    var warm = ctx.AddTask("warm-up", maxValue: firsts.Length * warmups);
                    foreach (EvalItem item in firsts)
                        for (int w = 0; w < warmups; w++)
                        {
                            pipeline.Generate(request(item), null, CliCancellation.Token);
                            warm.Increment(1);
                        }
                }
                var images = ctx.AddTask("images", maxValue: total);
                images.Value = total - pending.Length;
                foreach (EvalItem item in pending)
                {
                    CliCancellation.Token.ThrowIfCancellationRequested();
                    GenerationRequest q = request(item);
                    ResolvedGeneration resolved = GenerationRequestValidation.Resolve(q, pipeline, GenerationFieldNames.Cli);
                    var clock = Stopwatch.StartNew();
                    GenerationResult result = pipeline.Generate(q, null, CliCancellation.Token);
                    double seconds = clock.Elapsed.TotalSeconds;
                    foreach (string w in result.Warnings) warnings.Add($"{item.Method.Name}: {w}");
                    CliCancellation.Token.ThrowIfCancellationRequested();

                    string imagePath = Path.Combine(outDir, item.ImagePath);
                    Directory.CreateDirectory(Path.GetDirectoryName(imagePath)!);
                    PngOutput.Write(imagePath, "--out", result.Image, RunRecord.Write(result, modelPath, variant, backendName, resolved.Acceleration));
                    var scores = new Dictionary<string, double>();
                    foreach (IImageMetric metric in metrics) scores[metric.Name] = metric.Score(result.Image, item.Prompt);
                    double? psnr = null, ssim = null;
                    if (item.Method.IsDense)
                    {
                        // Items come per (prompt, seed), dense first: only the current pair's dense image is kept.
                        denseImages.Clear();
                        denseImages[(item.PromptIndex, item.Seed)] = result.Image;
                    }
                    else if (Dense(item, denseImages, outDir) is { } dense)
                    {
                        psnr = ImageFidelity.Psnr(result.Image, dense);
                        ssim = ImageFidelity.Ssim(result.Image, dense);
                    }
                    ledger.Append(new EvalRecord(item.Key, item.PromptIndex, item.Prompt, item.Seed, item.Method.Name, item.ImagePath, seconds, scores, psnr, ssim));
                    images.Increment(1);
                }
            });
        // Once per method and wording: a preset that turned a component off says so for every image.
        foreach (string w in warnings) Ui.Warn(w);
    }

    /// <summary>The dense image of the item's prompt and seed: generated in this run, or read back from the folder when a resumed run finished it earlier.</summary>
    private static RgbImage? Dense(EvalItem item, Dictionary<(int, ulong), RgbImage> generated, string outDir)
    {
        if (generated.TryGetValue((item.PromptIndex, item.Seed), out RgbImage? image)) return image;
        var dense = item with { Method = new EvalMethod(EvalMethod.Dense, AccelerationRequest.None) };
        string path = Path.Combine(outDir, dense.ImagePath);
        if (!InputFile.Exists(path)) return null;
        generated.Clear();
        return generated[(item.PromptIndex, item.Seed)] = PngImageInput.Read(path, "the dense image");
    }

    /// <summary>Disposes the scorers however the command ends.</summary>
    private sealed class DisposeAll(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (IDisposable item in items) item.Dispose();
        }
    }

    private static IReadOnlyList<ulong> ParseSeeds(string text)
    {
        var seeds = new List<ulong>();
        foreach (string part in text.Split(','))
        {
            string s = part.Trim();
            if (!ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
                throw new AccelAesException($"--seeds: '{s}' is not a seed; give whole numbers from 0 to {ulong.MaxValue}, comma-separated (e.g. 0,1,2).");
            if (seeds.Contains(seed)) throw new AccelAesException($"--seeds names seed {seed} twice.");
            seeds.Add(seed);
        }
        ValueChecks.Count(seeds.Count, "--seeds (the number of seeds)", 1, InputLimits.MaxEvalSeeds);
        return seeds;
    }

    private static IReadOnlyList<EvalMethod> ParseMethods(string text, string[] sets)
    {
        var methods = new List<EvalMethod> { new(EvalMethod.Dense, AccelerationRequest.None) };
        foreach (string part in text.Split(','))
        {
            string name = part.Trim().ToLowerInvariant();
            if (name == EvalMethod.Dense) continue;
            if (methods.Any(m => m.Name == name)) throw new AccelAesException($"--accel names method '{name}' twice.");
            // The preset's own parser names the choices on a typo.
            methods.Add(new EvalMethod(name, AccelerationRequest.Parse(name, sets)));
        }
        return methods;
    }
}
