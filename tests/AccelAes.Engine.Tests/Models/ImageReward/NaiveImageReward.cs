using AccelAes.Engine.Models.ImageReward;

namespace AccelAes.Engine.Tests.Models.ImageReward;

/// <summary>
/// ImageReward's score written out with plain loops in double precision straight from the Python modules
/// (ImageReward.py, BLIP vit.py and med.py at THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb), reading
/// weights by their state-dict names. It shares no code with the engine's model classes, so the two agreeing checks
/// the engine's wiring, layouts and masks, not just its arithmetic. The padding mask is med.py's additive −10000.
/// </summary>
internal sealed class NaiveImageReward(IReadOnlyDictionary<string, float[]> weights, ImageRewardConfig config)
{
    private float[] W(string name) => weights[name];

    /// <summary>pixels [3, S, S] (already normalised), ids and mask of one prompt → the normalised reward.</summary>
    public double Score(ReadOnlySpan<float> pixels, int[] ids, int[] mask)
    {
        double[][] image = Vision(pixels);
        double[][] text = Text(ids, mask, image);
        double[] x = text[0];
        int[] widths = [.. config.HeadWidths];
        int[] sequential = [0, 2, 4, 6, 7];
        for (int i = 0; i < sequential.Length; i++)
            x = Linear(x, $"mlp.layers.{sequential[i]}", widths[i], widths[i + 1]);
        return (x[0] - config.RewardMean) / config.RewardStd;
    }

    public double[][] Vision(ReadOnlySpan<float> pixels)
    {
        BlipVisionConfig v = config.Vision;
        int s = v.ImageSize, p = v.PatchSize, g = s / p, width = v.Width;
        const string pre = "blip.visual_encoder.";
        float[] conv = W(pre + "patch_embed.proj.weight"), convBias = W(pre + "patch_embed.proj.bias");
        float[] cls = W(pre + "cls_token"), pos = W(pre + "pos_embed");
        var x = new double[1 + g * g][];
        for (int t = 0; t < x.Length; t++)
        {
            x[t] = new double[width];
            for (int d = 0; d < width; d++)
            {
                double value;
                if (t == 0) value = cls[d];
                else
                {
                    int gy = (t - 1) / g, gx = (t - 1) % g;
                    value = convBias[d];
                    for (int c = 0; c < v.InChannels; c++)
                        for (int i = 0; i < p; i++)
                            for (int j = 0; j < p; j++)
                                value += conv[((d * v.InChannels + c) * p + i) * p + j] * (double)pixels[(c * s + gy * p + i) * s + gx * p + j];
                }
                x[t][d] = value + pos[t * width + d];
            }
        }

        for (int l = 0; l < v.Depth; l++)
        {
            string b = $"{pre}blocks.{l}.";
            double[][] h = Map(x, r => LayerNorm(r, b + "norm1", v.LayerNormEps));
            double[][] qkv = Map(h, r => Linear(r, b + "attn.qkv", width, 3 * width));
            double[][] q = Map(qkv, r => r[..width]), k = Map(qkv, r => r[width..(2 * width)]), val = Map(qkv, r => r[(2 * width)..]);
            double[][] o = Attention(q, k, val, v.Heads, null);
            x = Add(x, Map(o, r => Linear(r, b + "attn.proj", width, width)));
            double[][] h2 = Map(x, r => LayerNorm(r, b + "norm2", v.LayerNormEps));
            x = Add(x, Map(h2, r => Linear(Gelu(Linear(r, b + "mlp.fc1", width, v.MlpHidden)), b + "mlp.fc2", v.MlpHidden, width)));
        }
        return Map(x, r => LayerNorm(r, pre + "norm", v.LayerNormEps));
    }

    public double[][] Text(int[] ids, int[] mask, double[][] image)
    {
        BlipTextConfig t = config.Text;
        int d = t.HiddenSize;
        const string pre = "blip.text_encoder.";
        float[] words = W(pre + "embeddings.word_embeddings.weight"), positions = W(pre + "embeddings.position_embeddings.weight");
        var x = new double[ids.Length][];
        for (int i = 0; i < ids.Length; i++)
        {
            x[i] = new double[d];
            for (int j = 0; j < d; j++) x[i][j] = words[ids[i] * d + j] + (double)positions[i * d + j];
            x[i] = LayerNorm(x[i], pre + "embeddings.LayerNorm", t.LayerNormEps);
        }

        double[] additive = mask.Select(m => m == 1 ? 0.0 : -10000.0).ToArray();
        for (int l = 0; l < t.Layers; l++)
        {
            string b = $"{pre}encoder.layer.{l}.";
            double[][] a = AttentionBlock(x, x, b + "attention.", d, additive);
            double[][] c = AttentionBlock(a, image, b + "crossattention.", t.EncoderWidth, null);
            x = Map(c, r =>
            {
                double[] inner = Gelu(Linear(r, b + "intermediate.dense", d, t.IntermediateSize));
                double[] outer = Linear(inner, b + "output.dense", t.IntermediateSize, d);
                for (int j = 0; j < d; j++) outer[j] += r[j];
                return LayerNorm(outer, b + "output.LayerNorm", t.LayerNormEps);
            });
        }
        return x;
    }

    /// <summary>BertAttention: self (query from x, key/value from source) then LayerNorm(dense(context) + x).</summary>
    private double[][] AttentionBlock(double[][] x, double[][] source, string prefix, int sourceWidth, double[]? additive)
    {
        int d = config.Text.HiddenSize;
        double[][] q = Map(x, r => Linear(r, prefix + "self.query", d, d));
        double[][] k = Map(source, r => Linear(r, prefix + "self.key", sourceWidth, d));
        double[][] v = Map(source, r => Linear(r, prefix + "self.value", sourceWidth, d));
        double[][] context = Attention(q, k, v, config.Text.Heads, additive);
        var result = new double[x.Length][];
        for (int i = 0; i < x.Length; i++)
        {
            double[] y = Linear(context[i], prefix + "output.dense", d, d);
            for (int j = 0; j < d; j++) y[j] += x[i][j];
            result[i] = LayerNorm(y, prefix + "output.LayerNorm", config.Text.LayerNormEps);
        }
        return result;
    }

    /// <summary>Multi-head softmax(q·kᵀ/√head_dim + additive)·v, heads as consecutive slices of the width.</summary>
    private static double[][] Attention(double[][] q, double[][] k, double[][] v, int heads, double[]? additive)
    {
        int width = q[0].Length, hd = width / heads;
        var output = new double[q.Length][];
        for (int i = 0; i < q.Length; i++)
        {
            output[i] = new double[width];
            for (int h = 0; h < heads; h++)
            {
                var scores = new double[k.Length];
                for (int j = 0; j < k.Length; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < hd; e++) dot += q[i][h * hd + e] * k[j][h * hd + e];
                    scores[j] = dot / Math.Sqrt(hd) + (additive?[j] ?? 0);
                }
                double max = scores.Max(), total = 0;
                for (int j = 0; j < scores.Length; j++) total += scores[j] = Math.Exp(scores[j] - max);
                for (int j = 0; j < k.Length; j++)
                    for (int e = 0; e < hd; e++) output[i][h * hd + e] += scores[j] / total * v[j][h * hd + e];
            }
        }
        return output;
    }

    private double[] Linear(double[] x, string name, int inFeatures, int outFeatures)
    {
        float[] weight = W(name + ".weight"), bias = W(name + ".bias");
        Assert.Equal(inFeatures * outFeatures, weight.Length);
        var y = new double[outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            double sum = bias[o];
            for (int i = 0; i < inFeatures; i++) sum += weight[o * inFeatures + i] * x[i];
            y[o] = sum;
        }
        return y;
    }

    private double[] LayerNorm(double[] x, string name, double eps)
    {
        float[] gamma = W(name + ".weight"), beta = W(name + ".bias");
        double mean = x.Average(), variance = x.Select(e => (e - mean) * (e - mean)).Average();
        return x.Select((e, i) => (e - mean) / Math.Sqrt(variance + eps) * gamma[i] + beta[i]).ToArray();
    }

    private static double[] Gelu(double[] x) => x.Select(e => 0.5 * e * (1 + Erf(e / Math.Sqrt(2)))).ToArray();

    /// <summary>erf by its Maclaurin series (|x| ≤ 3) or the asymptotic continued fraction: within 1e-12 of the true value.</summary>
    internal static double Erf(double x)
    {
        double a = Math.Abs(x);
        double result;
        if (a <= 3)
        {
            double term = a, sum = a;
            for (int n = 1; n < 200; n++)
            {
                term *= -a * a / n;
                sum += term / (2 * n + 1);
                if (Math.Abs(term) < 1e-17) break;
            }
            result = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc(a) = exp(−a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + 2/(a + …))))), evaluated from the tail.
            double f = a;
            for (int n = 60; n >= 1; n--) f = a + n / 2.0 / f;
            result = 1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
        }
        return x < 0 ? -result : result;
    }

    private static double[][] Map(double[][] rows, Func<double[], double[]> f) => rows.Select(f).ToArray();

    private static double[][] Add(double[][] a, double[][] b) => a.Select((r, i) => r.Select((e, j) => e + b[i][j]).ToArray()).ToArray();
}
