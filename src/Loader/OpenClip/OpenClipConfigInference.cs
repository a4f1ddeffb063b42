using System.Text.RegularExpressions;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.OpenClip;

/// <summary>
/// Infers a ViT CLIP's configuration from the shapes of its open_clip state dict, as open_clip's model configs relate
/// them (open_clip <c>model.py</c> <c>CLIPVisionCfg</c>/<c>CLIPTextCfg</c>, <c>transformer.py</c> <c>VisionTransformer</c>):
/// width from <c>visual.conv1</c> (its out-channels) and <c>token_embedding</c>, patch size from the conv kernel, image
/// size from the patch grid (<c>visual.positional_embedding</c> has grid² + 1 rows), layers from the highest
/// <c>resblocks.N</c>, MLP width from <c>mlp.c_fc</c>, context length and vocabulary from <c>positional_embedding</c>
/// and <c>token_embedding</c>, projection size from <c>visual.proj</c> / <c>text_projection</c>. Heads follow
/// open_clip's configs: width / <c>head_width</c>, where head_width is 64 (open_clip's default) except for the large
/// vision towers whose configs set it — ViT-H-14 (width 1280, head_width 80: 16 heads, not 20), ViT-g-14 (1408, 88) and
/// ViT-bigG-14 (1664, 104) (open_clip src/open_clip/model_configs/ViT-H-14.json @ 964981a724f841e0b7e60d7913974ce895b57f3f,
/// ViT-g-14.json @ 830119a5bbd0896532092468d6fd11ba4a197a6a, ViT-bigG-14.json @ 4ee12e107803c334f5fc6a4833d4711016cbdbfb).
/// Every released text tower has 64-wide heads.
/// </summary>
/// <remarks>
/// The activation cannot be read from weights. OpenAI's CLIP weights use QuickGELU, open_clip's own trainings (LAION
/// ViT-H-14, as HPSv2 fine-tunes, ViT-g, ViT-bigG) plain GELU; OpenAI only released the B/32, B/16, L/14 and
/// L/14@336 shapes. So the default is <c>quick_gelu</c> for exactly those shapes (the <c>pretrained="openai"</c> case)
/// and <c>gelu</c> otherwise; a LAION retrain of B or L shapes must pass <see cref="OpenClipConfigOverrides.HiddenAct"/>.
/// </remarks>
public static partial class OpenClipConfigInference
{
    private const int OpenClipHeadWidth = 64;

    // Vision widths whose open_clip config sets another head_width (see the summary).
    private static readonly Dictionary<int, int> VisionHeadWidths = new() { [1280] = 80, [1408] = 88, [1664] = 104 };

    // (vision width, vision layers, patch, image, text width, text layers) of OpenAI's released ViT CLIPs.
    private static readonly (int, int, int, int, int, int)[] OpenAiShapes =
    [
        (768, 12, 32, 224, 512, 12), (768, 12, 16, 224, 512, 12), (1024, 24, 14, 224, 768, 12), (1024, 24, 14, 336, 768, 12),
    ];

    [GeneratedRegex(@"^(visual\.)?transformer\.resblocks\.(\d+)\.")]
    private static partial Regex BlockIndex();

    /// <exception cref="AccelAesException">The state dict is not an open_clip ViT CLIP, or its shapes disagree.</exception>
    public static OpenClipConfig Infer(IReadOnlyDictionary<string, IReadOnlyList<long>> shapes, string source,
        OpenClipConfigOverrides? overrides = null)
    {
        overrides ??= new();
        IReadOnlyList<long> Shape(string name, int rank) =>
            shapes.TryGetValue(name, out var shape)
                ? shape.Count == rank ? shape
                    : throw new AccelAesException($"open_clip tensor '{name}' in {source} has shape [{string.Join(", ", shape)}], expected {rank} dimensions.")
                : throw new AccelAesException($"{source} is not an open_clip ViT CLIP state dict: it has no '{name}'"
                    + (shapes.ContainsKey("visual.attnpool.c_proj.weight") ? " (ResNet CLIP towers are not supported)." : "."));

        var conv = Shape("visual.conv1.weight", 4);
        var visionWidth = Dim(conv[0], "visual.conv1.weight", source);
        var patch = Dim(conv[2], "visual.conv1.weight", source);
        var positions = Shape("visual.positional_embedding", 2)[0] - 1;
        var grid = (long)Math.Round(Math.Sqrt(positions));
        if (positions < 1 || grid * grid != positions)
            throw new AccelAesException($"open_clip tensor 'visual.positional_embedding' in {source} has {positions + 1} rows, "
                + "not a square patch grid plus one class token.");
        var visionProjection = Shape("visual.proj", 2);
        var textProjection = Shape("text_projection", 2);
        if (visionProjection[1] != textProjection[1])
            throw new AccelAesException($"{source}: visual.proj projects to {visionProjection[1]} but text_projection to {textProjection[1]}.");

        var tokens = Shape("token_embedding.weight", 2);
        var textWidth = Dim(tokens[1], "token_embedding.weight", source);
        var visionLayers = CountLayers(shapes, vision: true, source);
        var textLayers = CountLayers(shapes, vision: false, source);
        var imageSize = Dim(grid * patch, "visual.positional_embedding", source);
        var act = overrides.HiddenAct
            ?? (OpenAiShapes.Contains((visionWidth, visionLayers, patch, imageSize, textWidth, textLayers)) ? "quick_gelu" : "gelu");

        var vision = new ClipTowerConfig(visionWidth,
            Dim(Shape("visual.transformer.resblocks.0.mlp.c_fc.weight", 2)[0], "visual.transformer.resblocks.0.mlp.c_fc.weight", source),
            visionLayers, overrides.VisionHeads ?? Heads(visionWidth, VisionHeadWidths.GetValueOrDefault(visionWidth, OpenClipHeadWidth), "vision", source), act, ImageSize: imageSize, PatchSize: patch);
        var text = new ClipTowerConfig(textWidth,
            Dim(Shape("transformer.resblocks.0.mlp.c_fc.weight", 2)[0], "transformer.resblocks.0.mlp.c_fc.weight", source),
            textLayers, overrides.TextHeads ?? Heads(textWidth, OpenClipHeadWidth, "text", source), act,
            VocabSize: Dim(tokens[0], "token_embedding.weight", source),
            MaxPositionEmbeddings: Dim(Shape("positional_embedding", 2)[0], "positional_embedding", source));
        return new OpenClipConfig(text, vision, Dim(visionProjection[1], "visual.proj", source));
    }

    private static int CountLayers(IReadOnlyDictionary<string, IReadOnlyList<long>> shapes, bool vision, string source)
    {
        var indices = shapes.Keys.Select(k => BlockIndex().Match(k)).Where(m => m.Success && m.Groups[1].Success == vision)
            .Select(m => long.TryParse(m.Groups[2].Value, out var i) ? i : long.MaxValue).Distinct().ToArray();
        var count = indices.Length;
        // Blocks must be numbered 0..count-1: a gap means a truncated or renamed state dict.
        if (count == 0 || indices.Max() != count - 1)
            throw new AccelAesException($"{source}: the {(vision ? "visual." : "")}transformer.resblocks are not numbered 0..N-1.");
        return Dim(count, "transformer.resblocks", source);
    }

    private static int Heads(int width, int headWidth, string tower, string source) =>
        width % headWidth == 0
            ? width / headWidth
            : throw new AccelAesException($"{source}: the {tower} width {width} is not a multiple of open_clip's head width "
                + $"{headWidth}; give the number of {tower} heads explicitly.");

    private static int Dim(long value, string tensor, string source) =>
        value is > 0 and <= InputLimits.MaxConfigDimension
            ? (int)value
            : throw new AccelAesException($"open_clip tensor '{tensor}' in {source} implies a size of {value}, outside 1..{InputLimits.MaxConfigDimension}.");
}
