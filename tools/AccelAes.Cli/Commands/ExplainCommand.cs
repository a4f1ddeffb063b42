using System.CommandLine;
using System.Globalization;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Sampling;
using AccelAes.Loader.Validation;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes explain`: the step schedule an acceleration setting produces — one entry per step (Full,
/// FullCaptureMask, FullFillCache, Sparse, Skip), the transformer evaluations, the theoretical skip ratio and the
/// expected relative cost (sparse forwards costed from the focus fraction by FLOP counts).
/// </summary>
internal static class ExplainCommand
{
    public static Command Create()
    {
        var arch = ArchitectureOption.Create("The model whose pipeline defaults, scheduler and token geometry to use");
        var model = CommonOptions.Model(required: false);
        model.Description = "A model folder instead of --arch: its configs (model_index.json, transformer, scheduler, VAE) are read, no weights.";
        var steps = new Option<int?>("--steps") { Description = "Denoising steps (default: the model's pipeline default: 28 SD3 / FLUX.1-dev, 4 FLUX.1-schnell, 30 Lumina-Next)." };
        var size = new Option<int>("--size") { Description = "Image side in pixels (token count for the cost model and FLUX's shift); a multiple of the model's pixels per token (16 for the published models).", DefaultValueFactory = _ => 1024 };
        var focus = new Option<double>("--focus-fraction") { Description = "Focus fraction assumed for sparse forwards (the mask decides it at run time; default 1 − skip_ratio)." , DefaultValueFactory = _ => double.NaN };
        var json = new Option<bool>("--json") { Description = "Print {\"steps\": [{\"index\", \"kind\", \"sigma\"}…], \"full\", \"sparse\", \"skipped\", \"relative_cost\"}." };
        var preset = AccelerationOptionsCli.Preset();
        preset.DefaultValueFactory = _ => "accelaes";
        var overrides = AccelerationOptionsCli.Overrides();
        var command = new Command("explain", "Print the step schedule of an acceleration setting, its evaluations, skip ratio and expected cost.")
        {
            arch, model, steps, size, focus, json, preset, overrides,
        };
        command.SetAction(parse =>
        {
            ModelArchitecture architecture = ArchitectureOption.Resolve(parse.GetValue(arch), parse.GetValue(model), required: true)!;
            Backbone backbone = architecture.Backbone;
            var request = AccelerationOptionsCli.Read(parse, preset, overrides);
            int n = ValueChecks.Count(parse.GetValue(steps) ?? architecture.Defaults.Steps, "--steps", 1, InputLimits.MaxSteps);
            int side = ValueChecks.Count(parse.GetValue(size), "--size", 16, InputLimits.MaxImageSide);
            int unit = architecture.PixelsPerToken;
            if (side % unit != 0) throw new AccelAesException($"--size must be a multiple of {unit} (pixels per image token of {architecture.Name}), got {side}.");
            double f = parse.GetValue(focus);
            if (!double.IsNaN(f)) ValueChecks.Fraction(f, "--focus-fraction");
            AccelerationOptions options = request.Resolve(backbone, n, architecture.Defaults.GuidanceScale, new ImageTokenGrid(side / unit, side / unit));
            if (options.UsesTeaCache)
            {
                ExplainTeaCache.Show(options, n, parse.GetValue(json));
                return ExitCodes.Success;
            }
            if (options.Preset == AccelerationPreset.FbCache)
            {
                ExplainFirstBlockCache.Show(options, n, parse.GetValue(json));
                return ExitCodes.Success;
            }
            if (options.Preset == AccelerationPreset.Fora)
            {
                ExplainFora.Show(options, n, parse.GetValue(json));
                return ExitCodes.Success;
            }
            if (options.Preset == AccelerationPreset.DeltaDit)
            {
                ExplainDeltaDit.Show(options, n, architecture.Config.Layers, parse.GetValue(json));
                return ExitCodes.Success;
            }
            if (options.Preset == AccelerationPreset.TaylorSeer)
            {
                ExplainTaylorSeer.Show(options, n, parse.GetValue(json));
                return ExitCodes.Success;
            }
            int tokens = architecture.ImageTokens(side, side);
            if (options.Preset == AccelerationPreset.Ras)
            {
                ExplainRas.Show(options, n, tokens, parse.GetValue(json));
                return ExitCodes.Success;
            }
            SigmaSchedule sigmas = architecture.Sigmas(n, tokens);
            double? fraction = double.IsNaN(f) ? (options.SkipSparse ? 1 - options.SkipRatio : null) : f;
            var cost = architecture.Config.CostModel(tokens).WithSparseFeedForward(options.SparseFeedForward); // sparse_ffn decides what a sparse forward saves
            StepSchedule schedule = StepSchedule.Create(options, sigmas, cost, fraction);
            var warnings = new List<string>();
            if (options.PresetNote is { } note) warnings.Add(note);
            if (options.Preset != AccelerationPreset.None && schedule.SkippedCount == 0 && schedule.SparseCount == 0 && !options.UsesTemporalTeaCache)
                warnings.Add($"This schedule computes all {n} steps densely (relative cost 1.00): the {options.Preset} preset saves nothing at these settings.");
            if (parse.GetValue(json))
            {
                Console.WriteLine(schedule.ToJson(indented: true));
                foreach (string w in warnings) Console.Error.WriteLine("warning: " + w); // stdout stays pure JSON
                return ExitCodes.Success;
            }
            foreach (string w in warnings) Ui.Warn(w);
            foreach (string line in ExplainNotes.For(options, schedule, o => StepSchedule.Create(o, sigmas, cost, fraction))) Ui.Info(line);
            var table = Ui.Table("step", "kind", "σ", "timestep");
            foreach (var e in schedule.Steps)
                table.AddCells(e.Index, e.Kind, e.Sigma.ToString("F4", CultureInfo.InvariantCulture), sigmas.Timesteps[e.Index].ToString("F2", CultureInfo.InvariantCulture));
            Ui.Show(table);
            var inv = CultureInfo.InvariantCulture;
            Ui.Info($"{architecture.Name}: {architecture.Description} ({backbone} backbone; pipeline defaults {architecture.Defaults.Steps} steps, " +
                    $"guidance {architecture.Defaults.GuidanceScale.ToString(inv)}); {options.Preset} preset, {n} steps at {side}×{side} ({tokens} image tokens)");
            Ui.Info($"transformer evaluations: {schedule.ComputedCount} ({schedule.FullCount} full, {schedule.SparseCount} sparse), skipped {schedule.SkippedCount} → theoretical skip ratio {schedule.TheoreticalSkipRatio.ToString("P1", inv)}");
            if (schedule.SparseCount > 0)
                Ui.Info($"sparse forward ≈ {schedule.SparseStepCost.ToString("F3", inv)} of a dense one at focus fraction {(schedule.FocusFraction ?? 1).ToString("F2", inv)} " +
                        $"({cost.ScalableFraction.ToString("P0", inv)} of {cost.TotalGflop.ToString("F0", inv)} GFLOP per forward scales with it)");
            Ui.Info($"expected relative cost {schedule.RelativeCost.ToString("F3", inv)} → {schedule.ExpectedSpeedup.ToString("F2", inv)}× over dense (FLOPs; measure with `accelaes bench`)");
            return ExitCodes.Success;
        });
        return command;
    }
}
