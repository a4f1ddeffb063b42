using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using Xunit.Abstractions;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Fusion 13 of issue 16 on the CUDA backend: Lumina's self-attention path — PrepareQueryKey (the attention-inputs kernels
/// with a null v) then AttentionPackedValue (v read in the packed QKV output with its row stride) — gives, bit for bit, what
/// the path it replaces gives: PrepareAttentionInputs (q, k and v copied out) then Attention. Every flash variant and the
/// reference kernel; a dense step (every query row), a sparse step (focus rows over every token's keys) and split-KV. The
/// bf16 rule against the CPU reference is the op harness's (OpSelfTest's PrepareQueryKey / AttentionPackedValue cases).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaPackedValueTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    public static TheoryData<string> Kernels => new([.. FlashVariant.All.Select(v => v.Name), "reference"]);

    /// <summary>Lumina's layout scaled down: GQA (H 4, Hkv 2), hd 72, LayerNorm across heads with biases, RoPE on 36 pairs.</summary>
    private static (QkvPart Part, Tensor Cos, Tensor Sin) LuminaPart(CudaBackend gpu, int batch, int seq)
    {
        const int heads = 4, kvHeads = 2, hd = 72, pairs = 36;
        var part = new QkvPart(Bf16(gpu, 1, batch, seq, (heads + 2 * kvHeads) * hd), Bf16(gpu, 2, heads * hd), Bf16(gpu, 3, kvHeads * hd),
            Bf16(gpu, 4, heads * hd), Bf16(gpu, 5, kvHeads * hd));
        return (part, gpu.Upload(TestData.Random(seq * pairs, 6), new Shape(seq, pairs)), gpu.Upload(TestData.Random(seq * pairs, 7), new Shape(seq, pairs)));
    }

    [SkippableTheory]
    [MemberData(nameof(Kernels))]
    public void Luminas_self_attention_reading_v_in_place_gives_todays_bits(string kernel)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        var (savedVariant, savedReference, savedSplits) = (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention, gpu.AttentionKvSplits);
        try
        {
            gpu.ForceReferenceAttention = kernel == "reference";
            if (kernel != "reference") gpu.FlashAttentionVariant = FlashVariant.Parse(kernel);
            const int batch = 2, seq = 40, focus = 9;
            var (part, cos, sin) = LuminaPart(gpu, batch, seq);
            var today = gpu.PrepareAttentionInputs([part], 4, 2, 72, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads);
            var now = gpu.PrepareQueryKey(part, 4, 2, 72, 1e-5f, cos, sin, QkNorm.LayerNormAcrossHeads);
            AssertSameBits(gpu.Download(today.Q), gpu.Download(now.Q), "q");
            AssertSameBits(gpu.Download(today.K), gpu.Download(now.K), "k");
            float scale = 0.11f;
            output.WriteLine($"{kernel}: dense {gpu.PlanAttention(batch, seq, 4, 72, 72, seq).KernelName}");
            AssertSameBits(gpu.Download(gpu.Attention(today.Q, today.K, today.V, scale)), gpu.Download(gpu.AttentionPackedValue(now.Q, now.K, now.Packed, scale)),
                $"{kernel}: every query row");
            // A sparse step: focus rows of q over every token's keys and values, unsplit and split over the keys.
            var focusQuery = gpu.Slice(now.Q, 1, 13, focus);
            foreach (int? splits in kernel == "reference" ? new int?[] { null } : [1, 3])
            {
                gpu.AttentionKvSplits = splits;
                output.WriteLine($"{kernel}: focus {gpu.PlanAttention(batch, focus, 4, 72, 72, seq).KernelName} splits {splits}");
                AssertSameBits(gpu.Download(gpu.Attention(focusQuery, today.K, today.V, scale)),
                    gpu.Download(gpu.AttentionPackedValue(focusQuery, now.K, now.Packed, scale)), $"{kernel}: {focus} focus rows, split-KV {splits}");
            }
        }
        finally
        {
            (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention, gpu.AttentionKvSplits) = (savedVariant, savedReference, savedSplits);
        }
    }

    /// <summary>The per-head RMSNorm kernel with a null v launches only the q/k rows: their bits are PrepareAttentionInputs' (hd 64 and 128, RoPE).</summary>
    [SkippableFact]
    public void PrepareQueryKey_with_per_head_rms_norms_gives_prepare_attention_inputs_bits()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        foreach (var (batch, seq, heads, kvHeads, hd, pairs) in new[] { (2, 7, 4, 2, 64, 16), (1, 5, 2, 2, 128, 64) })
        {
            var part = new QkvPart(Bf16(gpu, 10 + hd, batch, seq, (heads + 2 * kvHeads) * hd), Bf16(gpu, 11, hd), Bf16(gpu, 12, hd));
            var cos = gpu.Upload(TestData.Random(seq * pairs, 13), new Shape(seq, pairs));
            var sin = gpu.Upload(TestData.Random(seq * pairs, 14), new Shape(seq, pairs));
            var today = gpu.PrepareAttentionInputs([part], heads, kvHeads, hd, 1e-6f, cos, sin);
            var now = gpu.PrepareQueryKey(part, heads, kvHeads, hd, 1e-6f, cos, sin);
            AssertSameBits(gpu.Download(today.Q), gpu.Download(now.Q), $"q hd{hd}");
            AssertSameBits(gpu.Download(today.K), gpu.Download(now.K), $"k hd{hd}");
            AssertSameBits(gpu.Download(today.V), gpu.Download(now.Value()), $"v hd{hd}");
        }
    }
}
