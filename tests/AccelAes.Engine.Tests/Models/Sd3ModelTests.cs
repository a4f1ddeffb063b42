using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>Properties of the SD3 transformer that hold for any weights (conformance against diffusers is separate).</summary>
public class Sd3ModelTests
{
    private readonly CpuBackend _cpu = new();

    private static Sd3TransformerConfig Tiny(bool sd35) => new()
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, OutChannels = 4, NumLayers = 3, AttentionHeadDim = 8, NumAttentionHeads = 2,
        JointAttentionDim = 12, CaptionProjectionDim = 16, PooledProjectionDim = 10, PosEmbedMaxSize = 12,
        QkNorm = sd35 ? "rms_norm" : null, DualAttentionLayers = sd35 ? [0, 1] : [],
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Batch_items_are_independent(bool sd35)
    {
        var config = Tiny(sd35);
        var model = new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(3), _cpu), config);
        var latents = TestData.Random(2 * 4 * 6 * 10, 1);
        var ctx = TestData.Random(2 * 5 * 12, 2);
        var pooled = TestData.Random(2 * 10, 3);
        float[] both = _cpu.Download(model.Forward(
            _cpu.Upload(latents, new Shape(2, 4, 6, 10)), _cpu.Upload(ctx, new Shape(2, 5, 12)),
            _cpu.Upload(pooled, new Shape(2, 10)), _cpu.Upload([700f, 20f], new Shape(2))));
        Assert.Equal(2 * 4 * 6 * 10, both.Length);
        float[] second = _cpu.Download(model.Forward(
            _cpu.Upload(latents.AsSpan(240, 240), new Shape(1, 4, 6, 10)), _cpu.Upload(ctx.AsSpan(60, 60), new Shape(1, 5, 12)),
            _cpu.Upload(pooled.AsSpan(10, 10), new Shape(1, 10)), _cpu.Upload([20f], new Shape(1))));
        TestData.AssertClose(second, both.AsSpan(240, 240), 1e-5, "batch item 1 alone vs in a batch of 2");
        Assert.True(TestData.MaxAbsDiff(both.AsSpan(0, 240), both.AsSpan(240, 240)) > 1e-3, "different inputs must give different outputs");
    }

    [Fact]
    public void Grid_larger_than_the_position_table_is_refused_with_the_reason()
    {
        var model = new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(3), _cpu), Tiny(false));
        var ex = Assert.Throws<AccelAesException>(() => model.Forward(
            _cpu.Zeros(new Shape(1, 4, 26, 4)), _cpu.Zeros(new Shape(1, 5, 12)), _cpu.Zeros(new Shape(1, 10)), _cpu.Zeros(new Shape(1))));
        Assert.Contains("pos_embed_max_size", ex.Message);
    }

    [Fact]
    public void Wrong_input_width_names_the_argument()
    {
        var model = new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(3), _cpu), Tiny(false));
        var ex = Assert.Throws<AccelAes.Engine.Models.ModelInputException>(() => model.Forward(
            _cpu.Zeros(new Shape(1, 4, 6, 6)), _cpu.Zeros(new Shape(1, 5, 13)), _cpu.Zeros(new Shape(1, 10)), _cpu.Zeros(new Shape(1))));
        Assert.Equal("encoder_hidden_states", ex.Argument);
    }
}
