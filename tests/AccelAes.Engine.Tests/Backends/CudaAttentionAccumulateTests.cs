using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// AttentionAddScaledInto on the CUDA backend (the attention kernels' accumulate epilogue, issue 16 Fusion 8), on every
/// kernel: with zeros and head scale 1 it writes Attention's bits (the epilogue is fmaf(1, o, 0), one rounding of the same
/// fp32 o); a row that sees no key leaves the destination as it was; otherwise the destination moves by s[h]·Attention
/// within one bf16 step of the output plus Attention's own rounding. The bf16 rule against the CPU reference is the op
/// harness's (OpSelfTest's AttentionAddScaledInto cases).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaAttentionAccumulateTests(CudaFixture fixture) : IClassFixture<CudaFixture>
{
    public static TheoryData<string> Kernels => new([.. FlashVariant.All.Select(v => v.Name), "reference"]);

    private void WithKernel(string kernel, Action<CudaBackend> test)
    {
        var gpu = fixture.Backend!;
        var (savedVariant, savedReference) = (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention);
        try
        {
            gpu.ForceReferenceAttention = kernel == "reference";
            if (kernel != "reference") gpu.FlashAttentionVariant = FlashVariant.Parse(kernel);
            test(gpu);
        }
        finally
        {
            (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention) = (savedVariant, savedReference);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Kernels))]
    public void Into_zeros_with_scale_one_it_writes_attentions_bits(string kernel)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        WithKernel(kernel, gpu =>
        {
            // Lumina's head dim (the 80 path) with a key mask and tails; FLUX's 128 with several key tiles.
            foreach (var (b, sq, sk, h, d, masked) in new[] { (2, 70, 45, 3, 72, true), (1, 130, 150, 2, 128, false) })
            {
                var q = Bf16(gpu, 21, b, sq, h, d);
                var k = Bf16(gpu, 22, b, sk, h, d);
                var v = Bf16(gpu, 23, b, sk, h, d);
                var mask = masked ? gpu.Upload(TestData.Random(b * sk, 24).Select(r => r < -0.5f ? 0f : 1f).ToArray(), new Shape(b, sk)) : null;
                float scale = 1f / MathF.Sqrt(d);
                var dest = gpu.Zeros(new Shape(b, sq, h, d));
                gpu.AttentionAddScaledInto(dest, gpu.Upload(Enumerable.Repeat(1f, h).ToArray(), new Shape(h)), q, k, v, scale, mask);
                float[] expected = gpu.Download(gpu.Attention(q, k, v, scale, mask)), actual = gpu.Download(dest);
                for (int i = 0; i < expected.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]) || expected[i] == actual[i],
                        $"{kernel} D{d}: element {i} is {actual[i]}, Attention wrote {expected[i]}");
            }
        });
    }

    [SkippableTheory]
    [MemberData(nameof(Kernels))]
    public void It_adds_the_head_scaled_attention_and_a_row_that_sees_no_key_keeps_the_destination(string kernel)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        WithKernel(kernel, gpu =>
        {
            const int b = 2, sq = 37, sk = 50, h = 3, d = 64;
            var q = Bf16(gpu, 31, b, sq, h, d);
            var k = Bf16(gpu, 32, b, sk, h, d);
            var v = Bf16(gpu, 33, b, sk, h, d);
            var maskValues = new float[b * sk];
            Array.Fill(maskValues, 1f, 0, sk); // batch item 1: every key masked
            var mask = gpu.Upload(maskValues, new Shape(b, sk));
            float[] heads = [0.75f, -0.5f, 0.125f];
            var dest = Bf16(gpu, 34, b, sq, h, d);
            float[] before = gpu.Download(dest);
            float[] attention = gpu.Download(gpu.Attention(q, k, v, 0.125f, mask));
            gpu.AttentionAddScaledInto(dest, gpu.Upload(heads, new Shape(h)), q, k, v, 0.125f, mask);
            float[] after = gpu.Download(dest);
            int half = after.Length / 2;
            for (int i = 0; i < half; i++)
            {
                float expected = before[i] + heads[i / d % h] * attention[i];
                // One bf16 rounding of the sum, plus Attention's own output rounding (scaled by |s| ≤ 1): half a bf16 step
                // (2⁻⁸ relative) each; the bound allows twice that.
                float bound = (MathF.Abs(expected) + MathF.Abs(attention[i])) / 128f + 1e-6f;
                Assert.True(MathF.Abs(after[i] - expected) <= bound, $"{kernel}: element {i} is {after[i]}, expected {expected} ± {bound}");
            }
            for (int i = half; i < after.Length; i++)
                Assert.True(after[i] == before[i], $"{kernel}: element {i} of the fully masked batch item changed from {before[i]} to {after[i]}");
        });
    }
}
