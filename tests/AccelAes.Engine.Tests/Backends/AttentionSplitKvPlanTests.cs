using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Kernels;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// When the attention plan splits the keys (issue 16, attention item 3), worked by hand on an H100's limits (132 SMs; one
/// 8-warp m128 CTA or two 4-warp m64 CTAs per SM at the variants' register bound). Pure host arithmetic; no GPU.
/// </summary>
public class AttentionSplitKvPlanTests
{
    private static readonly DeviceLimits H100 = AttentionPlanTests.Published["9.0"];

    [Fact]
    public void A_flux_sparse_step_at_a_quarter_focus_is_split_two_ways()
    {
        // FLUX.1-dev at 1024²: 512 text + 4096 image tokens, 24 heads of 128. A quarter of the image tokens query (1024) with
        // the text rows: 1536 queries → 12 CTAs of 128 rows × 24 heads = 288 CTAs, 288 / 132 = 2.18 waves (the third 18 %
        // full: wave efficiency 0.73). Two splits: 576 CTAs, 4.36 / 5 = 0.87 ≥ 0.85 × the best (11 splits: exactly 24 waves).
        var plan = AttentionPlan.Create(1, 1536, 24, 128, 128, H100, sk: 4608);
        Assert.Equal(FlashVariant.M128, plan.Variant);
        Assert.Equal(2, plan.KvSplits);
        Assert.True(plan.IsSplitKv);
        Assert.Equal((12u, 24u, 2u), (plan.GridX, plan.GridY, plan.GridZ)); // z = batch · splits
        Assert.Contains("split-KV × 2", plan.ToString());
    }

    [Fact]
    public void A_dense_4096_token_step_and_the_callers_that_do_not_give_the_key_length_are_not_split()
    {
        // 4608 queries: 36 × 24 = 864 CTAs, 6.5 waves (≥ 2.5: the tail is a small part of the run).
        var dense = AttentionPlan.Create(1, 4608, 24, 128, 128, H100, sk: 4608);
        Assert.Equal((1, 1u), (dense.KvSplits, dense.GridZ));
        Assert.DoesNotContain("split-KV", dense.ToString());
        Assert.Equal(1, AttentionPlan.Create(1, 1536, 24, 128, 128, H100).KvSplits); // sk unknown
    }

    [Fact]
    public void Causal_masks_short_keys_and_the_off_setting_never_split_and_a_forced_count_always_does()
    {
        Assert.Equal(1, AttentionPlan.Create(1, 1536, 24, 128, 128, H100, sk: 4608, causal: true).KvSplits);
        // 448 keys = 7 tiles: fewer than 2 × 4 tiles per split.
        Assert.Equal(1, AttentionPlan.Create(1, 64, 2, 64, 64, H100, sk: 448).KvSplits);
        Assert.Equal(2, AttentionPlan.Create(1, 64, 2, 64, 64, H100, sk: 512).KvSplits); // 8 tiles: 2 splits of 4
        Assert.Equal(1, AttentionPlan.Create(1, 1536, 24, 128, 128, H100, sk: 4608, kvSplits: 1).KvSplits);
        var forced = AttentionPlan.Create(2, 4608, 24, 128, 128, H100, sk: 4608, causal: true, kvSplits: 3);
        Assert.Equal((3, 6u), (forced.KvSplits, forced.GridZ));
        Assert.Equal(AttentionPlan.MaxKvSplits, AttentionPlan.Create(1, 64, 1, 64, 64, H100, sk: 64, kvSplits: 99).KvSplits);
        Assert.Equal(1, AttentionPlan.Create(1, 64, 1, 256, 256, H100, sk: 4096, kvSplits: 4).KvSplits); // the reference kernel
    }

    [Theory]
    // ctas, CTAs per SM, keys, SMs → splits (efficiency of n splits: w / ceil(w), w = n·ctas / slots; the smallest n within
    // 0.85 of the best, n ≤ min(16, tiles / 4)).
    [InlineData(66, 1, 4096, 132, 2)]     // half a wave: 2 splits fill it exactly
    [InlineData(132, 1, 4096, 132, 1)]    // one full wave
    [InlineData(2, 2, 1024, 132, 4)]      // 16 tiles allow 4 splits; 8 CTAs are still 3 % of a wave, so all 4
    [InlineData(10, 1, 64 * 80, 100, 9)]  // w = n / 10: best is n = 10 (1.0), smallest ≥ 0.85 is 9 (0.9)
    [InlineData(329, 1, 4096, 132, 2)]    // 2.49 waves (0.83): 2 splits give 4.98 / 5
    [InlineData(330, 1, 4096, 132, 1)]    // 2.5 waves: not split
    public void The_split_count_follows_the_wave_efficiency_rule(long ctas, int perSm, int sk, int sms, int expected) =>
        Assert.Equal(expected, AttentionPlan.ChooseKvSplits(ctas, perSm, sk, sms));

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData(" Auto ", null)]
    [InlineData("off", 1)]
    [InlineData("1", 1)]
    [InlineData("4", 4)]
    [InlineData("16", 16)]
    public void The_environment_setting_is_parsed(string? value, int? expected) =>
        Assert.Equal(expected, BackendFactory.ParseKvSplits(value, BackendFactory.KvSplitsVariable));

    [Theory]
    [InlineData("0")]
    [InlineData("17")]
    [InlineData("-2")]
    [InlineData("two")]
    public void A_bad_environment_setting_names_the_variable(string value)
    {
        var e = Assert.Throws<AccelAesException>(() => BackendFactory.ParseKvSplits(value, BackendFactory.KvSplitsVariable));
        Assert.Contains(BackendFactory.KvSplitsVariable, e.Message);
    }

    [Fact]
    public void The_default_options_read_the_environment_variable()
    {
        string? saved = Environment.GetEnvironmentVariable(BackendFactory.KvSplitsVariable);
        try
        {
            Environment.SetEnvironmentVariable(BackendFactory.KvSplitsVariable, "3");
            Assert.Equal(3, BackendFactory.DefaultCudaOptions().AttentionKvSplits);
            Environment.SetEnvironmentVariable(BackendFactory.KvSplitsVariable, null);
            Assert.Null(BackendFactory.DefaultCudaOptions().AttentionKvSplits);
        }
        finally
        {
            Environment.SetEnvironmentVariable(BackendFactory.KvSplitsVariable, saved);
        }
    }
}
