using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>
/// The engine's LuminaNextDiT2DModel against a plain float64 re-derivation of diffusers' forward written with
/// scalar loops (no engine op), over configs the golden does not cover: other head / kv-head ratios, MHA with
/// num_kv_heads null, hidden_size &gt; 1024 (min(D, 1024) ≠ D), qk_norm off, learn_sigma off, non-square grids,
/// patch 1, ffn_dim_multiplier, NTK RoPE scaling, proportional attention off.
/// </summary>
public class LuminaReferenceTests
{
    private readonly CpuBackend _cpu = new();

    public sealed record Case(string Name, LuminaNextDiTConfig Config, int Batch, int Height, int Width, int CaptionLength,
        double LinearFactor, double NtkFactor, int? BaseSequenceLength)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<Case> Cases => new()
    {
        new Case("gqa 2:1, 3×5 grid, linear RoPE", new()
        {
            SampleSize = 16, PatchSize = 2, InChannels = 4, HiddenSize = 64, NumLayers = 2, NumAttentionHeads = 4, NumKvHeads = 2,
            MultipleOf = 16, LearnSigma = true, QkNorm = true, CrossAttentionDim = 24,
        }, 2, 6, 10, 7, 1.3, 1.0, 64),
        new Case("gqa 4:1, no qk_norm, no learn_sigma, ffn multiplier, NTK RoPE, patch 1", new()
        {
            SampleSize = 8, PatchSize = 1, InChannels = 3, HiddenSize = 64, NumLayers = 1, NumAttentionHeads = 8, NumKvHeads = 2,
            MultipleOf = 32, FfnDimMultiplier = 1.5, LearnSigma = false, QkNorm = false, CrossAttentionDim = 20, NormEps = 1e-6,
        }, 1, 5, 3, 4, 1.0, 1.7, 16),
        new Case("mha (num_kv_heads null), hidden not a multiple of heads, proportional attention off", new()
        {
            SampleSize = 16, PatchSize = 2, InChannels = 4, HiddenSize = 50, NumLayers = 2, NumAttentionHeads = 3, NumKvHeads = null,
            MultipleOf = 8, LearnSigma = true, QkNorm = true, CrossAttentionDim = 16,
        }, 1, 4, 8, 3, 0.8, 1.0, null),
        // architectures.md §9's "cond-split" config, with a narrower FFN to keep the test fast.
        new Case("hidden 1152 > 1024 (cond-split), 16 heads : 4 kv, head_dim 72", new()
        {
            SampleSize = 16, PatchSize = 2, InChannels = 4, HiddenSize = 1152, NumLayers = 1, NumAttentionHeads = 16, NumKvHeads = 4,
            MultipleOf = 256, FfnDimMultiplier = 0.25, LearnSigma = true, QkNorm = true, CrossAttentionDim = 24,
        }, 1, 4, 4, 5, 1.1, 1.0, 64),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_matches_a_float64_reference(Case c)
    {
        var source = new RandomWeightSource(7);
        var model = new LuminaNextDiT2DModel(new WeightReader(source, _cpu), c.Config);
        var inputs = LuminaReferenceInputs.Create(c.Config, c.Batch, c.Height, c.Width, c.CaptionLength, seed: 3);
        var table = LuminaRotaryTable.Create(c.Config.HeadDim, c.Height / c.Config.PatchSize, c.Width / c.Config.PatchSize, c.LinearFactor, c.NtkFactor);

        float[] ours = _cpu.Download(model.Forward(inputs.Latents(_cpu), inputs.Timesteps(_cpu), inputs.Captions(_cpu), inputs.MaskTensor(_cpu),
            table, c.BaseSequenceLength));
        double[] reference = LuminaReference.Forward(name => source.Tensors[name].Values, c.Config, inputs, c.LinearFactor, c.NtkFactor, c.BaseSequenceLength);

        Assert.Equal(c.Batch * c.Config.OutChannels * c.Height * c.Width, ours.Length);
        AssertNear(reference, ours, c.Name);
    }

    [Fact]
    public void Tiny_model_with_shared_query_weights_matches_the_reference()
    {
        // The tiny spec copies attn1's query weights into attn2 (as converted checkpoints do), so the shared-query
        // shortcut runs; the reference computes attn2's query on its own.
        var spec = AccelAes.Engine.Tiny.TinyModels.Get("lumina-next").Components[0];
        var source = AccelAes.Engine.Tiny.TinyModels.GenerateWeights(spec, seed: 4);
        var config = LuminaNextDiTConfig.From(AccelAes.Loader.Diffusers.JsonConfig.Parse("tiny", spec.ConfigJson));
        var model = new LuminaNextDiT2DModel(new WeightReader(source, _cpu), config);
        Assert.Equal(config.NumLayers, model.LayersSharingQuery);

        var inputs = LuminaReferenceInputs.Create(config, 2, 8, 12, 6, seed: 9);
        var table = LuminaRotaryTable.Create(config.HeadDim, 4, 6, 0.9, 1.0);
        float[] ours = _cpu.Download(model.Forward(inputs.Latents(_cpu), inputs.Timesteps(_cpu), inputs.Captions(_cpu), inputs.MaskTensor(_cpu), table, 64));
        double[] reference = LuminaReference.Forward(name => source.Tensors[name].Values, config, inputs, 0.9, 1.0, 64);
        AssertNear(reference, ours, "tiny lumina-next");
    }

    private static void AssertNear(double[] reference, float[] ours, string what)
    {
        double maxDiff = 0, maxRef = 1;
        for (int i = 0; i < reference.Length; i++)
        {
            double d = Math.Abs(reference[i] - ours[i]);
            maxDiff = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(maxDiff, d);
            maxRef = Math.Max(maxRef, Math.Abs(reference[i]));
        }
        Assert.True(maxDiff / maxRef <= 1e-4, $"{what}: max |ours − reference| / max(1, max|ref|) = {maxDiff / maxRef:E3}");
    }
}

/// <summary>Random forward inputs (fresh values, a padded caption tail in every item after the first).</summary>
internal sealed record LuminaReferenceInputs(int Batch, int Channels, int Height, int Width, int CaptionLength, int CaptionDim,
    float[] Latent, float[] Timestep, float[] Caption, float[] Mask)
{
    public static LuminaReferenceInputs Create(LuminaNextDiTConfig c, int batch, int height, int width, int length, int seed)
    {
        var mask = new float[batch * length];
        for (int b = 0; b < batch; b++)
            for (int l = 0; l < length; l++) mask[b * length + l] = l < length - b ? 1f : 0f;
        var timestep = new float[batch];
        for (int b = 0; b < batch; b++) timestep[b] = 0.15f + 0.6f * b / Math.Max(1, batch - 1);
        return new LuminaReferenceInputs(batch, c.InChannels, height, width, length, c.CrossAttentionDim,
            TestData.Random(batch * c.InChannels * height * width, seed, -2f, 2f), timestep,
            TestData.Random(batch * length * c.CrossAttentionDim, seed + 1, -1.5f, 1.5f), mask);
    }

    public Tensor Latents(IBackend be) => be.Upload(Latent, new Shape(Batch, Channels, Height, Width));
    public Tensor Timesteps(IBackend be) => be.Upload(Timestep, new Shape(Batch));
    public Tensor Captions(IBackend be) => be.Upload(Caption, new Shape(Batch, CaptionLength, CaptionDim));
    public Tensor MaskTensor(IBackend be) => be.Upload(Mask, new Shape(Batch, CaptionLength));
}

/// <summary>
/// diffusers' LuminaNextDiT2DModel forward (lumina_nextdit2d.py + LuminaAttnProcessor2_0 + LuminaFeedForward +
/// LuminaRMSNormZero + LuminaLayerNormContinuous + LuminaCombinedTimestepCaptionEmbedding) in float64 scalar loops,
/// one batch item at a time, straight from the weight names.
/// </summary>
internal static class LuminaReference
{
    public static double[] Forward(Func<string, float[]> w, LuminaNextDiTConfig c, LuminaReferenceInputs x,
        double linearFactor, double ntkFactor, int? baseSequenceLength)
    {
        int p = c.PatchSize, gh = x.Height / p, gw = x.Width / p, n = gh * gw, d = c.HiddenSize;
        int heads = c.NumAttentionHeads, kv = c.NumKvHeads ?? heads, hd = d / heads, cout = c.OutChannels;
        var output = new double[x.Batch * cout * x.Height * x.Width];
        for (int b = 0; b < x.Batch; b++)
        {
            // Patch embed, features (c, ph, pw).
            var tokens = new double[n][];
            for (int r = 0; r < gh; r++)
                for (int col = 0; col < gw; col++)
                {
                    var patch = new double[x.Channels * p * p];
                    for (int ch = 0; ch < x.Channels; ch++)
                        for (int ph = 0; ph < p; ph++)
                            for (int pw = 0; pw < p; pw++)
                                patch[(ch * p + ph) * p + pw] = x.Latent[((b * x.Channels + ch) * x.Height + r * p + ph) * x.Width + col * p + pw];
                    tokens[r * gw + col] = Linear(w, "patch_embedder.proj", patch, bias: true);
                }

            // Conditioning: sinusoid(t) (cos first, no ×1000), masked mean of the raw captions.
            var caption = new double[x.CaptionLength][];
            var mask = new bool[x.CaptionLength];
            for (int l = 0; l < x.CaptionLength; l++)
            {
                caption[l] = new double[x.CaptionDim];
                for (int j = 0; j < x.CaptionDim; j++) caption[l][j] = x.Caption[(b * x.CaptionLength + l) * x.CaptionDim + j];
                mask[l] = x.Mask[b * x.CaptionLength + l] != 0;
            }
            var sinusoid = new double[256];
            for (int j = 0; j < 128; j++)
            {
                double a = x.Timestep[b] * Math.Exp(-Math.Log(10000) * j / 128);
                sinusoid[j] = Math.Cos(a);
                sinusoid[128 + j] = Math.Sin(a);
            }
            double[] temb = Linear(w, "time_caption_embed.timestep_embedder.linear_2",
                Silu(Linear(w, "time_caption_embed.timestep_embedder.linear_1", sinusoid, bias: true)), bias: true);
            var pooled = new double[x.CaptionDim];
            int count = 0;
            for (int l = 0; l < x.CaptionLength; l++)
                if (mask[l]) { count++; for (int j = 0; j < x.CaptionDim; j++) pooled[j] += caption[l][j]; }
            for (int j = 0; j < x.CaptionDim; j++) pooled[j] /= count;
            double[] captionEmbed = Linear(w, "time_caption_embed.caption_embedder.1",
                LayerNorm(pooled, 1e-5, w("time_caption_embed.caption_embedder.0.weight"), w("time_caption_embed.caption_embedder.0.bias")), bias: true);
            double[] siluTemb = Silu(Add(temb, captionEmbed));

            // RoPE: pair 2j rotates by row·ω_j, pair 2j+1 by column·ω_j.
            var omega = new double[hd / 4];
            for (int j = 0; j < omega.Length; j++) omega[j] = 1.0 / Math.Pow(10000 * ntkFactor, 4.0 * j / hd) / linearFactor;
            double[] Rope(double[] head, int token)
            {
                int r = token / gw, col = token % gw;
                var y = (double[])head.Clone();
                for (int k = 0; k < hd / 2; k++)
                {
                    double angle = (k % 2 == 0 ? r : col) * omega[k / 2];
                    double re = head[2 * k], im = head[2 * k + 1], cs = Math.Cos(angle), sn = Math.Sin(angle);
                    y[2 * k] = re * cs - im * sn;
                    y[2 * k + 1] = im * cs + re * sn;
                }
                return y;
            }

            for (int layer = 0; layer < c.NumLayers; layer++)
            {
                string pre = $"layers.{layer}.";
                double[] mod = Linear(w, pre + "norm1.linear", siluTemb, bias: true); // scale_msa, gate_msa, scale_mlp, gate_mlp
                var normed = new double[n][];
                for (int i = 0; i < n; i++)
                {
                    normed[i] = RmsNorm(tokens[i], c.NormEps, w(pre + "norm1.norm.weight"));
                    for (int j = 0; j < d; j++) normed[i][j] *= 1 + mod[j];
                }
                double[][] Project(string attn, string proj, double[][] src, int headCount, bool rope)
                {
                    var result = new double[src.Length][];
                    for (int i = 0; i < src.Length; i++)
                    {
                        double[] v = Linear(w, $"{pre}{attn}.{proj}", src[i], bias: false);
                        string norm = proj == "to_q" ? "norm_q" : proj == "to_k" ? "norm_k" : "";
                        if (c.QkNorm && norm != "") v = LayerNorm(v, 1e-5, w($"{pre}{attn}.{norm}.weight"), w($"{pre}{attn}.{norm}.bias"));
                        if (rope)
                            for (int h = 0; h < headCount; h++)
                                Rope(v[(h * hd)..((h + 1) * hd)], i).CopyTo(v, h * hd);
                        result[i] = v;
                    }
                    return result;
                }
                double[][] Attend(double[][] q, double[][] k, double[][] v, bool[]? keep, double scale)
                {
                    var o = new double[q.Length][];
                    for (int i = 0; i < q.Length; i++)
                    {
                        o[i] = new double[heads * hd];
                        for (int h = 0; h < heads; h++)
                        {
                            int kh = h / (heads / kv);
                            var s = new double[k.Length];
                            double max = double.NegativeInfinity;
                            for (int j = 0; j < k.Length; j++)
                            {
                                if (keep is not null && !keep[j]) { s[j] = double.NegativeInfinity; continue; }
                                double dot = 0;
                                for (int e = 0; e < hd; e++) dot += q[i][h * hd + e] * k[j][kh * hd + e];
                                s[j] = dot * scale;
                                max = Math.Max(max, s[j]);
                            }
                            double sum = 0;
                            for (int j = 0; j < k.Length; j++) sum += s[j] = Math.Exp(s[j] - max);
                            for (int j = 0; j < k.Length; j++)
                                for (int e = 0; e < hd; e++) o[i][h * hd + e] += s[j] / sum * v[j][kh * hd + e];
                        }
                    }
                    return o;
                }

                double plain = 1 / Math.Sqrt(hd);
                double selfScale = baseSequenceLength is int bs ? Math.Sqrt(Math.Log(n) / Math.Log(bs)) * plain : plain;
                double[][] selfOut = Attend(Project("attn1", "to_q", normed, heads, true), Project("attn1", "to_k", normed, kv, true),
                    Project("attn1", "to_v", normed, kv, false), null, selfScale);
                double[][] normedCaption = caption.Select(y => RmsNorm(y, c.NormEps, w(pre + "norm1_context.weight"))).ToArray();
                double[][] crossOut = Attend(Project("attn2", "to_q", normed, heads, true), Project("attn2", "to_k", normedCaption, kv, false),
                    Project("attn2", "to_v", normedCaption, kv, false), mask, plain);
                float[] gate = w(pre + "gate");
                for (int i = 0; i < n; i++)
                {
                    var mixed = new double[heads * hd];
                    for (int h = 0; h < heads; h++)
                        for (int e = 0; e < hd; e++)
                            mixed[h * hd + e] = selfOut[i][h * hd + e] + Math.Tanh(gate[h]) * crossOut[i][h * hd + e];
                    double[] o = RmsNorm(Linear(w, pre + "attn2.to_out.0", mixed, bias: false), c.NormEps, w(pre + "norm2.weight"));
                    for (int j = 0; j < d; j++) tokens[i][j] += Math.Tanh(mod[d + j]) * o[j];

                    double[] u = RmsNorm(tokens[i], c.NormEps, w(pre + "ffn_norm1.weight"));
                    for (int j = 0; j < d; j++) u[j] *= 1 + mod[2 * d + j];
                    double[] g = Silu(Linear(w, pre + "feed_forward.linear_1", u, bias: false));
                    double[] up = Linear(w, pre + "feed_forward.linear_3", u, bias: false);
                    for (int j = 0; j < g.Length; j++) g[j] *= up[j];
                    double[] f = RmsNorm(Linear(w, pre + "feed_forward.linear_2", g, bias: false), c.NormEps, w(pre + "ffn_norm2.weight"));
                    for (int j = 0; j < d; j++) tokens[i][j] += Math.Tanh(mod[3 * d + j]) * f[j];
                }
            }

            // norm_out and unpatchify, features (ph, pw, c).
            double[] scale = Linear(w, "norm_out.linear_1", siluTemb, bias: true);
            for (int i = 0; i < n; i++)
            {
                double[] h = LayerNorm(tokens[i], 1e-6, null, null);
                for (int j = 0; j < d; j++) h[j] *= 1 + scale[j];
                double[] y = Linear(w, "norm_out.linear_2", h, bias: true);
                int r = i / gw, col = i % gw;
                for (int ph = 0; ph < p; ph++)
                    for (int pw = 0; pw < p; pw++)
                        for (int ch = 0; ch < cout; ch++)
                            output[((b * cout + ch) * x.Height + r * p + ph) * x.Width + col * p + pw] = y[(ph * p + pw) * cout + ch];
            }
        }
        return output;
    }

    private static double[] Linear(Func<string, float[]> w, string name, double[] x, bool bias)
    {
        float[] weight = w(name + ".weight");
        int outFeatures = weight.Length / x.Length;
        Assert.Equal(outFeatures * x.Length, weight.Length);
        float[]? b = bias ? w(name + ".bias") : null;
        var y = new double[outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            double s = b?[o] ?? 0;
            for (int i = 0; i < x.Length; i++) s += weight[o * x.Length + i] * x[i];
            y[o] = s;
        }
        return y;
    }

    private static double[] Silu(double[] x) => x.Select(v => v / (1 + Math.Exp(-v))).ToArray();

    private static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();

    private static double[] RmsNorm(double[] x, double eps, float[] weight)
    {
        double ms = x.Sum(v => v * v) / x.Length;
        double r = 1 / Math.Sqrt(ms + eps);
        return x.Select((v, i) => v * r * weight[i]).ToArray();
    }

    private static double[] LayerNorm(double[] x, double eps, float[]? weight, float[]? bias)
    {
        double mean = x.Average();
        double variance = x.Sum(v => (v - mean) * (v - mean)) / x.Length;
        double r = 1 / Math.Sqrt(variance + eps);
        return x.Select((v, i) => (v - mean) * r * (weight?[i] ?? 1) + (bias?[i] ?? 0)).ToArray();
    }
}
