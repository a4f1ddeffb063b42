using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;

namespace AccelAes.Engine.Tests.Acceleration;

public class HeatMapAggregationTests
{
    private static float[] Softmax(float[] logits, int rows, int cols)
    {
        var p = new float[logits.Length];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < cols; c++) max = Math.Max(max, logits[r * cols + c]);
            for (int c = 0; c < cols; c++) sum += Math.Exp(logits[r * cols + c] - max);
            for (int c = 0; c < cols; c++) p[r * cols + c] = (float)(Math.Exp(logits[r * cols + c] - max) / sum);
        }

        return p;
    }

    [Fact]
    public void Streaming_equals_the_reference_formula()
    {
        // heat[p] = Σ_j (mean_l mean_h P[l,h,p,j]) · w[j], computed naively, vs one Add per layer in any order.
        int layers = 3, heads = 4, n = 12, l = 7;
        float[][] probs = Enumerable.Range(0, layers).Select(i => Softmax(TestData.Random(heads * n * l, 100 + i, -3, 3), heads * n, l)).ToArray();
        float[] w = TestData.Random(l, 9, 0, 1);
        var expected = new float[n];
        for (int p = 0; p < n; p++)
        {
            double acc = 0;
            for (int j = 0; j < l; j++)
            {
                double mean = 0;
                for (int i = 0; i < layers; i++)
                    for (int h = 0; h < heads; h++) mean += probs[i][(h * n + p) * l + j];
                acc += mean / (layers * heads) * w[j];
            }

            expected[p] = (float)acc;
        }

        var acc1 = new HeatMapAccumulator(n, w);
        foreach (int i in new[] { 2, 0, 1 }) acc1.AddProbabilities(i, probs[i], heads);
        Assert.Throws<InvalidOperationException>(() => acc1.AddProbabilities(1, probs[1], heads));
        Assert.Equal([0, 1, 2], acc1.AddedLayers);
        Assert.Equal(3, acc1.Layers);
        TestData.AssertClose(expected, acc1.Result(), 1e-7, "streamed heat");

        // Row sums (what a fused kernel emits) give the same map.
        var acc2 = new HeatMapAccumulator(n, w);
        var acc3 = new HeatMapAccumulator(n, w);
        for (int i = 0; i < layers; i++)
        {
            var sums = new float[heads * n];
            for (int r = 0; r < heads * n; r++)
                for (int j = 0; j < l; j++) sums[r] += probs[i][r * l + j] * w[j];
            acc2.AddWeightedRowSums(i, sums, heads);
            var headSums = new float[n * l];
            for (int h = 0; h < heads; h++)
                for (int q = 0; q < n * l; q++) headSums[q] += probs[i][h * n * l + q];
            acc3.AddHeadSums(i, headSums, heads);
        }

        TestData.AssertClose(expected, acc2.Result(), 1e-6, "row-sum heat");
        TestData.AssertClose(expected, acc3.Result(), 1e-6, "head-sum heat");
        Assert.Throws<AccelAesException>(() => acc2.AddProbabilities(7, new float[5], heads));
        Assert.Throws<InvalidOperationException>(() => new HeatMapAccumulator(n, w).Result());
    }

    [Fact]
    public void Cross_attention_probabilities_with_gqa_and_padding()
    {
        int heads = 8, kvHeads = 2, n = 6, l = 5, d = 4;
        float[] q = TestData.Random(n * heads * d, 31), k = TestData.Random(l * kvHeads * d, 32);
        int[] mask = [1, 1, 1, 0, 0];
        float scale = 1 / MathF.Sqrt(d);
        float[] p = AttentionProbabilities.CrossAttention(q, heads, n, d, k, kvHeads, l, mask, scale);
        for (int h = 0; h < heads; h++)
        {
            for (int t = 0; t < n; t++)
            {
                int row = (h * n + t) * l;
                Assert.Equal(0f, p[row + 3]);
                Assert.Equal(0f, p[row + 4]);
                // Naive: query head h uses KV head h / 4.
                var logits = new float[3];
                for (int j = 0; j < 3; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += q[(t * heads + h) * d + e] * k[(j * kvHeads + h / 4) * d + e];
                    logits[j] = (float)(dot * scale);
                }

                TestData.AssertClose(Softmax(logits, 1, 3), p.AsSpan(row, 3), 1e-6, "cross softmax");
            }
        }

        float[] w = [0.2f, 1f, 0.5f, 1f, 1f];
        var fromProbs = new HeatMapAccumulator(n, w);
        fromProbs.AddProbabilities(0, p, heads);
        var fromQk = new HeatMapAccumulator(n, w);
        fromQk.AddCrossAttention(0, q, heads, d, k, kvHeads, mask, scale);
        TestData.AssertClose(fromProbs.Result(), fromQk.Result(), 1e-6, "q/k path");
        Assert.Throws<AccelAesException>(() => AttentionProbabilities.CrossAttention(q, heads, n, d, k, kvHeads, l, [0, 0, 0, 0, 0], scale));
    }

    [Fact]
    public void Joint_attention_uses_the_text_block_of_the_full_softmax()
    {
        int heads = 2, n = 6, l = 3, s = n + l, d = 4;
        float[] q = TestData.Random(n * heads * d, 41), keys = TestData.Random(s * heads * d, 42);
        float scale = 0.5f;
        // Text first (FLUX order [text, image]): text keys at rows 0..2.
        float[] block = AttentionProbabilities.JointImageToText(q, heads, n, d, keys, s, 0, l, scale);
        float[] logits = AttentionProbabilities.JointImageToTextLogits(q, heads, n, d, keys, s, 0, l, scale);
        for (int h = 0; h < heads; h++)
        {
            for (int t = 0; t < n; t++)
            {
                var all = new float[s];
                for (int j = 0; j < s; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += q[(t * heads + h) * d + e] * keys[(j * heads + h) * d + e];
                    all[j] = (float)(dot * scale);
                }

                float[] full = Softmax(all, 1, s);
                int row = (h * n + t) * l;
                TestData.AssertClose(full.AsSpan(0, l), block.AsSpan(row, l), 1e-6, "joint block");
                TestData.AssertClose(all.AsSpan(0, l), logits.AsSpan(row, l), 1e-6, "joint logits");
                Assert.True(block.AsSpan(row, l).ToArray().Sum() < 1f);
            }
        }

        float[] w = [1f, 0.5f, 0f]; // last text token = padding: weight 0
        var viaQk = new HeatMapAccumulator(n, w);
        viaQk.AddJointAttention(3, q, heads, d, keys, s, 0, scale);
        var viaProbs = new HeatMapAccumulator(n, w);
        viaProbs.AddProbabilities(3, block, heads);
        TestData.AssertClose(viaProbs.Result(), viaQk.Result(), 1e-6, "joint q/k path");

        // The reference's SD3/FLUX capture: mean of the logits over heads and all text columns.
        var reference = new HeatMapAccumulator(n, HeatMapAccumulator.UniformWeights(l));
        reference.AddJointLogits(3, q, heads, d, keys, s, 0, scale);
        var expected = new float[n];
        for (int t = 0; t < n; t++)
        {
            double sum = 0;
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < l; j++) sum += logits[(h * n + t) * l + j];
            expected[t] = (float)(sum / (heads * l));
        }

        TestData.AssertClose(expected, reference.Result(), 1e-6, "reference logit mean");
    }

    [Fact]
    public void Builder_captures_the_configured_layers_and_finalises()
    {
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);
        int heads = 2, rows = 8, cols = 8, l = 4;
        float[] w = [0f, 1f, 0.5f, 0f];
        var builder = new AesMaskBuilder(o, 24, rows, cols, w);
        Assert.Equal([0, 4, 8, 12, 16, 20], builder.CaptureLayers);
        Assert.True(builder.Captures(8));
        Assert.False(builder.Captures(9));
        var accumulator = new HeatMapAccumulator(rows * cols, w);
        for (int layer = 0; layer < 24; layer++)
        {
            if (!builder.Captures(layer)) continue;
            Assert.Throws<InvalidOperationException>(() => builder.Build());
            float[] p = Softmax(TestData.Random(heads * rows * cols * l, 500 + layer, -4, 4), heads * rows * cols, l);
            builder.Accumulator.AddProbabilities(layer, p, heads);
            accumulator.AddProbabilities(layer, p, heads);
        }

        FocusMask mask = builder.Build();
        var wrongLayers = new AesMaskBuilder(o, 24, rows, cols, w);
        foreach (int layer in new[] { 0, 4, 8, 12, 16, 21 }) wrongLayers.Accumulator.AddWeightedRowSums(layer, new float[heads * rows * cols], heads);
        Assert.Contains("0,4,8,12,16,20", Assert.Throws<InvalidOperationException>(() => wrongLayers.Build()).Message);
        FocusMask expected = MaskFinalisation.Finalise(accumulator.Result(), rows, cols, o.MaskFinalisation);
        Assert.Equal(expected.IsFocus, mask.IsFocus);
        Assert.Throws<AccelAesException>(() => new AesMaskBuilder(AccelerationOptions.ForPreset(AccelerationPreset.StepCache, Backbone.Lumina), 24, rows, cols, w));
    }
}
