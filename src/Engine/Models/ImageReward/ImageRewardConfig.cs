using AccelAes.Loader.Diffusers;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// Everything that shapes an ImageReward model (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb,
/// ImageReward/ImageReward.py): the BLIP ViT, the BERT text encoder, the reward head's layer widths
/// (<c>MLP(768)</c>: 768 → 1024 → 128 → 64 → 16 → 1, no activations between them) and the published normalisation
/// of the raw reward, <c>(r − mean) / std</c>.
/// </summary>
/// <param name="HeadWidths">Input width then each Linear's output width of <c>mlp.layers</c>.</param>
/// <param name="MaxTextLength">The tokenizer call of <c>ImageReward.score</c>: <c>padding='max_length', truncation=True, max_length=35</c>.</param>
public sealed record ImageRewardConfig(BlipVisionConfig Vision, BlipTextConfig Text, IReadOnlyList<int> HeadWidths,
    double RewardMean, double RewardStd, int MaxTextLength = 35)
{
    /// <summary><c>ImageReward.__init__</c>: <c>self.mean = 0.16717362830052426</c>.</summary>
    public const double PublishedMean = 0.16717362830052426;

    /// <summary><c>ImageReward.__init__</c>: <c>self.std = 1.0333394966054072</c>.</summary>
    public const double PublishedStd = 1.0333394966054072;

    /// <summary>Key prefixes of the published state dict (<c>ImageReward.state_dict()</c>).</summary>
    public const string VisionPrefix = "blip.visual_encoder";
    public const string TextPrefix = "blip.text_encoder";
    public const string HeadPrefix = "mlp.layers";

    /// <summary>
    /// <c>nn.Sequential</c> indices of the head's Linear layers: 1, 3 and 5 are Dropouts (no parameters), the ReLUs
    /// are commented out in ImageReward.py, so the head is five affine maps in a row.
    /// </summary>
    public static IReadOnlyList<int> HeadLinearIndices { get; } = [0, 2, 4, 6, 7];

    /// <summary>ImageReward-v1.0 as ImageReward.py builds it: BLIP ViT-L/16 at 224 px, med_config.json's BERT, <c>MLP(768)</c>.</summary>
    public static ImageRewardConfig Published { get; } =
        new(BlipVisionConfig.Large, BlipTextConfig.MedConfig, [768, 1024, 128, 64, 16, 1], PublishedMean, PublishedStd);

    /// <summary>
    /// Reads the config off a checkpoint's tensor shapes (<paramref name="shapeOf"/> gives a tensor's shape, or null
    /// when absent), with <paramref name="medConfig"/> (ImageReward's med_config.json) for what shapes do not
    /// show. Widths, depths, vocabulary, positions, image and patch size come from the shapes; attention heads, eps
    /// and the activation from med_config.json, or when there is none, the published values: BERT's
    /// <c>num_attention_heads</c> 12, eps 1e-12, gelu, and for the ViT 64-wide heads (create_vit's base: 768 / 12,
    /// large: 1024 / 16). med_config.json's own <c>encoder_width</c> (768) and <c>hidden_size</c> are not read: BLIP_Pretrain
    /// overwrites the first with the vision width, and both are in the shapes.
    /// </summary>
    public static ImageRewardConfig Infer(Func<string, IReadOnlyList<long>?> shapeOf, string source, JsonConfig? medConfig = null)
    {
        ArgumentNullException.ThrowIfNull(shapeOf);
        var shapes = new ShapeQuery(shapeOf, source);

        string v = VisionPrefix + ".";
        int[] patch = shapes.Require(v + "patch_embed.proj.weight", 4);
        int width = patch[0], patchSize = patch[2];
        if (patch[2] != patch[3])
            throw new AccelAesException($"Tensor '{v}patch_embed.proj.weight' in {source} has non-square patches {patch[2]}×{patch[3]}.");
        int tokens = shapes.Require(v + "pos_embed", 3)[1];
        int grid = (int)Math.Round(Math.Sqrt(tokens - 1));
        if (tokens < 2 || grid * grid != tokens - 1)
            throw new AccelAesException($"Tensor '{v}pos_embed' in {source} has {tokens} rows, not a square grid of patches plus the class token.");
        int depth = shapes.Count(i => $"{v}blocks.{i}.norm1.weight");
        int mlpHidden = shapes.Require(v + "blocks.0.mlp.fc1.weight", 2)[0];
        if (width % 64 != 0)
            throw new AccelAesException($"Tensor '{v}patch_embed.proj.weight' in {source}: vision width {width} is not a multiple of BLIP's 64-wide heads.");
        var vision = new BlipVisionConfig(grid * patchSize, patchSize, width, depth, width / 64, mlpHidden, patch[1]);

        string t = TextPrefix + ".";
        int[] words = shapes.Require(t + "embeddings.word_embeddings.weight", 2);
        int hidden = words[1];
        var text = new BlipTextConfig(
            VocabSize: words[0],
            HiddenSize: hidden,
            Layers: shapes.Count(i => $"{t}encoder.layer.{i}.attention.self.query.weight"),
            Heads: medConfig?.GetInt("num_attention_heads", 12) ?? 12,
            IntermediateSize: shapes.Require(t + "encoder.layer.0.intermediate.dense.weight", 2)[0],
            MaxPositionEmbeddings: shapes.Require(t + "embeddings.position_embeddings.weight", 2)[0],
            EncoderWidth: shapes.Require(t + "encoder.layer.0.crossattention.self.key.weight", 2)[1],
            LayerNormEps: medConfig?.GetDouble("layer_norm_eps", 1e-12) ?? 1e-12,
            HiddenAct: medConfig?.GetString("hidden_act", "gelu") ?? "gelu");

        var head = new List<int> { hidden };
        foreach (int index in HeadLinearIndices)
            head.Add(shapes.Require($"{HeadPrefix}.{index}.weight", 2)[0]);

        var config = new ImageRewardConfig(vision, text, head, PublishedMean, PublishedStd);
        config.Validate();
        return config;
    }

    /// <summary>Rejects a config whose parts do not fit together, naming what disagrees.</summary>
    public void Validate()
    {
        Vision.Validate();
        Text.Validate();
        if (Text.EncoderWidth != Vision.Width)
            throw new AccelAesException(
                $"ImageReward config: the text encoder's cross-attention reads {Text.EncoderWidth}-wide image embeddings (encoder_width), but the vision width is {Vision.Width}.");
        if (HeadWidths.Count != HeadLinearIndices.Count + 1 || HeadWidths[0] != Text.HiddenSize || HeadWidths[^1] != 1)
            throw new AccelAesException(
                $"ImageReward config: the reward head must be {HeadLinearIndices.Count} Linear layers from the text width {Text.HiddenSize} to 1; got widths [{string.Join(", ", HeadWidths)}].");
        if (!(RewardStd > 0) || !double.IsFinite(RewardMean))
            throw new AccelAesException($"ImageReward config: reward normalisation needs a finite mean and a positive std; got mean {RewardMean}, std {RewardStd}.");
        if (MaxTextLength < 3 || MaxTextLength > Text.MaxPositionEmbeddings)
            throw new AccelAesException(
                $"ImageReward config: max text length {MaxTextLength} must be between 3 and max_position_embeddings ({Text.MaxPositionEmbeddings}).");
    }

    /// <summary>Shape look-ups that fail with the tensor's name.</summary>
    private sealed class ShapeQuery(Func<string, IReadOnlyList<long>?> shapeOf, string source)
    {
        public int[] Require(string name, int rank)
        {
            IReadOnlyList<long> shape = shapeOf(name)
                ?? throw new AccelAesException($"Tensor '{name}' is missing from {source}; it is not an ImageReward checkpoint (ImageReward.pt's state dict).");
            if (shape.Count != rank || shape.Any(d => d <= 0 || d > int.MaxValue))
                throw new AccelAesException($"Tensor '{name}' in {source} has shape [{string.Join(", ", shape)}]; ImageReward needs a rank-{rank} tensor.");
            return shape.Select(d => (int)d).ToArray();
        }

        /// <summary>How many consecutive numbered modules (0, 1, …) have the tensor <paramref name="nameOf"/> names.</summary>
        public int Count(Func<int, string> nameOf)
        {
            int n = 0;
            while (shapeOf(nameOf(n)) is not null) n++;
            if (n == 0) Require(nameOf(0), 1); // throws, naming the first missing tensor
            return n;
        }
    }
}
