using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Acceleration;

public class AffinityCaptureTests
{
    [Theory]
    [InlineData(0, 6)]  // SD3: [image, text] rows, cond branch first
    [InlineData(3, 0)]  // FLUX: [text, image] rows
    public void Logit_capture_equals_the_weighted_pre_softmax_logits_of_the_conditional_branch(int imageStart, int textStart)
    {
        // Batch 2 (CFG), grid 2 × 3, 3 text keys, 2 heads of 4: the fast q·k̄ form against the naive N × L logit sum.
        int batch = 2, gridH = 2, gridW = 3, n = gridH * gridW, l = 3, heads = 2, d = 4, s = n + l, cond = 1;
        float[] weights = [0.25f, 0f, 1f];
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3).With("affinity", "logits");
        var builder = new AesMaskBuilder(options, layerCount: 1, gridH, gridW, weights);
        var capture = new AffinityCapture(builder, weights) { CondBatchIndex = cond };
        Assert.True(capture.CapturesLogits);
        using var cpu = new CpuBackend();
        float[] q = TestData.Random(batch * s * heads * d, 41), k = TestData.Random(batch * s * heads * d, 42);
        float scale = 0.5f;
        capture.AddLogits(0, cpu.Upload(q, new Shape(batch, s, heads, d)), imageStart, cpu.Upload(k, new Shape(batch, s, heads, d)), textStart, scale);

        // The host reference of the accumulator, fed the conditional row's image queries and the joint keys.
        var reference = new HeatMapAccumulator(n, weights);
        float[] imageQueries = q.Skip((cond * s + imageStart) * heads * d).Take(n * heads * d).ToArray();
        float[] jointKeys = k.Skip(cond * s * heads * d).Take(s * heads * d).ToArray();
        reference.AddJointLogits(0, imageQueries, heads, d, jointKeys, s, textStart, scale);
        float[] expected = reference.Result(), got = builder.Accumulator.Result();
        for (int p = 0; p < n; p++) Assert.Equal(expected[p], got[p], 5);
        Assert.NotEqual(0f, got.Select(MathF.Abs).Max());
    }

    [Fact]
    public void Probabilities_are_the_default_capture()
    {
        var options = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3);
        var capture = new AffinityCapture(new AesMaskBuilder(options, 1, 4, 4, [1f]), [1f]);
        Assert.False(capture.CapturesLogits);
    }
}
