using System.CommandLine;
using AccelAes.Engine.Acceleration;

namespace AccelAes.Cli.Commands;

/// <summary>The acceleration options shared by generate, denoise and explain.</summary>
internal static class AccelerationOptionsCli
{
    public static Option<string> Preset() => new Option<string>("--accel")
    {
        Description = "Acceleration: none (dense), stepcache (skip every other step, extrapolated), accelaes (AesMask + SkipSparse + spatial CFG + StepCache with the paper's per-backbone defaults), teacache (FLUX, SD3, Lumina-Next: reuse the transformer's residual while the rescaled change of block 0's modulated input stays below rel_l1_thresh, default FLUX 0.6, Lumina-Next 0.3, SD3 0.3; accelaes with --set temporal=teacache puts this rule in place of StepCache), fbcache (FLUX, SD3, Lumina-Next: run block 0 every step and reuse the remaining blocks' residual while block 0's residual differs from the last computed step's by less than residual_diff_threshold, default 0.08), fora (FLUX, SD3, Lumina-Next: every interval-th step, default 3, computes every block; the others reuse each block's cached attention and MLP outputs), taylorseer (FLUX, SD3, Lumina-Next: the first warmup steps, default 3, and every interval-th step after them, default 6, compute; the others forecast each block's attention and MLP outputs by a Taylor expansion of order max_order, default 1)., delta-dit (FLUX, SD3, Lumina-Next: step 0 and every interval-th step, default 2, run every block; the others add the deviation of cached_blocks blocks, default ¾ of them, from the last such step: the rear blocks before boundary_step, default half the steps, the front blocks from it on), ras (SD3, Lumina-Next: after each step rank the image tokens by that step's update; the next step runs every block on a sample_ratio, default 0.5, of them, the others keep the previous output).",
        DefaultValueFactory = _ => "none",
    }.WithChoices("none", "stepcache", "accelaes", "teacache", "fbcache", "fora", "taylorseer", "delta-dit", "ras");

    public static Option<string[]> Overrides() => new("--set")
    {
        Description = "Override an acceleration knob, knob=value (repeatable). Knobs: "
            + string.Join("; ", AccelerationOptions.Knobs.Select(k => $"{k.Name} ({k.Description})")),
        AllowMultipleArgumentsPerToken = false,
    };

    public static AccelerationRequest Read(ParseResult parse, Option<string> preset, Option<string[]> overrides)
        => AccelerationRequest.Parse(parse.GetValue(preset)!, parse.GetValue(overrides) ?? []);

    private static Option<string> WithChoices(this Option<string> option, params string[] values)
    {
        option.AcceptOnlyFromAmong(values);
        return option;
    }
}
