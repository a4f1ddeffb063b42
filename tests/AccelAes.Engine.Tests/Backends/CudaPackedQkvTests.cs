using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Tensors;
using Xunit.Abstractions;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Fusion 7 of issue 16 on the CUDA backend: attention reading q, k and v in place from a packed QKV buffer (row strides
/// W = (H + 2·Hkv)·hd instead of H·hd / Hkv·hd) gives, bit for bit, what the same kernel gives on contiguous copies — for
/// every flash variant, every head width path (16…128, 72 → 80) and the reference kernel (256), the element-wise loads
/// included (hd 20 and 12: rows not 16-byte aligned). LinearIntoRows fills the packed buffer with Linear's bits. The bf16
/// rule against the CPU reference is the op harness's (OpSelfTest's AttentionPacked / LinearIntoRows cases).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaPackedQkvTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    public static TheoryData<string> Kernels => new([.. FlashVariant.All.Select(v => v.Name), "reference"]);

    [SkippableTheory]
    [MemberData(nameof(Kernels))]
    public void Strided_q_k_v_give_the_bits_of_contiguous_copies(string kernel)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        var (savedVariant, savedReference) = (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention);
        try
        {
            gpu.ForceReferenceAttention = kernel == "reference";
            if (kernel != "reference") gpu.FlashAttentionVariant = FlashVariant.Parse(kernel);
            foreach (var (b, s, h, hkv, hd) in OpSelfTest.PackedAttentionShapes)
            {
                var packed = new PackedQkv(Bf16(gpu, 100 + hd, b, s, (h + 2 * hkv) * hd), h, hkv, hd);
                float scale = 1f / MathF.Sqrt(hd);
                var (q, k, v) = PackedQkvOp.Unpack(gpu, packed);
                var plan = gpu.PlanAttention(b, s, h, hd, hd);
                output.WriteLine($"{kernel} B{b} S{s} H{h}/{hkv} hd{hd}: {plan.KernelName}");
                AssertSameBits(gpu.Download(gpu.Attention(q, k, v, scale)), gpu.Download(gpu.AttentionPacked(packed, scale)),
                    $"AttentionPacked {plan.KernelName} B{b} S{s} H{h}/{hkv} hd{hd}");
            }
        }
        finally
        {
            (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention) = (savedVariant, savedReference);
        }
    }

    /// <summary>
    /// Two streams' GEMMs into one buffer by row ranges hold the bits of the concatenated Linears: gemm.cu always, cuBLASLt
    /// on the emulator's deterministic fake (K 40: x's item strides off the 256-byte alignment, so both row ranges take
    /// gemm.cu's batched entry; CudaStridedBatchTests has the aligned strided-batch matmul).
    /// </summary>
    [SkippableTheory]
    [InlineData(false, 128)]
    [InlineData(true, 128)]
    [InlineData(true, 24)]
    public void LinearIntoRows_fills_the_packed_buffer_with_the_concatenated_linears_bits(bool cublasLt, int n)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.If(cublasLt && !FakeCublasLt.IsLoaded, "bit-exactness across D layouts is only defined for a deterministic GEMM (the emulator's)");
        using var gpu = new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, UseCublasLt = cublasLt });
        var image = Bf16(gpu, 1, 2, 37, 40);
        var text = Bf16(gpu, 2, 2, 5, 40);
        var w0 = Bf16(gpu, 3, n, 40);
        var b0 = Bf16(gpu, 4, n);
        var w1 = Bf16(gpu, 5, n, 40);
        var buffer = gpu.Allocate(new Shape(2, 42, n));
        gpu.LinearIntoRows(buffer, 0, image, w0, b0);
        gpu.LinearIntoRows(buffer, 37, text, w1, null);
        var expected = gpu.Concat(1, gpu.Linear(image, w0, b0), gpu.Linear(text, w1, null));
        AssertSameBits(gpu.Download(expected), gpu.Download(buffer), $"LinearIntoRows N{n} on {gpu.GemmEngine}");
    }

    /// <summary>
    /// The in-place kernel gives q and k the bits of PrepareAttentionInputs' fused kernel on the same parts (one shared
    /// per-vector routine), and v keeps its bits; head widths 64, 128 (two parts, RoPE) and 256.
    /// </summary>
    [SkippableFact]
    public void PrepareAttentionInputsInPlace_gives_the_fused_kernels_bits_and_leaves_v()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        foreach (var (b, tokens, h, hkv, hd, pairs) in new[] { (2, new[] { 5, 9 }, 2, 2, 128, 64), (1, new[] { 7 }, 4, 2, 64, 16), (1, new[] { 3, 4 }, 2, 2, 256, 0) })
        {
            int s = tokens.Sum(), width = (h + 2 * hkv) * hd;
            var buffer = Bf16(gpu, 40 + hd, b, s, width);
            var norms = tokens.Select((_, p) => (Q: Bf16(gpu, 50 + p, hd), K: Bf16(gpu, 60 + p, hd))).ToArray();
            Tensor? cos = pairs > 0 ? gpu.Upload(TestData.Random(s * pairs, 70), new Shape(s, pairs)) : null;
            Tensor? sin = pairs > 0 ? gpu.Upload(TestData.Random(s * pairs, 71), new Shape(s, pairs)) : null;
            int start = 0;
            var parts = tokens.Select((n, p) =>
            {
                var part = new QkvPart(gpu.Slice(buffer, 1, start, n), norms[p].Q, norms[p].K);
                start += n;
                return part;
            }).ToArray();
            var expected = gpu.PrepareAttentionInputs(parts, h, hkv, hd, 1e-6f, cos, sin);
            var packed = new PackedQkv(buffer, h, hkv, hd);
            var v = gpu.Download(PackedQkvOp.Unpack(gpu, packed).V);
            gpu.PrepareAttentionInputsInPlace(packed, tokens.Select((n, p) => new QkvPartNorms(n, norms[p].Q, norms[p].K)).ToArray(), 1e-6f, cos, sin);
            var (q1, k1, v1) = PackedQkvOp.Unpack(gpu, packed);
            AssertSameBits(gpu.Download(expected.Q), gpu.Download(q1), $"q hd{hd}");
            AssertSameBits(gpu.Download(expected.K), gpu.Download(k1), $"k hd{hd}");
            AssertSameBits(v, gpu.Download(v1), $"v hd{hd}");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Kernels))]
    public void AttentionPackedInto_slice_holds_attention_packeds_bits(string kernel)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        var (savedVariant, savedReference) = (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention);
        try
        {
            gpu.ForceReferenceAttention = kernel == "reference";
            if (kernel != "reference") gpu.FlashAttentionVariant = FlashVariant.Parse(kernel);
            var packed = new PackedQkv(Bf16(gpu, 80, 2, 70, 3 * 2 * 64), 2, 2, 64);
            var left = Bf16(gpu, 81, 2, 70, 8);
            var right = Bf16(gpu, 82, 2, 70, 5);
            var dest = gpu.Concat(2, left, gpu.Allocate(new Shape(2, 70, 128)), right);
            gpu.AttentionPackedInto(dest, 8, packed, 0.125f);
            var expected = gpu.Concat(2, left, gpu.AttentionPacked(packed, 0.125f).Reshape(2, 70, 128), right);
            AssertSameBits(gpu.Download(expected), gpu.Download(dest), $"AttentionPackedInto {kernel}");
        }
        finally
        {
            (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention) = (savedVariant, savedReference);
        }
    }
}
