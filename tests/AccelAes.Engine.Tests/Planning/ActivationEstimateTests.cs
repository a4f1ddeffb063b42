using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Planning;

/// <summary>
/// The activation estimates. The SkipSparse cache term is measured: a cache-fill forward of a small model on the CPU
/// backend (fp32, 4 bytes) leaves <see cref="SparseForward.CacheBytes"/>, which the estimate must equal. The CPU backend
/// has no allocation peak counter, so the forward and decode estimates are checked on hand-computed small cases.
/// </summary>
public class ActivationEstimateTests
{
    private readonly CpuBackend _cpu = new();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_flux_cache_estimate_equals_the_caches_a_fill_forward_keeps(bool sparseFeedForward)
    {
        var config = new FluxTransformerConfig
        {
            InChannels = 16, OutChannels = 16, NumLayers = 3, NumSingleLayers = 2, AttentionHeadDim = 8, NumAttentionHeads = 2,
            JointAttentionDim = 12, PooledProjectionDim = 10, GuidanceEmbeds = true, AxesDimsRope = [2, 2, 4],
        };
        const int batch = 2, tokens = 20, text = 5;
        var model = new FluxTransformer2DModel(new WeightReader(new RandomWeightSource(3), _cpu), config);
        var sparse = FillStep(sparseFeedForward, tokens, batch);
        model.Forward(
            _cpu.Upload(TestData.Random(batch * tokens * 16, 1), new Shape(batch, tokens, 16)),
            _cpu.Upload(TestData.Random(batch * text * 12, 2), new Shape(batch, text, 12)),
            _cpu.Upload(TestData.Random(batch * 10, 3), new Shape(batch, 10)),
            _cpu.Upload([0.5f, 0.5f], new Shape(batch)),
            _cpu.Upload(FluxLatentPacking.LatentImageIds(4, 5), new Shape(tokens, 3)),
            _cpu.Upload(FluxLatentPacking.TextIds(text), new Shape(text, 3)),
            _cpu.Upload([3.5f, 3.5f], new Shape(batch)), sparse);

        var real = new RealConfig("t", "t", Backbone.Flux, text, Flux: config);
        Assert.True(sparse.CacheBytes > 0);
        Assert.Equal(sparse.CacheBytes, ActivationEstimate.SparseCacheBytes(real, tokens, batch, sparseFeedForward, activationBytes: 4));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void The_sd3_cache_estimate_equals_the_caches_a_fill_forward_keeps(bool sparseFeedForward, bool dualAttention)
    {
        var config = new Sd3TransformerConfig
        {
            SampleSize = 16, PatchSize = 2, InChannels = 4, OutChannels = 4, NumLayers = 3, AttentionHeadDim = 8, NumAttentionHeads = 2,
            JointAttentionDim = 12, CaptionProjectionDim = 16, PooledProjectionDim = 10, PosEmbedMaxSize = 12,
            QkNorm = dualAttention ? "rms_norm" : null, DualAttentionLayers = dualAttention ? [0, 1] : [],
        };
        const int batch = 2, tokens = 20;
        var model = new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(5), _cpu), config);
        var sparse = FillStep(sparseFeedForward, tokens, batch);
        model.Forward(
            _cpu.Upload(TestData.Random(batch * 4 * 8 * 10, 1), new Shape(batch, 4, 8, 10)),
            _cpu.Upload(TestData.Random(batch * 5 * 12, 2), new Shape(batch, 5, 12)),
            _cpu.Upload(TestData.Random(batch * 10, 3), new Shape(batch, 10)),
            _cpu.Upload([500f, 500f], new Shape(batch)), sparse);

        var real = new RealConfig("t", "t", Backbone.Sd3, 5, Sd3: config);
        Assert.Equal(sparse.CacheBytes, ActivationEstimate.SparseCacheBytes(real, tokens, batch, sparseFeedForward, activationBytes: 4));
    }

    [Fact]
    public void The_forward_estimate_counts_the_widest_blocks_live_tensors_over_image_and_text_tokens()
    {
        // FLUX, D = 16 (2 × 8): batch 2 × (20 image + 5 text tokens) × 16 × 20 units (the single-stream block) × 2 bytes.
        var flux = new RealConfig("t", "t", Backbone.Flux, 5, Flux: new FluxTransformerConfig { NumAttentionHeads = 2, AttentionHeadDim = 8 });
        Assert.Equal(2L * 25 * 16 * 20 * 2, ActivationEstimate.TransformerForward(flux, 20, 5, batch: 2, activationBytes: 2));
        // SD3 joint block: 14 units.
        var sd3 = new RealConfig("t", "t", Backbone.Sd3, 5, Sd3: new Sd3TransformerConfig { NumAttentionHeads = 2, AttentionHeadDim = 8, CaptionProjectionDim = 16 });
        Assert.Equal(1L * 25 * 16 * 14 * 2, ActivationEstimate.TransformerForward(sd3, 20, 5, batch: 1, activationBytes: 2));
    }

    [Fact]
    public void The_decode_estimate_is_the_widest_resnet_or_upsample_of_the_decoder()
    {
        // Channels [4, 8], scale 2: 16×16 image → 8×8 latent (64 px). Mid block: 6·8·64 = 3072. Up block 0 (8 → 8):
        // resnet (16 + 40)·64 = 3584, upsample 2·8·256 = 4096. Up block 1 (8 → 4) at 256 px: (16 + 20)·256 = 9216.
        var vae = new AutoencoderKLConfig { BlockOutChannels = [4, 8], LatentChannels = 2, UpBlockTypes = ["UpDecoderBlock2D", "UpDecoderBlock2D"] };
        Assert.Equal(9216L * 2, ActivationEstimate.DecodePeak(vae, 16, 16, activationBytes: 2));
    }

    [Fact]
    public void The_t5_encode_estimate_includes_its_position_bias()
    {
        // d 8, inner 8, ff 20 gated, 2 heads, 4 tokens: FFN (16 + 60 + 8) = 84 > attention (16 + 32) = 48 per token;
        // 4 tokens × 84 + 2 heads × 4 × 4 bias = 368 elements × 2 bytes.
        var t5 = new TextEncoderShape(8, 8, 20, Gated: true, Heads: 2, Tokens: 4, PositionBias: true);
        Assert.Equal(368L * 2, ActivationEstimate.EncoderPeak(t5, batch: 1, activationBytes: 2));
    }

    private static SparseForward FillStep(bool sparseFeedForward, int tokens, int batch)
    {
        var sparse = new SparseForward(sparseFeedForward);
        sparse.SetFocus([0, 3, 7], tokens);
        sparse.BeginStep(StepKind.FullFillCache, null);
        sparse.BeginForward(0, batch - 1);
        return sparse;
    }
}
