using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Split-KV attention (attention.cu with kv_splits &gt; 1, attention_splitkv.cu's merge) against the unsplit flash kernel,
/// forced through <see cref="CudaBackend.AttentionKvSplits"/>, for both variants and every padded head dim, with key masks
/// (a batch item whose keys are all masked included), GQA, odd key counts, causal masks, a bias, the lse output, the
/// accumulate epilogue and a column-slice output; and the affinity call, which is never split.
/// Tolerance, the bf16 rule: the merged fp32 o is the unsplit one up to fp32 rounding and to P's bf16 rounding against each
/// split's own running max (≤ 2⁻⁹ relative per probability, so ≤ 2⁻⁹·max|v| on o), then one bf16 rounding each (half a
/// step, 2⁻⁸ relative): |split − unsplit| ≤ |unsplit|/128 + max|v|/256. lse is fp32 on both sides: within 1e-4.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaSplitKvAttentionTests(CudaFixture fixture) : IClassFixture<CudaFixture>
{
    public static TheoryData<string, int> Variants
    {
        get
        {
            var data = new TheoryData<string, int>();
            foreach (var v in FlashVariant.All)
                foreach (int splits in new[] { 2, 4 })
                    data.Add(v.Name, splits);
            return data;
        }
    }

    /// <summary>Runs <paramref name="call"/> unsplit and with <paramref name="splits"/> forced; returns both results.</summary>
    private (T Unsplit, T Split) Both<T>(string variant, int splits, Func<CudaBackend, T> call)
    {
        var gpu = fixture.Backend!;
        var (savedVariant, savedSplits) = (gpu.FlashAttentionVariant, gpu.AttentionKvSplits);
        try
        {
            gpu.FlashAttentionVariant = FlashVariant.Parse(variant);
            gpu.AttentionKvSplits = 1;
            var unsplit = call(gpu);
            gpu.AttentionKvSplits = splits;
            return (unsplit, call(gpu));
        }
        finally
        {
            (gpu.FlashAttentionVariant, gpu.AttentionKvSplits) = (savedVariant, savedSplits);
        }
    }

    private static void AssertBf16Rule(float[] unsplit, float[] split, float maxAbsV, string what)
    {
        Assert.Equal(unsplit.Length, split.Length);
        for (int i = 0; i < unsplit.Length; i++)
        {
            float bound = MathF.Abs(unsplit[i]) / 128f + maxAbsV / 256f;
            Assert.True(MathF.Abs(split[i] - unsplit[i]) <= bound, $"{what}: element {i} is {split[i]} split, {unsplit[i]} unsplit (± {bound})");
        }
    }

    private static void AssertLse(float[] unsplit, float[] split, string what)
    {
        for (int i = 0; i < unsplit.Length; i++)
            Assert.True(unsplit[i] == split[i] || MathF.Abs(unsplit[i] - split[i]) <= 1e-4f,
                $"{what}: lse {i} is {split[i]} split, {unsplit[i]} unsplit");
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void Split_outputs_and_lse_match_the_unsplit_kernel(string variant, int splits)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        // (batch, queries, keys, heads, kv heads, head dim, key mask, causal, bias): every padded head dim (72 → 80 with the
        // element-wise output path), odd key counts (tile tails in the last split), GQA, a fully masked batch item, causal
        // queries that see a prefix only (later splits empty for early tiles), a per-head bias.
        var cases = new (int B, int Sq, int Sk, int H, int Hkv, int D, bool Mask, bool Causal, bool Bias)[]
        {
            (2, 70, 301, 4, 2, 64, true, false, false),
            (1, 33, 257, 2, 2, 128, false, false, false),
            (1, 40, 200, 3, 3, 72, true, false, false),
            (1, 20, 150, 2, 1, 32, false, true, false),
            (1, 17, 190, 2, 2, 64, false, false, true),
        };
        int seed = 100;
        foreach (var c in cases)
        {
            var q = Bf16(fixture.Backend!, seed++, c.B, c.Sq, c.H, c.D);
            var k = Bf16(fixture.Backend!, seed++, c.B, c.Sk, c.Hkv, c.D);
            var v = Bf16(fixture.Backend!, seed++, c.B, c.Sk, c.Hkv, c.D);
            Tensor? mask = null;
            if (c.Mask)
            {
                var m = TestData.Random(c.B * c.Sk, seed++).Select(r => r < -0.5f ? 0f : 1f).ToArray();
                Array.Fill(m, 0f, (c.B - 1) * c.Sk, c.Sk); // the last batch item sees no key at all (when B > 1)
                if (c.B == 1) Array.Fill(m, 1f, 0, c.Sk / 2);
                mask = fixture.Backend!.Upload(m, new Shape(c.B, c.Sk));
            }
            var bias = c.Bias ? Bf16(fixture.Backend!, seed++, c.H, c.Sq, c.Sk) : null;
            float scale = 1f / MathF.Sqrt(c.D);
            var (unsplit, split) = Both(variant, splits, gpu =>
            {
                var (o, lse) = gpu.AttentionWithLogSumExp(q, k, v, scale, mask, c.Causal, bias, AttentionKernel.Flash);
                return (gpu.Download(o), gpu.Download(lse));
            });
            string what = $"{variant} ×{splits} B{c.B} Sq{c.Sq} Sk{c.Sk} H{c.H}/{c.Hkv} D{c.D} mask {c.Mask} causal {c.Causal} bias {c.Bias}";
            AssertBf16Rule(unsplit.Item1, split.Item1, fixture.Backend!.Download(v).Max(MathF.Abs), what);
            AssertLse(unsplit.Item2, split.Item2, what);
            if (c.B > 1)
            {
                int half = unsplit.Item1.Length / 2;
                Assert.All(split.Item1[half..], x => Assert.Equal(0f, x));                 // a row that sees no key: zeros
                Assert.All(split.Item2[(split.Item2.Length / 2)..], x => Assert.Equal(float.NegativeInfinity, x));
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void The_merge_writes_column_slices_and_accumulates_as_the_unsplit_epilogue_does(string variant, int splits)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        const int b = 1, sq = 37, sk = 290, h = 3, d = 64;
        var q = Bf16(fixture.Backend!, 201, b, sq, h, d);
        var k = Bf16(fixture.Backend!, 202, b, sk, h, d);
        var v = Bf16(fixture.Backend!, 203, b, sk, h, d);
        float maxV = fixture.Backend!.Download(v).Max(MathF.Abs);
        var headScale = fixture.Backend!.Upload([0.75f, -0.5f, 0.125f], new Shape(h));
        var (unsplit, split) = Both(variant, splits, gpu =>
        {
            var dest = Bf16(gpu, 204, b, sq, h, d);
            gpu.AttentionAddScaledInto(dest, headScale, q, k, v, 0.125f);
            var wide = gpu.Zeros(new Shape(b, sq, h * d + 8));
            gpu.AttentionInto(wide, 8, q, k, v, 0.125f);
            return (gpu.Download(dest), gpu.Download(wide));
        });
        AssertBf16Rule(unsplit.Item1, split.Item1, 2 * maxV, $"{variant} ×{splits} accumulate");
        AssertBf16Rule(unsplit.Item2, split.Item2, maxV, $"{variant} ×{splits} column slice");
        for (int t = 0; t < b * sq; t++)
            Assert.All(split.Item2.AsSpan(t * (h * d + 8), 8).ToArray(), x => Assert.Equal(0f, x)); // left of the slice: untouched
    }

    [SkippableFact]
    public void A_forced_split_adds_exactly_the_merge_launch_and_affinity_calls_stay_unsplit()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.If(EmulatorCounters.Read() is null, "needs the CPU emulator's driver counters");
        const int b = 1, sq = 16, sk = 260, h = 2, d = 32;
        var q = Bf16(fixture.Backend!, 301, b, sq, h, d);
        var k = Bf16(fixture.Backend!, 302, b, sk, h, d);
        var weights = fixture.Backend!.Upload(TestData.Random(b * sk, 303, 0f, 1f), new Shape(b, sk));
        var (unsplit, split) = Both("m64", 3, gpu =>
        {
            gpu.Synchronize();
            long before = EmulatorCounters.Read()!.Launches;
            gpu.Attention(q, k, k, 0.2f);
            gpu.Synchronize();
            long launches = EmulatorCounters.Read()!.Launches - before;
            var (ao, affinity) = gpu.AttentionWithAffinity(q, k, k, 0.2f, weights);
            return (launches, gpu.Download(ao), gpu.Download(affinity));
        });
        Assert.Equal(unsplit.launches + 1, split.launches);
        Assert.Equal(unsplit.Item2, split.Item2); // bit for bit: the same unsplit launch
        Assert.Equal(unsplit.Item3, split.Item3);
    }
}
