using System.CommandLine;
using System.Diagnostics;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Components;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;
using Spectre.Console;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes denoise`: a pipeline's sampling loop from precomputed prompt embeddings and initial latents
/// (the pipeline's own argument names), writing the latents after every step as <c>latents_step_i</c>.
/// </summary>
internal static class DenoiseCommand
{
    /// <summary>The options for this folder's backbone (AesMask weighs every text key equally here: no prompt is known).</summary>
    private static Engine.Acceleration.AccelerationOptions? AccelerationFor(DenoisingSetup setup, Engine.Acceleration.AccelerationRequest request, int steps, float guidance)
    {
        if (request.IsNone) return null;
        Engine.Acceleration.Backbone backbone = PipelineBackbones.Of(setup.Pipeline.PipelineClass)
            ?? throw new AccelAesException($"{setup.Pipeline.PipelineClass} has no acceleration presets.");
        var options = request.Resolve(backbone, steps, guidance);
        if (options.PresetNote is { } note) Ui.Warn(note);
        return options;
    }

    /// <summary>A folder as diffusers lays it out, or a single-file transformer checkpoint (the embeddings come precomputed).</summary>
    private static DenoisingSetup Open(string model, string? variant, string? config, string? scheduler, WeightPrecision weights, IBackend be)
    {
        if (InputFile.KindOf(model) == FileEntryKind.RegularFile)
        {
            if (variant is not null)
                throw new AccelAesException($"--variant {variant}: variants name files inside a diffusers folder; '{model}' is a single file.");
            return PipelineFactory.OpenSingleFile(model, be, config, scheduler, weights);
        }
        if (config is not null)
            throw new AccelAesException("--config applies to a single-file --model only; a diffusers folder carries its own config.json.");
        return PipelineFactory.Open(ModelFolder.Open(model), be, variant, scheduler, weights);
    }

    public static Command Create()
    {
        var model = CommonOptions.Model(required: true);
        model.Description = "A diffusers model folder, a transformer component folder, or a single-file checkpoint (.safetensors: FLUX.1, SD3 / SD3.5; see `forward`).";
        var config = new Option<string?>("--config")
        {
            Description = "With a single-file --model: a folder whose config.json gives the transformer's config (checked against the tensors).",
        };
        var inputs = new Option<string>("--inputs")
        {
            Description = "A safetensors file with the pipeline's arguments: prompt_embeds, pooled_prompt_embeds, negative_prompt_embeds, negative_pooled_prompt_embeds, latents (names per pipeline).",
            Required = true,
        };
        var steps = new Option<int>("--steps") { Description = "Number of denoising steps.", Required = true };
        var guidance = new Option<float>("--guidance") { Description = "Guidance scale (classifier-free guidance when > 1; FLUX: the distilled guidance value).", Required = true };
        var scheduler = new Option<string?>("--scheduler") { Description = "A diffusers scheduler_config.json (default: the model folder's own, else the architecture's published one)." };
        var height = new Option<int?>("--height") { Description = "Image height in pixels, as the pipeline takes it (checked against the latents; FLUX and Lumina derive resolution-dependent settings from it)." };
        var width = new Option<int?>("--width") { Description = "Image width in pixels." };
        var guidanceMode = new Option<GuidanceMode>("--cfg-mode")
        {
            Description = "Batched: one forward over [uncond, cond] (as diffusers); TwoPass: two forwards, half the activation memory.",
            DefaultValueFactory = _ => GuidanceMode.Batched,
        };
        var output = new Option<string>("--out") { Description = "Where to write latents_step_0 … latents_step_{N-1} (safetensors, F32).", Required = true };
        var accel = AccelerationOptionsCli.Preset();
        var overrides = AccelerationOptionsCli.Overrides();
        var weights = CommonOptions.Weights();
        var fp8Gemm = CommonOptions.Fp8Gemm();
        var swiGluGemm = CommonOptions.SwiGluGemm();
        var variant = CommonOptions.Variant();
        var backend = CommonOptions.Backend();
        var command = new Command("denoise", "Run a pipeline's denoising loop from precomputed embeddings and initial latents; write the latents after every step.")
        {
            model, inputs, steps, guidance, scheduler, height, width, guidanceMode, output, accel, overrides, variant, backend, config, weights, fp8Gemm, swiGluGemm,
        };
        command.SetAction(parse =>
        {
            int n = ValueChecks.Count(parse.GetValue(steps), "--steps", 1, InputLimits.MaxSteps);
            ValueChecks.Finite(parse.GetValue(guidance), "--guidance", 0, InputLimits.MaxGuidanceScale);
            if (parse.GetValue(width) is int w) ValueChecks.Count(w, "--width", 1, InputLimits.MaxImageSide);
            if (parse.GetValue(height) is int h) ValueChecks.Count(h, "--height", 1, InputLimits.MaxImageSide);
            new RunFiles() // before anything loads: --out writable and none of the inputs
                .Input(parse.GetValue(model), "--model")
                .Input(parse.GetValue(inputs), "--inputs")
                .Input(parse.GetValue(scheduler), "--scheduler")
                .Output(parse.GetValue(output), "--out")
                .Check();
            using IBackend be = CommonOptions.CreateBackend(parse.GetValue(backend)!, parse.GetValue(fp8Gemm), parse.GetValue(swiGluGemm));
            BackendDiagnostics.ShowWarnings(be); // a bypassed cuBLASLt, GEMM shapes on gemm.cu, kernel target switches: never silent
            var watch = Stopwatch.StartNew();
            DenoisingSetup setup = Open(parse.GetValue(model)!, parse.GetValue(variant), parse.GetValue(config), parse.GetValue(scheduler),
                CommonOptions.PrecisionOf(parse.GetValue(weights)!), be);
            TimeSpan loadTime = watch.Elapsed;
            Ui.Info($"{setup.Pipeline.PipelineClass} with {setup.Transformer.Forward.ClassName} on {be.Name}; scheduler from {setup.SchedulerSource}");
            var named = TensorFiles.Read(parse.GetValue(inputs)!, be);
            var settings = new DenoiseSettings
            {
                Steps = n,
                GuidanceScale = parse.GetValue(guidance),
                Scheduler = setup.Scheduler,
                Height = parse.GetValue(height),
                Width = parse.GetValue(width),
                GuidanceMode = parse.GetValue(guidanceMode),
                Acceleration = AccelerationFor(setup, AccelerationOptionsCli.Read(parse, accel, overrides), n, parse.GetValue(guidance)),
                OnAccelerationReport = r => Ui.Info(
                    $"acceleration: computed steps {string.Join(",", r.StepsRun)} ({r.SparseForwards} sparse), {r.Skipped} skipped" +
                    (r.Mask is null ? "" : r.Mask.Fallback ? "; mask fell back" : $"; focus {r.Mask.FocusIndices.Length}/{r.Mask.TokenCount} tokens")),
            };
            var saved = new List<KeyValuePair<string, Tensor>>();
            watch.Restart();
            AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn()).Start(ctx =>
            {
                var task = ctx.AddTask("denoising", maxValue: n);
                setup.Pipeline.Denoise(named, settings, (i, latents) =>
                {
                    saved.Add(new($"latents_step_{i}", be.Upload(be.Download(latents), latents.Shape)));
                    task.Increment(1);
                    CliCancellation.Token.ThrowIfCancellationRequested();
                });
            });
            TimeSpan runTime = watch.Elapsed;
            string outPath = parse.GetValue(output)!;
            TensorFiles.Write(outPath, saved, new Dictionary<string, string> { ["producer"] = "accelaes denoise", ["pipeline"] = setup.Pipeline.PipelineClass }, "--out");
            Ui.Done($"{n} steps in {Ui.Seconds(runTime)} ({runTime.TotalMilliseconds / n:F1} ms/step; load {Ui.Seconds(loadTime)}) → {outPath}");
            return ExitCodes.Success;
        });
        return command;
    }
}
