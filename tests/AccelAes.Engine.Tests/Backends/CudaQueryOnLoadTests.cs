using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using Xunit.Abstractions;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Fusion 15 of issue 16 on the CUDA backend: Lumina's q LayerNormed across heads and rotated by the attention kernel as it
/// loads the Q tile (attention.cu's q_stats parameters) gives, bit for bit, what writing q gives — PrepareQueryKey (q and k
/// from attention_inputs_layernorm_bf16) then AttentionPackedValue (attn1) or AttentionAddScaledInto (attn2 sharing the
/// query). Every flash variant (m64, m128) with split-KV off and on, and the reference kernel (q materialised by the host).
/// Sequences of 150 tokens give several query tiles per head, so the statistics and the RoPE rows are indexed past q0 = 0.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaQueryOnLoadTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    private const int Batch = 2, Seq = 150, Heads = 4, KvHeads = 2, Hd = 72, Pairs = 36, Caption = 23;

    public static TheoryData<string> Kernels => new([.. FlashVariant.All.Select(v => v.Name), "reference"]);

    /// <summary>Lumina's layout scaled down (GQA, hd 72, LayerNorm across heads with biases, RoPE on 36 pairs); the buffer's values at magnitude 3 as a GEMM's are.</summary>
    private static (QkvPart Part, Tensor Cos, Tensor Sin) LuminaPart(CudaBackend gpu)
    {
        var buffer = gpu.UploadWeight(MemoryMarshal.AsBytes(TestData.Random(Batch * Seq * (Heads + 2 * KvHeads) * Hd, 1, -3f, 3f).AsSpan()), DType.F32,
            new Shape(Batch, Seq, (Heads + 2 * KvHeads) * Hd));
        var part = new QkvPart(buffer, Bf16(gpu, 2, Heads * Hd), Bf16(gpu, 3, KvHeads * Hd), Bf16(gpu, 4, Heads * Hd), Bf16(gpu, 5, KvHeads * Hd));
        return (part, gpu.Upload(TestData.Random(Seq * Pairs, 6), new Shape(Seq, Pairs)), gpu.Upload(TestData.Random(Seq * Pairs, 7), new Shape(Seq, Pairs)));
    }

    [SkippableTheory]
    [MemberData(nameof(Kernels))]
    public void Luminas_attentions_with_q_normalised_on_load_give_the_bits_of_q_written(string kernel)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        var (savedVariant, savedReference, savedSplits) = (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention, gpu.AttentionKvSplits);
        try
        {
            gpu.ForceReferenceAttention = kernel == "reference";
            if (kernel != "reference") gpu.FlashAttentionVariant = FlashVariant.Parse(kernel);
            var (part, cos, sin) = LuminaPart(gpu);
            var written = gpu.PrepareQueryKey(part, Heads, KvHeads, Hd, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads);
            var onLoad = gpu.PrepareKeyQueryStatistics(part, Heads, KvHeads, Hd, 1e-5f, cos, sin);
            Assert.Null(onLoad.Query.Materialised);
            AssertSameBits(gpu.Download(written.K), gpu.Download(onLoad.K), "k");
            var captionKey = Bf16(gpu, 8, Batch, Caption, KvHeads, Hd);
            var captionValue = Bf16(gpu, 9, Batch, Caption, KvHeads, Hd);
            var mask = gpu.Upload([.. Enumerable.Range(0, Batch * Caption).Select(i => i % Caption < 17 + 3 * (i / Caption) ? 1f : 0f)], new Shape(Batch, Caption));
            var headScale = gpu.Upload([0.5f, -0.25f, 0.75f, 0.125f], new Shape(Heads));
            foreach (int? splits in kernel == "reference" ? new int?[] { null } : [1, 3])
            {
                gpu.AttentionKvSplits = splits;
                output.WriteLine($"{kernel}: {gpu.PlanAttention(Batch, Seq, Heads, Hd, Hd, Seq).KernelName} splits {splits}");
                AssertSameBits(gpu.Download(gpu.AttentionPackedValue(written.Q, written.K, written.Packed, 0.11f)),
                    gpu.Download(gpu.AttentionQueryOnLoad(onLoad, 0.11f)), $"{kernel}: attn1, split-KV {splits}");
                var (expected, actual) = (Bf16(gpu, 10, Batch, Seq, Heads, Hd), Bf16(gpu, 10, Batch, Seq, Heads, Hd));
                gpu.AttentionAddScaledInto(expected, headScale, written.Q, captionKey, captionValue, 0.2f, mask);
                gpu.AttentionAddScaledIntoQueryOnLoad(actual, headScale, onLoad.Query, captionKey, captionValue, 0.2f, mask);
                AssertSameBits(gpu.Download(expected), gpu.Download(actual), $"{kernel}: attn2 added into, split-KV {splits}");
            }
        }
        finally
        {
            (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention, gpu.AttentionKvSplits) = (savedVariant, savedReference, savedSplits);
        }
    }

    /// <summary>hd 128 (DP 128: each vector loads its parameters after Q has landed, not before): attn1's bits, m128 and m64.</summary>
    [SkippableFact]
    public void At_head_width_128_the_query_normalised_on_load_gives_the_bits_of_q_written()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        var savedVariant = gpu.FlashAttentionVariant;
        try
        {
            const int seq = 140, heads = 2, kvHeads = 1, hd = 128, pairs = 64;
            var part = new QkvPart(Bf16(gpu, 21, 1, seq, (heads + 2 * kvHeads) * hd), Bf16(gpu, 22, heads * hd), Bf16(gpu, 23, kvHeads * hd),
                Bf16(gpu, 24, heads * hd), Bf16(gpu, 25, kvHeads * hd));
            var cos = gpu.Upload(TestData.Random(seq * pairs, 26), new Shape(seq, pairs));
            var sin = gpu.Upload(TestData.Random(seq * pairs, 27), new Shape(seq, pairs));
            var written = gpu.PrepareQueryKey(part, heads, kvHeads, hd, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads);
            var onLoad = gpu.PrepareKeyQueryStatistics(part, heads, kvHeads, hd, 1e-5f, cos, sin);
            foreach (var variant in FlashVariant.All)
            {
                gpu.FlashAttentionVariant = variant;
                AssertSameBits(gpu.Download(gpu.AttentionPackedValue(written.Q, written.K, written.Packed, 0.09f)),
                    gpu.Download(gpu.AttentionQueryOnLoad(onLoad, 0.09f)), $"{variant.Name}: hd 128");
            }
        }
        finally
        {
            gpu.FlashAttentionVariant = savedVariant;
        }
    }
}
