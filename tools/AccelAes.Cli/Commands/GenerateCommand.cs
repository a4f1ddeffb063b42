using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Files;
using Spectre.Console;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes generate`: prompt in, PNG out — encode, denoise, decode. Without --model it uses the built-in tiny
/// model (random weights: the image is noise, but every stage of a real run executes).
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "A diffusers pipeline folder (SD3 / SD3.5, FLUX.1, Lumina-Next). Default: the built-in tiny random-weight model.";
        var prompt = new Option<string>("--prompt") { Description = "What to draw.", DefaultValueFactory = _ => "a photo of a cat" };
        var negative = new Option<string>("--negative-prompt") { Description = "What to avoid (classifier-free guidance).", DefaultValueFactory = _ => "" };
        var steps = new Option<int?>("--steps") { Description = "Denoising steps (default: the pipeline's: 28 for SD3 and FLUX, 30 for Lumina-Next)." };
        var guidance = new Option<float?>("--guidance")
        {
            Description = "Guidance scale (default: the pipeline's: 7.0 SD3, 4.0 Lumina-Next, ≤ 1 turns their CFG off; FLUX: the embedded guidance, 3.5).",
        };
        var trueCfg = new Option<float?>("--true-cfg-scale")
        {
            Description = "FLUX only: real classifier-free guidance against --negative-prompt when > 1 (a second forward per step). Default 1: off.",
        };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the initial noise (same seed, same image, on every backend).", DefaultValueFactory = _ => 0UL };
        var width = new Option<int?>("--width") { Description = "Image width in pixels (default: the model's native size)." };
        var height = new Option<int?>("--height") { Description = "Image height in pixels (default: the model's native size)." };
        var guidanceMode = new Option<GuidanceMode>("--cfg-mode")
        {
            Description = "Batched: one forward over [uncond, cond]; TwoPass: two forwards, half the activation memory.",
            DefaultValueFactory = _ => GuidanceMode.Batched,
        };
        var output = new Option<string>("--out") { Description = "PNG file to write.", DefaultValueFactory = _ => "image.png" };
        var accel = AccelerationOptionsCli.Preset();
        var overrides = AccelerationOptionsCli.Overrides();
        var aesmaskClip = new Option<string?>("--aesmask-clip")
        {
            Description = "Lumina-Next: a CLIP ViT-L/14 text encoder folder (openai/clip-vit-large-patch14, or an SD3/FLUX pipeline folder) AesMask scores prompt words with.",
        };
        var saveMask = new Option<string?>(MaskFiles.Option)
        {
            Description = "With AesMask: write the focus mask as a PNG overlay at this path (focus tokens bright, background dimmed, soft mask as a heat tint), "
                + "and beside it, named after it, a .safetensors (heat, heat_normalised, binary, soft, focus: F32 [grid rows, grid columns]) and a .json (mask statistics, per-word anchor scores).",
        };
        var from = new Option<string?>("--from")
        {
            Description = "Rerun the generation recorded in a PNG written by generate (its run record: prompt, seed, steps, guidance, size, cfg mode, "
                + "true CFG, model, variant, backend, --accel and --set). Options given here override the record's values: --model replaces the recorded model, "
                + "--accel the recorded preset and its overrides, and --set alone adds overrides after the recorded ones. --out and --save-mask are never taken from the record.",
        };
        var variant = CommonOptions.Variant();
        var backend = CommonOptions.Backend();
        var command = new Command("generate", "Generate an image from a prompt: encode → denoise → VAE decode → PNG (the run record, every setting, stored in the PNG; --from reruns it).")
        {
            model, prompt, negative, steps, guidance, trueCfg, seed, width, height, guidanceMode, output, accel, overrides, aesmaskClip, saveMask, variant, backend, from,
        };
        command.SetAction(parse =>
        {
            string? fromPath = parse.GetValue(from);
            RunRecord? record = fromPath is null ? null : RunRecord.Read(PngTextChunks.Read(fromPath, "--from"), $"--from '{fromPath}'");
            bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
            // The record's value unless the option was typed (its default counts as not typed).
            T Pick<T>(Option<T> option, T recorded) => record is not null && !Given(option) ? recorded : parse.GetValue(option)!;

            string? modelPath = Given(model) ? parse.GetValue(model) : record?.ModelFolder;
            string modelWhat = record is not null && !Given(model) ? $"the model recorded in --from '{fromPath}'" : "--model";
            if (!Given(model) && record?.ModelFolder is { } recorded && InputFile.KindOf(recorded) != FileEntryKind.Directory)
                throw new AccelAesException(
                    $"--from '{fromPath}': record key '{RunRecordKeys.Model}' names the model folder '{recorded}', which {InputFile.Describe(InputFile.KindOf(recorded))} here; give --model DIR.");
            AccelerationRequest typedAcceleration = AccelerationOptionsCli.Read(parse, accel, overrides);
            var recordedRequest = record?.Request;
            var request = new GenerationRequest
            {
                Prompt = Pick(prompt, recordedRequest?.Prompt!),
                NegativePrompt = Pick(negative, recordedRequest?.NegativePrompt!),
                Steps = Pick(steps, recordedRequest?.Steps),
                GuidanceScale = Pick(guidance, recordedRequest?.GuidanceScale),
                Seed = Pick(seed, recordedRequest?.Seed ?? 0),
                Width = Pick(width, recordedRequest?.Width),
                Height = Pick(height, recordedRequest?.Height),
                GuidanceMode = Pick(guidanceMode, recordedRequest?.GuidanceMode ?? GuidanceMode.Batched),
                TrueCfgScale = Pick(trueCfg, recordedRequest?.TrueCfgScale),
                // A typed --accel replaces the recorded preset with its overrides (they were chosen for it); --set alone adds to them.
                Acceleration = recordedRequest?.Acceleration is { } recordedAcceleration && !Given(accel)
                    ? recordedAcceleration with { Overrides = [.. recordedAcceleration.Overrides, .. typedAcceleration.Overrides] }
                    : typedAcceleration,
                AesMaskClip = Pick(aesmaskClip, recordedRequest?.AesMaskClip),
            };
            string? saveMaskPath = parse.GetValue(saveMask);
            MaskFiles.Declare(new RunFiles() // before anything loads: outputs writable, distinct, and none of them an input
                    .Input(fromPath, "--from")
                    .Input(modelPath ?? BuiltInModel.Folder, modelPath is null ? "the built-in model" : modelWhat)
                    .Input(request.AesMaskClip, "--aesmask-clip")
                    .Output(parse.GetValue(output), "--out"), saveMaskPath)
                .Check();
            string? variantName = Pick(variant, record?.Variant);
            string backendName = Pick(backend, record?.Backend!);
            if (record is not null)
            {
                string[] typed = [.. new Option[] { model, prompt, negative, steps, guidance, trueCfg, seed, width, height, guidanceMode, accel, overrides, aesmaskClip, variant, backend }
                    .Where(Given).Select(o => o.Name)];
                Ui.Info($"Rerunning the record of {fromPath}" + (typed.Length == 0 ? "." : $"; taken from the command line instead: {string.Join(", ", typed)}."));
            }
            // What needs no model is checked before anything loads (the rest right after loading, before encoding).
            GenerationRequestValidation.CheckSettings(request, GenerationFieldNames.Cli);
            string folder = modelPath ?? BuiltInFolder();
            // An accelerated request is checked whole against the model's configs before its weights load (minutes for a
            // real model): knobs for the backbone, the step count, guidance and the mask against the image size.
            if (!request.Acceleration.IsNone)
                GenerationRequestValidation.CheckBeforeLoading(request, ModelArchitectures.FromFolder(folder), GenerationFieldNames.Cli);
            using IBackend be = BackendFactory.Create(backendName);
            BackendDiagnostics.ShowWarnings(be); // a bypassed cuBLASLt, GEMM shapes on gemm.cu, kernel target switches: never silent
            string outPath = parse.GetValue(output)!;
            var total = Stopwatch.StartNew();
            GenerationResult? result = null;
            ResolvedGeneration? resolved = null;
            ITextToImagePipeline? pipeline = null;
            AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var load = ctx.AddTask("load", maxValue: 1);
                    pipeline = TextToImage.Open(folder, be, variantName);
                    resolved = GenerationRequestValidation.Resolve(request, pipeline, GenerationFieldNames.Cli);
                    load.Increment(1);
                    var tasks = new Dictionary<GenerationPhase, ProgressTask>
                    {
                        [GenerationPhase.Encode] = ctx.AddTask("encode", maxValue: 1),
                        [GenerationPhase.Denoise] = ctx.AddTask("denoise", maxValue: request.Steps ?? pipeline.DefaultSteps),
                        [GenerationPhase.Decode] = ctx.AddTask("decode", maxValue: 1),
                    };
                    // Progress<T> would post to the thread pool; reports must land in order, synchronously.
                    var progress = new SynchronousProgress<GenerationProgress>(p =>
                    {
                        var task = tasks[p.Phase];
                        task.MaxValue = p.Total;
                        task.Value = p.Done;
                    });
                    result = pipeline.Generate(request, progress, CliCancellation.Token);
                });
            var r = result!;
            CliCancellation.Token.ThrowIfCancellationRequested();
            PngOutput.Write(outPath, "--out", r.Image, RunRecord.Write(r, modelPath, variantName, backendName, resolved!.Acceleration));
            foreach (string w in r.Warnings) Ui.Warn(w);
            if (r.Acceleration is { } a)
            {
                Ui.Info($"acceleration: {a.StepsRun.Length} of {r.Steps} steps computed ({a.SparseForwards} sparse), {a.Skipped} skipped; " +
                        (a.Mask is null ? "no mask" : a.Mask.Fallback ? "mask fell back (flat heat map): dense, uniform guidance"
                            : $"focus {a.Mask.FocusIndices.Length} of {a.Mask.TokenCount} tokens") +
                        (a.PeakCacheBytes > 0 ? $"; caches {Ui.Bytes(a.PeakCacheBytes)} (freed)" : ""));
                if (resolved.Acceleration is { UsesCachePolicy: true } policy)
                    Ui.Info(CachePolicySummary.Executed(policy, a.Schedule));
            }
            if (saveMaskPath is not null)
            {
                if (r.Acceleration?.Mask is not { } mask) Ui.Warn($"{MaskFiles.Option}: this run built no mask (the preset has no mask step); nothing written.");
                else Ui.Done($"mask → {string.Join(", ", MaskFiles.Write(saveMaskPath, r, mask).Select(Path.GetFullPath))}");
            }
            var table = Ui.Table("phase", "time");
            table.AddCells("load", Ui.Seconds(pipeline!.LoadTime));
            foreach (var t in r.Timings) table.AddCells(t.Phase, Ui.Seconds(t.Elapsed));
            table.AddCells("total", Ui.Seconds(total.Elapsed));
            Ui.Show(table);
            Ui.Done($"{r.Image.Width}×{r.Image.Height}, {r.Steps} steps, guidance {r.GuidanceScale.ToString(CultureInfo.InvariantCulture)}, seed {r.Request.Seed} on {be.Name} → {Path.GetFullPath(outPath)}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static string BuiltInFolder()
    {
        string folder = BuiltInModel.EnsureWritten();
        Ui.Info($"No --model given: using the built-in tiny model ({BuiltInModel.Name}, random weights) at {folder}");
        return folder;
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
