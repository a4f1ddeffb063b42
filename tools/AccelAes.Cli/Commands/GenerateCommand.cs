using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Files;
using AccelAes.Loader.SingleFile;
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
        model.Description = "A diffusers pipeline folder (SD3 / SD3.5, FLUX.1, Lumina-Next), or a single-file checkpoint (SD3 / SD3.5 in Stability AI's layout, "
            + "FLUX.1 in BFL's) with --components. Default: the built-in tiny random-weight model.";
        var components = CommonOptions.Components();
        var config = new Option<string?>("--config")
        {
            Description = "With a single-file --model: a folder whose config.json gives the transformer's config (checked against the tensors; "
                + "default: --components' transformer/config.json, else inferred from tensor shapes).",
        };
        var prompt = new Option<string>("--prompt") { Description = "What to draw.", DefaultValueFactory = _ => "a photo of a cat" };
        var shared = new GenerationOptionsCli();
        var (negative, steps, guidance, trueCfg) = (shared.NegativePrompt, shared.Steps, shared.Guidance, shared.TrueCfg);
        var (width, height, guidanceMode, aesmaskClip) = (shared.Width, shared.Height, shared.CfgMode, shared.AesMaskClip);
        var seed = new Option<ulong>("--seed") { Description = "Seed of the initial noise (same seed, same image, on every backend).", DefaultValueFactory = _ => 0UL };
        var output = new Option<string>("--out") { Description = "PNG file to write.", DefaultValueFactory = _ => "image.png" };
        var accel = AccelerationOptionsCli.Preset();
        var overrides = AccelerationOptionsCli.Overrides();
        var saveMask = new Option<string?>(MaskFiles.Option)
        {
            Description = "With AesMask: write the focus mask as a PNG overlay at this path (focus tokens bright, background dimmed, soft mask as a heat tint), "
                + "and beside it, named after it, a .safetensors (heat, heat_normalised, binary, soft, focus: F32 [grid rows, grid columns]) and a .json (mask statistics, per-word anchor scores).",
        };
        var from = new Option<string?>("--from")
        {
            Description = "Rerun the generation recorded in a PNG written by generate (its run record: prompt, seed, steps, guidance, size, cfg mode, "
                + "true CFG, model, variant, backend, --weights, --fp8-gemm and --swiglu-gemm when not auto, --accel and --set). Options given here override the record's values: --model replaces the recorded model, "
                + "--accel the recorded preset and its overrides, and --set alone adds overrides after the recorded ones. --out and --save-mask are never taken from the record.",
        };
        var (variant, backend) = (shared.Variant, shared.Backend);
        var offload = new Option<string>("--offload")
        {
            Description = "Which weights stay on the device: none (all resident), encoders (text encoders loaded only to encode, freed before the transformer and VAE load), "
                + "sequential (as encoders, and on cuda the transformer's blocks stream from pinned host memory through two device slots, the next block's upload "
                + "overlapping the current block's compute; steps are not graph-captured), or auto: the memory plan's choice against the device's free memory (or --memory); a run that fits under none of them is refused before loading.",
            DefaultValueFactory = _ => "auto",
        };
        offload.AcceptOnlyFromAmong("auto", "none", "encoders", "sequential");
        var weights = CommonOptions.Weights();
        var fp8Gemm = CommonOptions.Fp8Gemm();
        var swiGluGemm = CommonOptions.SwiGluGemm();
        var memory = new Option<string?>("--memory")
        {
            Description = "Plan against this much device memory (e.g. 24GiB) instead of the device's free memory; on the CPU backend, plan at all (it is not checked otherwise).",
        };
        var command = new Command("generate", "Generate an image from a prompt: encode → denoise → VAE decode → PNG (the run record, every setting, stored in the PNG; --from reruns it).")
        {
            model, prompt, negative, steps, guidance, trueCfg, seed, width, height, guidanceMode, output, accel, overrides, aesmaskClip, saveMask, variant, backend, from,
            offload, memory, weights, fp8Gemm, swiGluGemm, components, config,
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
            if (!Given(model) && record?.ModelFolder is { } recorded && InputFile.KindOf(recorded) is not (FileEntryKind.Directory or FileEntryKind.RegularFile))
                throw new AccelAesException(
                    $"--from '{fromPath}': record key '{RunRecordKeys.Model}' names the model '{recorded}', which {InputFile.Describe(InputFile.KindOf(recorded))} here; give --model.");
            // A recorded single file comes with its recorded --components and --config, unless the model is typed.
            string? componentsDir = Given(components) ? parse.GetValue(components) : Given(model) ? null : record?.Components;
            string? configDir = Given(config) ? parse.GetValue(config) : Given(model) ? null : record?.Config;
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
                string[] typed = [.. new Option[] { model, prompt, negative, steps, guidance, trueCfg, seed, width, height, guidanceMode, accel, overrides, aesmaskClip, variant, backend, weights, fp8Gemm, swiGluGemm }
                    .Where(Given).Select(o => o.Name)];
                Ui.Info($"Rerunning the record of {fromPath}" + (typed.Length == 0 ? "." : $"; taken from the command line instead: {string.Join(", ", typed)}."));
            }
            // What needs no model is checked before anything loads (the rest right after loading, before encoding).
            GenerationRequestValidation.CheckSettings(request, GenerationFieldNames.Cli);
            string folder = modelPath ?? BuiltInFolder();
            // A single file is composed with --components here, so what it lacks is named before anything loads.
            ModelFolder composed = SingleFileModel.Open(folder, componentsDir, configDir);
            // An accelerated request is checked whole against the model's configs before its weights load (minutes for a
            // real model): knobs for the backbone, the step count, guidance and the mask against the image size.
            if (!request.Acceleration.IsNone)
                GenerationRequestValidation.CheckBeforeLoading(request, ModelArchitectures.FromFolder(composed), GenerationFieldNames.Cli);
            string offloadName = parse.GetValue(offload)!;
            ResidencyPolicy? requestedResidency = offloadName == "auto" ? null : ResidencyPolicies.Parse(offloadName, "--offload");
            string weightsName = Pick(weights, record?.Weights ?? "bf16");
            WeightPrecision precision = CommonOptions.PrecisionOf(weightsName);
            long? memoryLimit = parse.GetValue(memory) is { } typedMemory ? ByteSize.Parse(typedMemory, "--memory") : null;
            // The recorded fp8 GEMM mode reruns with the record (an ACCELAES_FP8_GEMM that set it is not part of the PNG);
            // a record without one leaves the default (the environment, else auto) as a run without --fp8-gemm does.
            string? fp8GemmName = Given(fp8Gemm) ? parse.GetValue(fp8Gemm) : record?.Fp8Gemm;
            string? swiGluGemmName = Given(swiGluGemm) ? parse.GetValue(swiGluGemm) : record?.SwiGluGemm; // as the fp8 GEMM mode
            using IBackend be = CommonOptions.CreateBackend(backendName, fp8GemmName, swiGluGemmName);
            BackendDiagnostics.ShowWarnings(be); // a bypassed cuBLASLt, GEMM shapes on gemm.cu, kernel target switches: never silent
            // The memory plan, before any weight loads: the policy to run under, or a refusal naming what would fit.
            ResidencyDecision residency = GenerationResidency.Decide(composed, variantName, request, be, requestedResidency, memoryLimit,
                weights: precision);
            Ui.Info(residency.Note);
            if (residency.Warning is { } residencyWarning) Ui.Warn(residencyWarning);
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
                    pipeline = TextToImage.Open(composed, be, variantName, residency.Policy, precision);
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
            PngOutput.Write(outPath, "--out", r.Image, RunRecord.Write(r, modelPath, variantName, backendName, resolved!.Acceleration, weightsName, componentsDir, configDir,
                CommonOptions.Fp8GemmName(fp8GemmName), CommonOptions.SwiGluGemmName(swiGluGemmName)));
            BackendDiagnostics.ShowSwiGluDecisions(be);
            foreach (string w in r.Warnings) Ui.Warn(w);
            if (r.Acceleration is { } a)
            {
                Ui.Info($"acceleration: {a.StepsRun.Length} of {r.Steps} steps computed ({a.SparseForwards} sparse), {a.Skipped} skipped; " +
                        (a.Mask is null ? "no mask" : a.Mask.Fallback ? "mask fell back (flat heat map): dense, uniform guidance"
                            : $"focus {a.Mask.FocusIndices.Length} of {a.Mask.TokenCount} tokens") +
                        (a.PeakCacheBytes > 0 ? $"; caches {Ui.Bytes(a.PeakCacheBytes)} (freed)" : ""));
                if (resolved.Acceleration is { UsesCachePolicy: true } policy)
                    Ui.Info(CachePolicySummary.Executed(policy, a.Schedule));
                else if (resolved.Acceleration is { UsesTemporalTeaCache: true } temporal)
                    Ui.Info(CachePolicySummary.ExecutedTemporal(temporal, a.Schedule));
                if (a.ActiveTokens is { } active)
                    Ui.Info(CachePolicySummary.ActiveTokens(active, active.Max()));
            }
            if (saveMaskPath is not null)
            {
                if (r.Acceleration?.Mask is not { } mask) Ui.Warn($"{MaskFiles.Option}: this run built no mask (the preset has no mask step); nothing written.");
                else Ui.Done($"mask → {string.Join(", ", MaskFiles.Write(saveMaskPath, r, mask).Select(Path.GetFullPath))}");
            }
            if (be is Engine.Backends.Cuda.CudaBackend cuda)
                foreach (var streamed in cuda.BlockStreamStatistics())
                    Ui.Info(BlockStreamReport.Line(streamed, cuda));
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

    internal static string BuiltInFolder()
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
