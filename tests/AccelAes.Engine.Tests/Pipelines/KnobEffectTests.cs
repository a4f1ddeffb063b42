using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Tests.Generation;

/// <summary>
/// Every acceleration knob acts, and only where it should (issue 13, item 2): one tiny-pipeline generation per knob
/// against a common baseline, comparing what the run exposes — the executed schedule, the heat map, the soft mask
/// and the image. A knob that is parsed but never read leaves all four unchanged and fails here.
/// </summary>
public class KnobEffectTests(TinyPipelineFolders tiny) : IClassFixture<TinyPipelineFolders>
{
    [Flags]
    public enum Effect
    {
        None = 0,
        Schedule = 1,
        Heat = 2,
        Mask = 4,
        Image = 8,
    }

    /// <summary>
    /// SD3 with everything on at a 6 × 6 token grid: mask at step 2, spatial CFG, SkipSparse, StepCache from step 2;
    /// gate −1 and std_threshold 0 so the random tiny model's heat map never falls back.
    /// </summary>
    private static readonly string[] Baseline = ["mask_step=2", "warmup=2", "spatial_cfg=on", "sparse=on", "gate=-1", "std_threshold=0"];

    private GenerationResult Run(string arch, IEnumerable<string> knobs) => tiny.Open(arch).Generate(new GenerationRequest
    {
        Prompt = "a photo of a cat", Seed = 7, Steps = 10, Width = 96, Height = 96,
        Acceleration = AccelerationRequest.Parse("accelaes", knobs),
    });

    [Theory]
    [InlineData("sd3", "skip_ratio=0.25", Effect.Mask | Effect.Image)]
    [InlineData("sd3", "mask_step=3", Effect.Schedule | Effect.Heat | Effect.Mask | Effect.Image)]
    [InlineData("sd3", "spatial_cfg=off", Effect.Image)]
    [InlineData("sd3", "s_fg=3", Effect.Image)]
    [InlineData("sd3", "s_bg=0", Effect.Image)]
    [InlineData("sd3", "sparse=off", Effect.Schedule | Effect.Image)]
    [InlineData("sd3", "refresh=2", Effect.Schedule | Effect.Image)]
    [InlineData("sd3", "warmup=5", Effect.Schedule | Effect.Image)]
    [InlineData("sd3", "interval=3", Effect.Schedule | Effect.Image)]
    [InlineData("sd3", "layers=all", Effect.Heat | Effect.Mask | Effect.Image)]
    [InlineData("sd3", "extrapolation=index", Effect.Image)]
    [InlineData("sd3", "extrapolation=reference", Effect.Image)]
    [InlineData("sd3", "schedule=reference", Effect.Schedule | Effect.Image)]
    [InlineData("sd3", "blur_sigma=0.5", Effect.Mask | Effect.Image)]
    [InlineData("sd3", "threshold=sd3_percentile", Effect.Mask | Effect.Image)]
    [InlineData("sd3", "gate=1", Effect.Heat | Effect.Mask | Effect.Image)]
    [InlineData("sd3", "words=topk", Effect.Heat | Effect.Mask | Effect.Image)]
    [InlineData("sd3", "weighting=uniform", Effect.Heat | Effect.Mask | Effect.Image)]
    [InlineData("sd3", "weighting=non_aesthetic", Effect.Heat | Effect.Mask | Effect.Image)]
    [InlineData("sd3", "affinity=logits", Effect.Heat | Effect.Mask | Effect.Image)]
    [InlineData("sd3", "sparse_ffn=off", Effect.Image)]
    [InlineData("flux", "sparse_ffn=off", Effect.Image)]
    public void A_knob_changes_what_it_should_and_nothing_else(string arch, string knob, Effect expected)
    {
        string[] baseline = arch == "flux" ? [.. Baseline.Where(k => !k.StartsWith("spatial_cfg", StringComparison.Ordinal))] : Baseline;
        GenerationResult reference = Run(arch, baseline), changed = Run(arch, [.. baseline, knob]);
        Assert.Equal(expected, Compare(reference, changed));
    }

    [Fact]
    public void Top_k_and_fallback_guidance_act_where_their_mode_is_on()
    {
        // top_k only matters with words=topk; fallback_guidance only when the mask falls back (std_threshold 1: always).
        Assert.Equal(Effect.Heat | Effect.Mask | Effect.Image,
            Compare(Run("sd3", [.. Baseline, "words=topk", "top_k=1"]), Run("sd3", [.. Baseline, "words=topk", "top_k=3"])));
        string[] fallback = [.. Baseline, "std_threshold=1"];
        GenerationResult cfg = Run("sd3", fallback), sfg = Run("sd3", [.. fallback, "fallback_guidance=s_fg"]);
        Assert.True(cfg.Acceleration!.Mask!.Fallback);
        Assert.Equal(Effect.Image, Compare(cfg, sfg));
        Assert.Equal(Effect.Schedule | Effect.Mask | Effect.Image, Compare(Run("sd3", Baseline), cfg)); // std_threshold itself
    }

    private static Effect Compare(GenerationResult a, GenerationResult b)
    {
        var ra = a.Acceleration!;
        var rb = b.Acceleration!;
        Effect e = Effect.None;
        if (!ra.Schedule.Steps.Select(s => s.Kind).SequenceEqual(rb.Schedule.Steps.Select(s => s.Kind))) e |= Effect.Schedule;
        if (!ra.Mask!.Heat.SequenceEqual(rb.Mask!.Heat)) e |= Effect.Heat;
        if (!ra.Mask.Soft.SequenceEqual(rb.Mask.Soft) || ra.Mask.Fallback != rb.Mask.Fallback) e |= Effect.Mask;
        if (!a.Image.Pixels.SequenceEqual(b.Image.Pixels)) e |= Effect.Image;
        return e;
    }
}
