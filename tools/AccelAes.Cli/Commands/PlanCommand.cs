using System.CommandLine;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Planning;
using AccelAes.Kernels;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SingleFile;
using AccelAes.Loader.Validation;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes plan`: the memory plan of a generation before anything loads — weight bytes per component (safetensors
/// headers of a model folder, or the published configs of --arch), estimated activation peaks per phase, the peak
/// under each residency policy against the memory given, the first policy that fits, and what would make a failing
/// run fit. Only the all-resident policy exists in the runtime so far; the plan says so rather than pretend.
/// </summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var arch = ArchitectureOption.Create("A published model, planned from its published configs");
        var model = CommonOptions.Model(required: false);
        model.Description = "A model folder instead of --arch: weight bytes from its safetensors headers (no weights are read), dimensions from its configs; "
            + "or a single-file checkpoint with --components DIR (its components counted from the file's header).";
        var components = CommonOptions.Components();
        var config = new Option<string?>("--config") { Description = "With a single-file --model: a folder whose config.json gives the transformer's config." };
        var variant = CommonOptions.Variant();
        var memory = new Option<string?>("--memory")
        {
            Description = "Device memory to fit in, e.g. 32GiB, 24GB (default: the free memory of CUDA device 0 when one is usable, else no limit).",
        };
        var width = new Option<int>("--width") { Description = "Image width in pixels.", DefaultValueFactory = _ => 1024 };
        var height = new Option<int>("--height") { Description = "Image height in pixels.", DefaultValueFactory = _ => 1024 };
        var guidanceMode = new Option<GuidanceMode>("--cfg-mode")
        {
            Description = "Batched: one forward over [uncond, cond]; TwoPass: two forwards, half the activation memory.",
            DefaultValueFactory = _ => GuidanceMode.Batched,
        };
        var weights = new Option<string>("--weights")
        {
            Description = "Weight precision to plan for: bf16 (as stored) or fp8 (transformer Linear weights 1 byte + an fp32 scale per output channel).",
            DefaultValueFactory = _ => "bf16",
        };
        weights.AcceptOnlyFromAmong("bf16", "fp8");
        var json = new Option<string?>("--json") { Description = "Also write the plan as JSON: fits, policy, peak_bytes, weight_bytes per component, activation_bytes per phase, policies." };
        var preset = AccelerationOptionsCli.Preset();
        var overrides = AccelerationOptionsCli.Overrides();
        var command = new Command("plan", "Print the memory plan of a generation (weights, activation peaks, residency policy) before anything is loaded.")
        {
            arch, model, variant, memory, width, height, guidanceMode, weights, json, preset, overrides, components, config,
        };
        command.SetAction(parse =>
        {
            string? modelDir = parse.GetValue(model);
            // A single file is planned composed with --components, as generate runs it.
            ModelFolder? composed = modelDir is not null && (parse.GetValue(components) is not null || SingleFileModel.IsFile(modelDir))
                ? SingleFileModel.Open(modelDir, parse.GetValue(components), parse.GetValue(config))
                : null;
            if (composed is null && parse.GetValue(config) is not null)
                throw new AccelAesException("--config applies to a single-file --model only.");
            ModelArchitecture architecture = composed is not null && parse.GetValue(arch) is null
                ? ModelArchitectures.FromFolder(composed)
                : ArchitectureOption.Resolve(parse.GetValue(arch), modelDir, required: true)!;
            int w = ValueChecks.Count(parse.GetValue(width), "--width", 1, InputLimits.MaxImageSide);
            int h = ValueChecks.Count(parse.GetValue(height), "--height", 1, InputLimits.MaxImageSide);
            int unit = architecture.PixelsPerToken;
            if (w % unit != 0 || h % unit != 0)
                throw new AccelAesException($"--width and --height must be multiples of {unit} (pixels per image token of {architecture.Name}), got {w}×{h}.");
            var request = AccelerationOptionsCli.Read(parse, preset, overrides);
            AccelerationOptions options = request.Resolve(architecture.Backbone, architecture.Defaults.Steps, architecture.Defaults.GuidanceScale,
                new ImageTokenGrid(h / unit, w / unit));
            var planned = modelDir is null
                ? PublishedComponents.Of(architecture)
                : composed is not null
                    ? FolderComponents.Of(composed, PlanInputs.TextTokens(architecture), parse.GetValue(variant))
                    : FolderComponents.Of(modelDir, PlanInputs.TextTokens(architecture), parse.GetValue(variant));
            var (limit, limitSource) = MemoryLimit(parse.GetValue(memory));
            var plan = MemoryPlanner.Plan(new MemoryPlanRequest(architecture, planned, w, h, parse.GetValue(guidanceMode) == GuidanceMode.Batched,
                options.SkipSparse, options.SparseFeedForward, parse.GetValue(weights) == "fp8" ? WeightPrecision.Fp8 : WeightPrecision.AsStored, limit)
            {
                StepGraphs = PlanInputs.StepGraphsKept(architecture, options, w, h),
            });
            PlanReport.Print(plan, limitSource, options.Preset);
            if (parse.GetValue(json) is { } path) PlanReport.WriteJson(path, plan, limitSource);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>--memory, else device 0's free memory when CUDA is usable, else no limit.</summary>
    private static (long? Bytes, string Source) MemoryLimit(string? typed)
    {
        if (typed is not null) return (ByteSize.Parse(typed, "--memory"), "--memory");
        var detection = CudaDevice.Detect();
        if (!detection.IsAvailable) return (null, $"no limit given (no CUDA device: {detection.Reason})");
        var device = detection.Devices[0];
        try
        {
            using var context = CudaContext.RetainPrimary(0);
            var (free, _) = context.MemoryInfo();
            return ((long)free, $"free memory of {device.Name}");
        }
        catch (CudaException e)
        {
            // A device that lists but cannot take a context (exclusive mode, out of memory): plan against its size, and say so.
            return ((long)device.TotalMemoryBytes, $"total memory of {device.Name} (free memory unavailable: {e.Message})");
        }
    }
}
