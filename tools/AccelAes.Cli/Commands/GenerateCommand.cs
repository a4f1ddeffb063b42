using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AccelAes.Engine.Backends;
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
        var saveMask = new Option<string?>("--save-mask") { Description = "With AesMask: write the focus mask as a PNG overlay (focus tokens bright, background dimmed, soft mask as a heat tint)." };
        var variant = CommonOptions.Variant();
        var backend = CommonOptions.Backend();
        var command = new Command("generate", "Generate an image from a prompt: encode → denoise → VAE decode → PNG (settings stored in the PNG).")
        {
            model, prompt, negative, steps, guidance, trueCfg, seed, width, height, guidanceMode, output, accel, overrides, aesmaskClip, saveMask, variant, backend,
        };
        command.SetAction(parse =>
        {
            string? modelPath = parse.GetValue(model);
            new RunFiles() // before anything loads: outputs writable, distinct, and none of them an input
                .Input(modelPath ?? BuiltInModel.Folder, modelPath is null ? "the built-in model" : "--model")
                .Input(parse.GetValue(aesmaskClip), "--aesmask-clip")
                .Output(parse.GetValue(output), "--out")
                .Output(parse.GetValue(saveMask), "--save-mask")
                .Check();
            var request = new GenerationRequest
            {
                Prompt = parse.GetValue(prompt)!,
                NegativePrompt = parse.GetValue(negative)!,
                Steps = parse.GetValue(steps),
                GuidanceScale = parse.GetValue(guidance),
                Seed = parse.GetValue(seed),
                Width = parse.GetValue(width),
                Height = parse.GetValue(height),
                GuidanceMode = parse.GetValue(guidanceMode),
                TrueCfgScale = parse.GetValue(trueCfg),
                Acceleration = AccelerationOptionsCli.Read(parse, accel, overrides),
                AesMaskClip = parse.GetValue(aesmaskClip),
            };
            // What needs no model is checked before anything loads (the rest right after loading, before encoding).
            GenerationRequestValidation.CheckSettings(request, GenerationFieldNames.Cli);
            string folder = modelPath ?? BuiltInFolder();
            using IBackend be = BackendFactory.Create(parse.GetValue(backend)!);
            BackendDiagnostics.ShowWarnings(be); // a bypassed cuBLASLt, GEMM shapes on gemm.cu, kernel target switches: never silent
            string outPath = parse.GetValue(output)!;
            var total = Stopwatch.StartNew();
            GenerationResult? result = null;
            ITextToImagePipeline? pipeline = null;
            AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var load = ctx.AddTask("load", maxValue: 1);
                    pipeline = TextToImage.Open(folder, be, parse.GetValue(variant));
                    GenerationRequestValidation.Resolve(request, pipeline, GenerationFieldNames.Cli);
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
            PngOutput.Write(outPath, "--out", r.Image, PngText(r, folder, be.Name));
            foreach (string w in r.Warnings) Ui.Warn(w);
            if (r.Acceleration is { } a)
            {
                Ui.Info($"acceleration: {a.StepsRun.Length} of {r.Steps} steps computed ({a.SparseForwards} sparse), {a.Skipped} skipped; " +
                        (a.Mask is null ? "no mask" : a.Mask.Fallback ? "mask fell back (flat heat map): dense, uniform guidance"
                            : $"focus {a.Mask.FocusIndices.Length} of {a.Mask.TokenCount} tokens") +
                        (a.PeakCacheBytes > 0 ? $"; caches {Ui.Bytes(a.PeakCacheBytes)} (freed)" : ""));
                if (parse.GetValue(saveMask) is string maskPath)
                {
                    if (a.Mask is null) Ui.Warn("--save-mask: this run built no mask (the preset has no mask step).");
                    else
                    {
                        PngOutput.Write(maskPath, "--save-mask", MaskOverlay.Draw(r.Image, a.Mask, r.PixelsPerToken), [new("Software", "AccelAes"), new("content", "AesMask focus overlay")]);
                        Ui.Done($"mask overlay → {Path.GetFullPath(maskPath)}");
                    }
                }
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

    private static IEnumerable<KeyValuePair<string, string>> PngText(GenerationResult r, string folder, string backend)
    {
        var inv = CultureInfo.InvariantCulture;
        yield return new("Software", "AccelAes");
        yield return new("prompt", r.Request.Prompt);
        yield return new("negative_prompt", r.Request.NegativePrompt);
        yield return new("seed", r.Request.Seed.ToString(inv));
        yield return new("steps", r.Steps.ToString(inv));
        yield return new("guidance_scale", r.GuidanceScale.ToString(inv));
        if (r.Request.TrueCfgScale is float trueCfg) yield return new("true_cfg_scale", trueCfg.ToString(inv));
        yield return new("size", $"{r.Image.Width}x{r.Image.Height}");
        yield return new("model", folder);
        yield return new("backend", backend);
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
