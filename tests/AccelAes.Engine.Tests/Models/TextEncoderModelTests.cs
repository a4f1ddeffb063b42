using AccelAes.Engine.Models;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using static AccelAes.Engine.Tests.Models.TextEncoderTestModels;

namespace AccelAes.Engine.Tests.Models;

/// <summary>Properties of the CLIP, T5 and Gemma encoders that hold for any weights.</summary>
public class TextEncoderModelTests
{
    [Fact]
    public void Clip_batch_rows_are_independent()
    {
        var model = new ClipTextModelWithProjection(RandomWeights(1), Clip());
        var ids = RandomIds(2, 9, 60, 2);
        var both = model.Forward(ids);
        for (int b = 0; b < 2; b++)
        {
            var alone = model.Forward(RowOf(ids, b));
            TestData.AssertCloseScaled(Row(alone.LastHiddenState, 0), Row(both.LastHiddenState, b), 1e-5, $"last_hidden_state row {b}");
            TestData.AssertCloseScaled(Row(alone.TextEmbeds!, 0), Row(both.TextEmbeds!, b), 1e-5, $"text_embeds row {b}");
        }
        Assert.True(TestData.MaxAbsDiff(Row(both.TextEmbeds!, 0), Row(both.TextEmbeds!, 1)) > 1e-3);
    }

    [Fact]
    public void T5_batch_rows_are_independent()
    {
        var model = new T5EncoderModel(RandomWeights(3), T5());
        var ids = RandomIds(2, 7, 50, 4);
        var both = model.Forward(ids).LastHiddenState;
        for (int b = 0; b < 2; b++)
            TestData.AssertCloseScaled(Row(model.Forward(RowOf(ids, b)).LastHiddenState, 0), Row(both, b), 1e-5, $"row {b}");
    }

    [Fact]
    public void Gemma_batch_rows_are_independent_with_padding()
    {
        var model = new GemmaModel(RandomWeights(5), Gemma());
        var ids = RandomIds(2, 8, 70, 6);
        var mask = Mask([1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]);
        var both = model.Forward(ids, mask).LastHiddenState;
        for (int b = 0; b < 2; b++)
            TestData.AssertCloseScaled(Row(model.Forward(RowOf(ids, b), RowOf(mask, b)).LastHiddenState, 0), Row(both, b), 1e-5, $"row {b}");
    }

    [Fact]
    public void Gemma_padded_tokens_do_not_reach_real_positions()
    {
        var model = new GemmaModel(RandomWeights(7), Gemma(kvHeads: 2));
        var ids = RandomIds(1, 10, 70, 8);
        var mask = Mask([1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
        int[] changed = ids.Values.ToArray();
        for (int i = 6; i < 10; i++) changed[i] = (changed[i] + 11) % 70;
        float[] a = Cpu.Download(model.Forward(ids, mask).LastHiddenState);
        float[] b = Cpu.Download(model.Forward(new TokenGrid(1, 10, changed), mask).LastHiddenState);
        int d = model.Config.HiddenSize;
        Assert.Equal(0, TestData.MaxAbsDiff(a.AsSpan(0, 6 * d), b.AsSpan(0, 6 * d)));
        Assert.True(TestData.MaxAbsDiff(a.AsSpan(6 * d), b.AsSpan(6 * d)) > 1e-3);
    }

    /// <summary>
    /// Left padding: the first rows attend to nothing (transformers' uniform-softmax case, computed from its
    /// additive mask). RoPE is relative and positions stay 0…L−1, so the real tokens must equal the unpadded run.
    /// </summary>
    [Fact]
    public void Gemma_left_padding_leaves_real_tokens_as_without_padding()
    {
        var model = new GemmaModel(RandomWeights(9), Gemma(kvHeads: 2));
        var real = RandomIds(1, 6, 70, 10);
        var padded = new TokenGrid(1, 9, [0, 0, 0, .. real.Values.ToArray()]);
        var mask = Mask([0, 0, 0, 1, 1, 1, 1, 1, 1]);
        float[] unpadded = Cpu.Download(model.Forward(real).LastHiddenState);
        float[] withPadding = Cpu.Download(model.Forward(padded, mask).LastHiddenState);
        int d = model.Config.HiddenSize;
        TestData.AssertCloseScaled(unpadded, withPadding.AsSpan(3 * d), 1e-4, "real tokens after left padding");
        Assert.All(withPadding, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Clip_rows_with_fully_masked_queries_do_not_disturb_other_rows()
    {
        var model = new ClipTextModel(RandomWeights(11), Clip());
        var ids = RandomIds(2, 8, 60, 12);
        var mask = Mask([0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0, 0]);
        var both = model.Forward(ids, mask).LastHiddenState;
        TestData.AssertCloseScaled(Row(model.Forward(RowOf(ids, 1), RowOf(mask, 1)).LastHiddenState, 0), Row(both, 1), 1e-5, "row 1");
        Assert.All(Cpu.Download(both), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void T5_all_padding_row_does_not_disturb_other_rows()
    {
        var model = new T5EncoderModel(RandomWeights(13), T5());
        var ids = RandomIds(2, 6, 50, 14);
        var mask = Mask([0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]);
        var both = model.Forward(ids, mask).LastHiddenState;
        TestData.AssertCloseScaled(Row(model.Forward(RowOf(ids, 1), RowOf(mask, 1)).LastHiddenState, 0), Row(both, 1), 1e-5, "row 1");
        Assert.All(Cpu.Download(both), v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>
    /// transformers' eager softmax over a row that masks every key is uniform over the keys masked once (CLIP's
    /// twice-masked keys, at −∞ there, get nothing): the additive path must give the mean of those values.
    /// </summary>
    [Fact]
    public void Fully_masked_query_rows_average_the_values_masked_least_as_transformers_does()
    {
        const int keys = 4, d = 3;
        float m = AttentionMaskArgs.MaskedScore;
        // one batch, query 0 fully masked: keys 0 and 2 masked once, 1 and 3 twice; query 1 sees keys 0 and 1.
        float[] additive = [m, 2 * m, m, 2 * m, 0, 0, m, 2 * m];
        var args = AttentionMaskArgs.FromAdditive(Cpu, additive, batch: 1, queries: 2, keys: keys, heads: 1);
        float[] q = TestData.Random(2 * d, 40), k = TestData.Random(keys * d, 41), v = TestData.Random(keys * d, 42);
        float[] o = Cpu.Download(Cpu.Attention(Cpu.Upload(q, new Shape(1, 2, 1, d)), Cpu.Upload(k, new Shape(1, keys, 1, d)),
            Cpu.Upload(v, new Shape(1, keys, 1, d)), 0.7f, args.KeyMask, args.Causal, args.Bias));
        for (int f = 0; f < d; f++)
            Assert.Equal((v[0 * d + f] + v[2 * d + f]) / 2, o[f], 1e-6);
        double s0 = 0, s1 = 0;
        for (int f = 0; f < d; f++) { s0 += q[d + f] * k[f]; s1 += q[d + f] * k[d + f]; }
        double w0 = Math.Exp(0.7 * s0) / (Math.Exp(0.7 * s0) + Math.Exp(0.7 * s1));
        for (int f = 0; f < d; f++)
            Assert.Equal(w0 * v[f] + (1 - w0) * v[d + f], o[d + f], 1e-5);
    }

    [Fact]
    public void T5_mask_of_ones_equals_no_mask()
    {
        var model = new T5EncoderModel(RandomWeights(15), T5());
        var ids = RandomIds(2, 5, 50, 16);
        var ones = Mask([1, 1, 1, 1, 1], [1, 1, 1, 1, 1]);
        Assert.Equal(Cpu.Download(model.Forward(ids).LastHiddenState), Cpu.Download(model.Forward(ids, ones).LastHiddenState));
    }

    [Theory]
    [InlineData(2, new[] { 5, 9, 59, 3, 3 }, 2)]        // legacy: argmax of the ids
    [InlineData(2, new[] { 5, 59, 9, 59, 3 }, 1)]       // first maximum
    [InlineData(9, new[] { 5, 9, 59, 9, 3 }, 1)]        // first eos_token_id, even below a larger (added) id
    [InlineData(9, new[] { 5, 6, 7, 8, 3 }, 0)]         // no eos: argmax of an all-zero row
    public void Clip_pools_by_the_rule_its_eos_token_id_selects(int eosTokenId, int[] row, int expected)
        => Assert.Equal(expected, ClipTextTransformer.PoolIndices(new TokenGrid(1, row.Length, row), eosTokenId)[0]);

    [Fact]
    public void Clip_pooler_output_is_the_final_state_at_the_pooled_position()
    {
        var model = new ClipTextModel(RandomWeights(17), Clip(eosTokenId: 7));
        var ids = new TokenGrid(2, 6, [1, 4, 7, 0, 0, 0, 3, 9, 9, 30, 7, 7]);
        var output = model.Forward(ids);
        Assert.Equal([2, 4], output.PoolIndices!);
        float[] last = Cpu.Download(output.LastHiddenState);
        float[] pooled = Cpu.Download(output.PoolerOutput!);
        Assert.Equal(last.AsSpan(2 * 16, 16).ToArray(), pooled.AsSpan(0, 16).ToArray());
        Assert.Equal(last.AsSpan((6 + 4) * 16, 16).ToArray(), pooled.AsSpan(16, 16).ToArray());
    }

    [Fact]
    public void Hidden_state_shortcuts_equal_the_full_forward()
    {
        var clip = new ClipTextModelWithProjection(RandomWeights(19), Clip());
        var clipIds = RandomIds(2, 7, 60, 20);
        var clipFull = clip.Forward(clipIds);
        Assert.Equal(3, clipFull.HiddenStates.Count);
        Assert.Equal(Cpu.Download(clipFull.HiddenState(-2)), Cpu.Download(clip.TextModel.HiddenState(clipIds, null, -2)));

        var t5 = new T5EncoderModel(RandomWeights(21), T5());
        var t5Ids = RandomIds(2, 7, 50, 22);
        var t5Full = t5.Forward(t5Ids);
        Assert.Equal(Cpu.Download(t5Full.LastHiddenState), Cpu.Download(t5Full.HiddenState(-1)));
        Assert.Equal(Cpu.Download(t5Full.HiddenState(1)), Cpu.Download(t5.HiddenState(t5Ids, null, 1)));
        Assert.Equal(Cpu.Download(t5Full.HiddenState(-1)), Cpu.Download(t5.HiddenState(t5Ids, null, -1)));

        var gemma = new GemmaModel(RandomWeights(23), Gemma());
        var gemmaIds = RandomIds(2, 8, 70, 24);
        var mask = Mask([1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0, 0]);
        var gemmaFull = gemma.Forward(gemmaIds, mask);
        Assert.Equal(4, gemmaFull.HiddenStates.Count);
        Assert.Equal(Cpu.Download(gemmaFull.LastHiddenState), Cpu.Download(gemmaFull.HiddenState(-1)));
        Assert.Equal(Cpu.Download(gemmaFull.HiddenState(-2)), Cpu.Download(gemma.HiddenState(gemmaIds, mask, -2)));
        var ex = Assert.Throws<AccelAesException>(() => gemmaFull.HiddenState(4));
        Assert.Contains("-4…3", ex.Message);
    }

    [Fact]
    public void Gemma_embeddings_are_scaled_by_the_rounded_square_root_of_the_width()
    {
        var model = new GemmaModel(RandomWeights(25), Gemma());
        var ids = RandomIds(1, 4, 70, 26);
        float[] scaled = Cpu.Download(model.Forward(ids).HiddenStates[0]);
        var table = new AccelAes.Engine.Weights.RandomWeightSource(25).Load("embed_tokens.weight", new Shape(70, 24), Cpu);
        float[] raw = Cpu.Download(Cpu.GatherRows(table, ids.UploadIndices(Cpu)));
        float normalizer = (float)Math.Sqrt(24);
        for (int i = 0; i < raw.Length; i++) Assert.Equal(raw[i] * normalizer, scaled[i]);
        Assert.Equal(55.5f, GemmaModel.Normalizer(DType.BF16, 3072));
    }

    [Fact]
    public void T5_relu_feed_forward_is_wo_of_relu_of_wi()
    {
        var config = T5(gated: false, act: "relu");
        var source = new AccelAes.Engine.Weights.RandomWeightSource(27);
        var ff = new T5DenseActDense(new AccelAes.Engine.Weights.WeightReader(source, Cpu), config);
        float[] x = TestData.Random(3 * 16, 28);
        float[] got = Cpu.Download(ff.Forward(Cpu.Upload(x, new Shape(3, 16))));
        float[] wi = source.Tensors["wi.weight"].Values, wo = source.Tensors["wo.weight"].Values;
        for (int r = 0; r < 3; r++)
            for (int o = 0; o < 16; o++)
            {
                double sum = 0;
                for (int h = 0; h < 24; h++)
                {
                    double pre = 0;
                    for (int i = 0; i < 16; i++) pre += (double)x[r * 16 + i] * wi[h * 16 + i];
                    sum += Math.Max(pre, 0) * wo[o * 24 + h];
                }
                Assert.Equal(sum, got[r * 16 + o], 1e-5);
            }
    }

    [Theory]
    [InlineData(false, "relu")]
    [InlineData(true, "silu")]
    [InlineData(false, "gelu_new")]
    public void T5_feed_forward_variants_run(bool gated, string act)
    {
        var output = new T5EncoderModel(RandomWeights(29), T5(gated, act)).Forward(RandomIds(1, 5, 50, 30));
        Assert.Equal([1, 5, 16], output.LastHiddenState.Shape.ToArray());
        Assert.All(Cpu.Download(output.LastHiddenState), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Relative_buckets_match_transformers_for_distances_0_to_40()
    {
        // README of the T5 golden: buckets of d = key − query = 0…40 with 32 buckets, max_distance 128.
        int[] expected = [0, 17, 18, 19, 20, 21, 22, 23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 26, 26, 26, 27,
            27, 27, 27, 27, 27, 27, 27, 27, 28, 28, 28, 28, 28, 28, 28, 28, 28];
        for (int d = 0; d <= 40; d++)
        {
            Assert.Equal(expected[d], T5Attention.RelativePositionBucket(d, true, 32, 128));
            Assert.Equal(d == 0 ? 0 : expected[d] - 16, T5Attention.RelativePositionBucket(-d, true, 32, 128));
        }
        Assert.Equal(31, T5Attention.RelativePositionBucket(91, true, 32, 128));
        Assert.Equal(15, T5Attention.RelativePositionBucket(-5000, true, 32, 128));
    }

    [Fact]
    public void Float32_buckets_agree_with_an_exact_computation_where_transformers_does()
    {
        // The golden's README: a float64 computation reproduces transformers' float32 buckets for |d| ≤ 511.
        for (int d = -511; d <= 511; d++)
        {
            int n = Math.Abs(d), exact;
            if (n < 8) exact = n;
            else exact = Math.Min(15, 8 + (int)(Math.Log(n / 8.0) / Math.Log(128 / 8.0) * 8));
            Assert.Equal(exact + (d > 0 ? 16 : 0), T5Attention.RelativePositionBucket(d, true, 32, 128));
        }
    }

    [Fact]
    public void Unidirectional_buckets_ignore_future_positions()
    {
        Assert.Equal(0, T5Attention.RelativePositionBucket(5, false, 32, 128));
        Assert.Equal(3, T5Attention.RelativePositionBucket(-3, false, 32, 128));
        Assert.Equal(31, T5Attention.RelativePositionBucket(-1000, false, 32, 128));
    }

    [Fact]
    public void Ids_outside_the_vocabulary_name_input_ids_and_the_vocab_size()
    {
        var clip = new ClipTextModel(RandomWeights(31), Clip());
        var ex = Assert.Throws<ModelInputException>(() => clip.Forward(new TokenGrid(1, 3, [1, 60, 2])));
        Assert.Equal("input_ids", ex.Argument);
        Assert.Contains("60", ex.Message);
        Assert.Contains("vocab_size 60", ex.Message);
        Assert.Contains("[0, 1]", ex.Message);

        var t5 = new T5EncoderModel(RandomWeights(32), T5());
        Assert.Equal("input_ids", Assert.Throws<ModelInputException>(() => t5.Forward(new TokenGrid(1, 2, [-1, 3]))).Argument);
        var gemma = new GemmaModel(RandomWeights(33), Gemma());
        Assert.Contains("vocab_size 70", Assert.Throws<ModelInputException>(() => gemma.Forward(new TokenGrid(1, 2, [3, 70]))).Message);
    }

    [Fact]
    public void Bad_masks_and_lengths_name_the_input()
    {
        var clip = new ClipTextModel(RandomWeights(34), Clip());
        var tooLong = Assert.Throws<ModelInputException>(() => clip.Forward(RandomIds(1, 13, 60, 35)));
        Assert.Contains("max_position_embeddings", tooLong.Message);

        var gemma = new GemmaModel(RandomWeights(36), Gemma());
        var ids = RandomIds(1, 4, 70, 37);
        var wrongShape = Assert.Throws<ModelInputException>(() => gemma.Forward(ids, Mask([1, 1, 1])));
        Assert.Equal("attention_mask", wrongShape.Argument);
        var wrongValue = Assert.Throws<ModelInputException>(() => gemma.Forward(ids, Mask([1, 2, 1, 0])));
        Assert.Contains("expected 1 (attend) or 0 (padding)", wrongValue.Message);
    }

    [Fact]
    public void Token_grids_from_tensors_refuse_fractions_and_wrong_ranks()
    {
        var ex = Assert.Throws<ModelInputException>(() => TokenGrid.FromTensor(Cpu.Upload([1f, 2.5f], new Shape(1, 2)), "input_ids"));
        Assert.Contains("whole numbers", ex.Message);
        Assert.Equal("input_ids", Assert.Throws<ModelInputException>(() => TokenGrid.FromTensor(Cpu.Upload([1f, 2f], new Shape(2)), "input_ids")).Argument);
        Assert.Throws<ModelInputException>(() => TokenGrid.FromRows([[1, 2], [3]]));
    }
}
