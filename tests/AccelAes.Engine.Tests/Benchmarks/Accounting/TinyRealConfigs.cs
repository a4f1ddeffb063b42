using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Benchmarks;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// Tiny stand-ins for the real configurations, small enough for the CPU reference and the CUDA emulator, with every code
/// path of their backbone (SD3's context_pre_only last block, FLUX's double and single blocks and guidance embedding,
/// Lumina's GQA, qk norms and learn_sigma). <see cref="Resolution"/> gives a 4×4 token grid.
/// </summary>
internal static class TinyRealConfigs
{
    public const int Resolution = 64;

    public static RealConfig Sd3 { get; } = new("tiny-sd3", "tiny SD3", Backbone.Sd3, TextTokens: 7, Sd3: new Sd3TransformerConfig
    {
        SampleSize = 16, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 2, AttentionHeadDim = 16, NumAttentionHeads = 2,
        JointAttentionDim = 32, CaptionProjectionDim = 32, PooledProjectionDim = 32, PosEmbedMaxSize = 24,
    });

    public static RealConfig Flux { get; } = new("tiny-flux", "tiny FLUX", Backbone.Flux, TextTokens: 6, Flux: new FluxTransformerConfig
    {
        InChannels = 16, OutChannels = 16, NumLayers = 2, NumSingleLayers = 1, AttentionHeadDim = 8, NumAttentionHeads = 2,
        JointAttentionDim = 12, PooledProjectionDim = 10, GuidanceEmbeds = true, AxesDimsRope = [2, 2, 4],
    });

    public static RealConfig Lumina { get; } = new("tiny-lumina", "tiny Lumina-Next", Backbone.Lumina, TextTokens: 5, Lumina: new LuminaNextDiTConfig
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, HiddenSize = 32, NumLayers = 2, NumAttentionHeads = 4, NumKvHeads = 2,
        MultipleOf = 16, LearnSigma = true, QkNorm = true, CrossAttentionDim = 12,
    });

    public static RealConfig Named(string backbone) => backbone switch
    {
        "sd3" => Sd3,
        "flux" => Flux,
        _ => Lumina,
    };
}
