using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Pipelines;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Benchmarks;

/// <summary>
/// A published transformer configuration, for benchmarking with generated weights (no download):
/// exactly one of the typed configs is set. <see cref="TextTokens"/> is the sequence length the real pipeline feeds.
/// </summary>
public sealed record RealConfig(string Name, string Description, Backbone Backbone, int TextTokens,
    Sd3TransformerConfig? Sd3 = null, FluxTransformerConfig? Flux = null, LuminaNextDiTConfig? Lumina = null)
{
    /// <summary>Transformer blocks (FLUX: double + single stream).</summary>
    public int Layers => Sd3?.NumLayers ?? Lumina?.NumLayers ?? Flux!.NumLayers + Flux.NumSingleLayers;

    /// <summary>Pixels per latent pixel of the VAE these transformers pair with.</summary>
    public const int VaeFactor = 8;

    /// <summary>Whether the pipeline runs classifier-free guidance as one batch of 2 (FLUX.1-dev is guidance-distilled).</summary>
    public bool UsesCfg => Backbone != Backbone.Flux;

    /// <summary>
    /// The same model cut to <paramref name="layers"/> blocks (for CPU smoke runs). FLUX keeps the ratio of double to
    /// single stream blocks as far as it can, with at least one of each. SD3 keeps its first <c>layers − 1</c> blocks
    /// and its last one: diffusers always builds the last joint block <c>context_pre_only</c>, so that is the block a
    /// checkpoint's weights can fill there (<see cref="BenchModelFolder.WeightsFor"/> maps its names).
    /// </summary>
    public RealConfig Truncated(int layers)
    {
        if (layers < 1) throw new AccelAesException($"--layers must be at least 1 (got {layers}).");
        if (layers >= Layers) return this;
        string name = $"{Name} ({layers} of {Layers} blocks)";
        if (Sd3 is not null)
        {
            int[] dual = [.. Sd3.DualAttentionLayers.Where(l => l < layers - 1), .. Sd3.DualAttentionLayers.Contains(Layers - 1) ? [layers - 1] : Array.Empty<int>()];
            return this with { Description = name, Sd3 = Sd3 with { NumLayers = layers, DualAttentionLayers = dual } };
        }
        if (Lumina is not null) return this with { Description = name, Lumina = Lumina with { NumLayers = layers } };
        int doubles = Math.Max(1, (int)Math.Round(layers * (double)Flux!.NumLayers / Layers));
        return this with { Description = name, Flux = Flux with { NumLayers = doubles, NumSingleLayers = Math.Max(1, layers - doubles) } };
    }

    /// <summary>The FLOP model of one dense forward of one CFG branch at <paramref name="imageTokens"/> (for the CPU guard).</summary>
    public SparseCostModel CostModel(int imageTokens) =>
        Sd3 is not null ? SparseCostModel.Sd3Medium(imageTokens, TextTokens, Sd3.NumLayers, Sd3.InnerDim, Sd3.JointAttentionDim)
        : Lumina is not null ? SparseCostModel.LuminaNext(imageTokens, TextTokens, Lumina.NumLayers, Lumina.HiddenSize, Lumina.KvDim, Lumina.FfnInnerDim, Lumina.CrossAttentionDim)
        : SparseCostModel.Flux1(imageTokens, TextTokens, Flux!.NumLayers, Flux.NumSingleLayers, Flux.NumAttentionHeads * Flux.AttentionHeadDim);
}

/// <summary>
/// The transformer/config.json values of the published checkpoints (architectures.md §1; SD3.5 from their model
/// cards' configs), which `accelaes bench --arch` runs with generated weights (so anywhere the memory allows).
/// The names users type are <see cref="ModelArchitectures"/>'.
/// </summary>
public static class RealConfigs
{
    /// <summary>stabilityai/stable-diffusion-3-medium-diffusers: 24 joint blocks, 24 heads × 64, 77 CLIP + 256 T5 tokens.</summary>
    public static RealConfig Sd3Medium { get; } = new("sd3-medium", "SD3-Medium (MMDiT, D 1536)", Backbone.Sd3, TextTokens: 333,
        Sd3: new Sd3TransformerConfig
        {
            SampleSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 24, AttentionHeadDim = 64, NumAttentionHeads = 24,
            JointAttentionDim = 4096, CaptionProjectionDim = 1536, PooledProjectionDim = 2048, PosEmbedMaxSize = 192,
        });

    /// <summary>
    /// stabilityai/stable-diffusion-3.5-medium: SD3-Medium's width with RMSNorm on q/k, a second (image-only) attention in
    /// blocks 0–12 (MMDiT-X) and a 384² position table.
    /// </summary>
    public static RealConfig Sd35Medium { get; } = new("sd3.5-medium", "SD3.5-Medium (MMDiT-X, D 1536, qk rms_norm)", Backbone.Sd3, TextTokens: 333,
        Sd3: new Sd3TransformerConfig
        {
            SampleSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 24, AttentionHeadDim = 64, NumAttentionHeads = 24,
            JointAttentionDim = 4096, CaptionProjectionDim = 1536, PooledProjectionDim = 2048, PosEmbedMaxSize = 384, QkNorm = "rms_norm",
            DualAttentionLayers = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        });

    /// <summary>stabilityai/stable-diffusion-3.5-large: 38 joint blocks, 38 heads × 64, RMSNorm on q/k.</summary>
    public static RealConfig Sd35Large { get; } = new("sd3.5-large", "SD3.5-Large (MMDiT, D 2432, qk rms_norm)", Backbone.Sd3, TextTokens: 333,
        Sd3: new Sd3TransformerConfig
        {
            SampleSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 38, AttentionHeadDim = 64, NumAttentionHeads = 38,
            JointAttentionDim = 4096, CaptionProjectionDim = 2432, PooledProjectionDim = 2048, PosEmbedMaxSize = 192, QkNorm = "rms_norm",
        });

    /// <summary>black-forest-labs/FLUX.1-dev: 19 double + 38 single stream blocks, 24 heads × 128, 512 T5 tokens, guidance embedding.</summary>
    public static RealConfig FluxDev { get; } = new("flux-dev", "FLUX.1-dev (D 3072, 19 + 38 blocks)", Backbone.Flux, TextTokens: 512,
        Flux: new FluxTransformerConfig
        {
            PatchSize = 1, InChannels = 64, OutChannels = 64, NumLayers = 19, NumSingleLayers = 38, AttentionHeadDim = 128, NumAttentionHeads = 24,
            JointAttentionDim = 4096, PooledProjectionDim = 768, GuidanceEmbeds = true, AxesDimsRope = [16, 56, 56],
        });

    /// <summary>
    /// black-forest-labs/FLUX.1-schnell: FLUX.1-dev's transformer without the guidance embedder; its model card runs
    /// 256 T5 tokens.
    /// </summary>
    public static RealConfig FluxSchnell { get; } = new("flux-schnell", "FLUX.1-schnell (D 3072, 19 + 38 blocks, no guidance embedding)", Backbone.Flux,
        TextTokens: PipelineDefaults.FluxSchnell.MaxSequenceLength, Flux: FluxDev.Flux! with { GuidanceEmbeds = false });

    /// <summary>Alpha-VLLM/Lumina-Next-SFT-diffusers: 24 layers, D 2304, 32 heads (8 KV heads), Gemma-2B captions of 256 tokens.</summary>
    public static RealConfig LuminaNextSft { get; } = new("lumina-next-sft", "Lumina-Next-SFT (D 2304, 32 heads / 8 KV)", Backbone.Lumina, TextTokens: 256,
        Lumina: new LuminaNextDiTConfig
        {
            SampleSize = 128, PatchSize = 2, InChannels = 4, HiddenSize = 2304, NumLayers = 24, NumAttentionHeads = 32, NumKvHeads = 8,
            MultipleOf = 256, FfnDimMultiplier = null, NormEps = 1e-5, LearnSigma = true, QkNorm = true, CrossAttentionDim = 2048, ScalingFactor = 1.0,
        });

    public static IReadOnlyList<RealConfig> All { get; } = [Sd3Medium, Sd35Medium, Sd35Large, FluxDev, FluxSchnell, LuminaNextSft];

    /// <summary>
    /// The transformer config of a model folder as a <see cref="RealConfig"/> named <paramref name="name"/>:
    /// <paramref name="textTokens"/> is the text sequence its pipeline feeds (null: the backbone's usual one).
    /// Reads the config only.
    /// </summary>
    public static RealConfig FromTransformerConfig(JsonConfig json, string configPath, string name, int? textTokens = null) => json.ClassName switch
    {
        Sd3TransformerConfig.ClassName => new(name, name, Backbone.Sd3, textTokens ?? Sd3Medium.TextTokens, Sd3: Sd3TransformerConfig.From(json)),
        FluxTransformerConfig.ClassName => new(name, name, Backbone.Flux, textTokens ?? FluxDev.TextTokens, Flux: FluxTransformerConfig.From(json)),
        LuminaNextDiTConfig.ClassName => new(name, name, Backbone.Lumina, textTokens ?? LuminaNextSft.TextTokens, Lumina: LuminaNextDiTConfig.From(json)),
        var other => throw new AccelAesException($"{configPath}: AccelAes runs SD3, FLUX and Lumina-Next transformers, not '{other}'."),
    };
}
