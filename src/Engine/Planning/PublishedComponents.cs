using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Benchmarks;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Planning;

/// <summary>
/// The components of the published pipelines, from their published configs (no download): the transformer from
/// <see cref="RealConfigs"/>, the text encoders and VAE from the config.json values below, counted by
/// <see cref="ComponentWeightFormulas"/>. Every published checkpoint stores bf16 / fp16 (2 bytes per element).
/// </summary>
public static class PublishedComponents
{
    /// <summary>openai/clip-vit-large-patch14's text tower (text_encoder/config.json of SD3 and FLUX.1): 123 M parameters.</summary>
    public static ClipTextConfig ClipL { get; } = new()
    {
        VocabSize = 49408, HiddenSize = 768, IntermediateSize = 3072, ProjectionDim = 768, NumHiddenLayers = 12, NumAttentionHeads = 12,
        MaxPositionEmbeddings = 77,
    };

    /// <summary>laion/CLIP-ViT-bigG-14's text tower (SD3 text_encoder_2/config.json): 695 M parameters.</summary>
    public static ClipTextConfig ClipG { get; } = new()
    {
        VocabSize = 49408, HiddenSize = 1280, IntermediateSize = 5120, ProjectionDim = 1280, NumHiddenLayers = 32, NumAttentionHeads = 20,
        MaxPositionEmbeddings = 77,
    };

    /// <summary>google/t5-v1_1-xxl's encoder (SD3 text_encoder_3, FLUX.1 text_encoder_2 config.json): 4.76 B parameters.</summary>
    public static T5Config T5Xxl { get; } = new()
    {
        VocabSize = 32128, DModel = 4096, DKv = 64, DFf = 10240, NumLayers = 24, NumHeads = 64, FeedForwardProj = "gated-gelu",
        DenseActFn = "gelu_new", IsGatedAct = true,
    };

    /// <summary>google/gemma-2b (Lumina-Next-SFT text_encoder/config.json): 2.51 B parameters.</summary>
    public static GemmaConfig Gemma2B { get; } = new()
    {
        VocabSize = 256000, HiddenSize = 2048, IntermediateSize = 16384, NumHiddenLayers = 18, NumAttentionHeads = 8, NumKeyValueHeads = 1,
        HeadDim = 256,
    };

    /// <summary>The 16-channel VAE of SD3 / SD3.5 / FLUX.1 (vae/config.json: no quant convs).</summary>
    public static AutoencoderKLConfig Vae16 { get; } = new()
    {
        LatentChannels = 16, BlockOutChannels = [128, 256, 512, 512], LayersPerBlock = 2, NormNumGroups = 32,
        DownBlockTypes = ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
        UpBlockTypes = ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
        UseQuantConv = false, UsePostQuantConv = false,
    };

    /// <summary>The SDXL VAE Lumina-Next-SFT ships (vae/config.json: 4 latent channels, with quant convs).</summary>
    public static AutoencoderKLConfig Vae4 { get; } = Vae16 with { LatentChannels = 4, UseQuantConv = true, UsePostQuantConv = true };

    /// <summary>Every component <paramref name="architecture"/>'s pipeline loads, in the pipeline's order.</summary>
    public static IReadOnlyList<PlannedComponent> Of(ModelArchitecture architecture)
    {
        const string Published = "published config";
        var transformer = TransformerWeights.FromConfig(architecture.Config);
        var t = new PlannedComponent("transformer", architecture.Config.Description, ComponentRole.Transformer, transformer.Total,
            "RealConfigs (published transformer config)", transformer);
        // SD3 feeds 77 CLIP + 256 T5 tokens (TextTokens 333); FLUX pads T5 to its max_sequence_length.
        long t5Tokens = architecture.Backbone == Backbone.Sd3 ? architecture.Config.TextTokens - 77 : architecture.Config.TextTokens;
        return architecture.Backbone switch
        {
            Backbone.Sd3 =>
            [
                new("text_encoder", "CLIP-L", ComponentRole.TextEncoder, ComponentWeightFormulas.ClipText(ClipL, withProjection: true), Published) { Encoder = TextEncoderShape.Of(ClipL) },
                new("text_encoder_2", "CLIP-G", ComponentRole.TextEncoder, ComponentWeightFormulas.ClipText(ClipG, withProjection: true), Published) { Encoder = TextEncoderShape.Of(ClipG) },
                new("text_encoder_3", "T5-XXL", ComponentRole.TextEncoder, ComponentWeightFormulas.T5Encoder(T5Xxl), Published) { Encoder = TextEncoderShape.Of(T5Xxl, t5Tokens) },
                t,
                new("vae", "AutoencoderKL decoder", ComponentRole.Vae, ComponentWeightFormulas.VaeDecoder(Vae16), Published) { Vae = Vae16 },
            ],
            Backbone.Flux =>
            [
                new("text_encoder", "CLIP-L", ComponentRole.TextEncoder, ComponentWeightFormulas.ClipText(ClipL, withProjection: false), Published) { Encoder = TextEncoderShape.Of(ClipL) },
                new("text_encoder_2", "T5-XXL", ComponentRole.TextEncoder, ComponentWeightFormulas.T5Encoder(T5Xxl), Published) { Encoder = TextEncoderShape.Of(T5Xxl, t5Tokens) },
                t,
                new("vae", "AutoencoderKL decoder", ComponentRole.Vae, ComponentWeightFormulas.VaeDecoder(Vae16), Published) { Vae = Vae16 },
            ],
            _ =>
            [
                new("text_encoder", "Gemma-2B", ComponentRole.TextEncoder, ComponentWeightFormulas.Gemma(Gemma2B), Published) { Encoder = TextEncoderShape.Of(Gemma2B, architecture.Config.TextTokens) },
                t,
                new("vae", "AutoencoderKL decoder", ComponentRole.Vae, ComponentWeightFormulas.VaeDecoder(Vae4), Published) { Vae = Vae4 },
            ],
        };
    }
}
