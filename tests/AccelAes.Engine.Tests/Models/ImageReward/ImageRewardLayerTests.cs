using AccelAes.Engine.Models.ImageReward;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using static AccelAes.Engine.Tests.Models.ImageReward.ImageRewardTestModels;

namespace AccelAes.Engine.Tests.Models.ImageReward;

/// <summary>
/// med.py's BertAttention on two or three tokens, computed by hand with plain loops: cross-attention from 2 text tokens
/// to 3 image tokens of another width, and self-attention with a padded key. LayerNorm eps is 0.25 so that it matters.
/// </summary>
public class ImageRewardLayerTests
{
    private static readonly BlipTextConfig Config = new(VocabSize: 10, HiddenSize: 4, Layers: 1, Heads: 2, IntermediateSize: 8,
        MaxPositionEmbeddings: 8, EncoderWidth: 6, LayerNormEps: 0.25);

    /// <summary>
    /// BertSelfAttention + BertSelfOutput by hand: q = x·Wqᵀ + bq, k and v from <paramref name="source"/>, per head
    /// softmax(q·k/√2 − 10000·(1 − mask)), context concatenated over heads, then LayerNorm(dense(context) + x).
    /// </summary>
    private static float[] ByHand(IReadOnlyDictionary<string, (Shape Shape, float[] Values)> w, string prefix, float[] x, int tokens,
        float[] source, int sources, int sourceWidth, int[]? keyMask)
    {
        const int d = 4, heads = 2, hd = 2;
        float[] P(string name) => w[prefix + name].Values;
        double[,] Project(float[] input, int rows, int inWidth, string name)
        {
            var y = new double[rows, d];
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < d; o++)
                {
                    double sum = P(name + ".bias")[o];
                    for (int i = 0; i < inWidth; i++) sum += P(name + ".weight")[o * inWidth + i] * (double)input[r * inWidth + i];
                    y[r, o] = sum;
                }
            return y;
        }

        double[,] q = Project(x, tokens, d, "self.query");
        double[,] k = Project(source, sources, sourceWidth, "self.key");
        double[,] v = Project(source, sources, sourceWidth, "self.value");
        var context = new double[tokens * d];
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
            {
                var p = new double[sources];
                for (int s = 0; s < sources; s++)
                {
                    double dot = 0;
                    for (int e = 0; e < hd; e++) dot += q[t, h * hd + e] * k[s, h * hd + e];
                    p[s] = Math.Exp(dot / Math.Sqrt(hd) - (keyMask is null || keyMask[s] == 1 ? 0 : 10000));
                }
                double total = p.Sum();
                for (int e = 0; e < hd; e++)
                    for (int s = 0; s < sources; s++) context[t * d + h * hd + e] += p[s] / total * v[s, h * hd + e];
            }

        var result = new float[tokens * d];
        for (int t = 0; t < tokens; t++)
        {
            var y = new double[d];
            for (int o = 0; o < d; o++)
            {
                y[o] = P("output.dense.bias")[o] + x[t * d + o];
                for (int i = 0; i < d; i++) y[o] += P("output.dense.weight")[o * d + i] * context[t * d + i];
            }
            double mean = y.Average(), variance = y.Select(e => (e - mean) * (e - mean)).Average();
            for (int o = 0; o < d; o++)
                result[t * d + o] = (float)((y[o] - mean) / Math.Sqrt(variance + 0.25) * P("output.LayerNorm.weight")[o] + P("output.LayerNorm.bias")[o]);
        }
        return result;
    }

    [Fact]
    public void Cross_attention_reads_the_image_at_encoder_width()
    {
        var source = new RandomWeightSource(3);
        var layer = new BertAttention(new WeightReader(source, Cpu).Scope("crossattention"), Config, isCrossAttention: true);
        float[] text = TestData.Random(2 * 4, 4), image = TestData.Random(3 * 6, 5);
        Tensor output = layer.Forward(Cpu.Upload(text, new Shape(1, 2, 4)), Cpu.Upload(image, new Shape(1, 3, 6)), new AttentionMaskArgs(null, false, null));
        float[] expected = ByHand(source.Tensors, "crossattention.", text, 2, image, 3, 6, null);
        TestData.AssertClose(expected, Cpu.Download(output), 1e-5, "cross-attention");
        Assert.Equal(new Shape(4, 6), source.Tensors["crossattention.self.key.weight"].Shape);
    }

    [Fact]
    public void Self_attention_ignores_a_padded_key()
    {
        var source = new RandomWeightSource(7);
        var layer = new BertAttention(new WeightReader(source, Cpu).Scope("attention"), Config, isCrossAttention: false);
        float[] text = TestData.Random(3 * 4, 8);
        Tensor x = Cpu.Upload(text, new Shape(1, 3, 4));
        var mask = new TokenGrid(1, 3, [1, 1, 0], "attention_mask");
        Tensor output = layer.Forward(x, x, new AttentionMaskArgs(AttentionMaskArgs.KeyMaskOf(Cpu, mask), false, null));
        float[] expected = ByHand(source.Tensors, "attention.", text, 3, text, 3, 4, [1, 1, 0]);
        TestData.AssertClose(expected, Cpu.Download(output), 1e-5, "masked self-attention");
        float[] unmasked = ByHand(source.Tensors, "attention.", text, 3, text, 3, 4, null);
        Assert.True(TestData.MaxAbsDiff(unmasked, expected) > 1e-3, "the mask must change the result, or the test proves little");
    }
}
