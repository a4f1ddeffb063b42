using System.CommandLine;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Cli.Commands;

/// <summary>
/// The generation settings `generate` and `eval` share (everything of a <see cref="GenerationRequest"/> but the prompt,
/// the seed and the acceleration, which eval varies), defined once so both commands take the same names, help and bounds.
/// </summary>
internal sealed class GenerationOptionsCli
{
    public Option<string> NegativePrompt { get; } = new("--negative-prompt") { Description = "What to avoid (classifier-free guidance).", DefaultValueFactory = _ => "" };

    public Option<int?> Steps { get; } = new("--steps") { Description = "Denoising steps (default: the pipeline's: 28 for SD3 and FLUX, 30 for Lumina-Next)." };

    public Option<float?> Guidance { get; } = new("--guidance")
    {
        Description = "Guidance scale (default: the pipeline's: 7.0 SD3, 4.0 Lumina-Next, ≤ 1 turns their CFG off; FLUX: the embedded guidance, 3.5).",
    };

    public Option<float?> TrueCfg { get; } = new("--true-cfg-scale")
    {
        Description = "FLUX only: real classifier-free guidance against --negative-prompt when > 1 (a second forward per step). Default 1: off.",
    };

    public Option<int?> Width { get; } = new("--width") { Description = "Image width in pixels (default: the model's native size)." };

    public Option<int?> Height { get; } = new("--height") { Description = "Image height in pixels (default: the model's native size)." };

    public Option<GuidanceMode> CfgMode { get; } = new("--cfg-mode")
    {
        Description = "Batched: one forward over [uncond, cond]; TwoPass: two forwards, half the activation memory.",
        DefaultValueFactory = _ => GuidanceMode.Batched,
    };

    public Option<string?> AesMaskClip { get; } = new("--aesmask-clip")
    {
        Description = "Lumina-Next: a CLIP ViT-L/14 text encoder folder (openai/clip-vit-large-patch14, or an SD3/FLUX pipeline folder) AesMask scores prompt words with.",
    };

    public Option<string?> Variant { get; } = CommonOptions.Variant();

    public Option<string> Backend { get; } = CommonOptions.Backend();

    /// <summary>Every option, to add to a command.</summary>
    public IEnumerable<Option> All => [NegativePrompt, Steps, Guidance, TrueCfg, Width, Height, CfgMode, AesMaskClip, Variant, Backend];

    /// <summary>The request these options describe for one prompt, seed and acceleration.</summary>
    public GenerationRequest Request(ParseResult parse, string prompt, ulong seed, AccelerationRequest acceleration) => new()
    {
        Prompt = prompt,
        NegativePrompt = parse.GetValue(NegativePrompt)!,
        Steps = parse.GetValue(Steps),
        GuidanceScale = parse.GetValue(Guidance),
        Seed = seed,
        Width = parse.GetValue(Width),
        Height = parse.GetValue(Height),
        GuidanceMode = parse.GetValue(CfgMode),
        TrueCfgScale = parse.GetValue(TrueCfg),
        Acceleration = acceleration,
        AesMaskClip = parse.GetValue(AesMaskClip),
    };
}
