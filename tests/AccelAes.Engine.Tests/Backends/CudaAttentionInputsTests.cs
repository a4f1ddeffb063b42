using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// PrepareAttentionInputs on the CUDA backend (issue 16's QKV path, qkv.cu) beyond the op harness's bf16 rule: v is the
/// parts' value columns bit for bit, q and k are rounded once (within half a bf16 ulp of the fp32 reference computed from
/// the same bf16 inputs), and without norms and tables q and k are the exact column slices, as the old Slice + Concat gave.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaAttentionInputsTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    private static Tensor Bf16(CudaBackend gpu, int seed, float magnitude, params int[] dims)
    {
        var shape = new Shape(dims);
        float[] values = TestData.Random(shape.ElementCount, seed, -magnitude, magnitude);
        return gpu.UploadWeight(MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, shape);
    }

    private static Tensor F32(CudaBackend gpu, int seed, params int[] dims) =>
        gpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -1f, 1f), new Shape(dims));

    /// <summary>
    /// (B, tokens per part, H, Hkv, hd, norms, RoPE pairs, norm kind): FLUX's double and single block, SD3.5's qk-norm, GQA,
    /// hd 72 and 256, SD3 (no norms); Lumina's attn1 (LayerNorm across heads with biases, GQA, hd 72) and a two-part LayerNorm.
    /// </summary>
    public static TheoryData<int, int[], int, int, int, bool, int, QkNorm> Shapes => new()
    {
        { 1, [5, 9], 3, 3, 128, true, 64, QkNorm.RmsPerHead },
        { 2, [11], 2, 2, 128, true, 56, QkNorm.RmsPerHead },
        { 2, [6, 3], 2, 2, 64, true, 0, QkNorm.RmsPerHead },
        { 1, [9], 4, 2, 32, true, 16, QkNorm.RmsPerHead },
        { 2, [3, 5], 2, 1, 72, true, 36, QkNorm.RmsPerHead },
        { 1, [4], 2, 2, 256, true, 128, QkNorm.RmsPerHead },
        { 2, [7, 4], 3, 3, 80, false, 0, QkNorm.RmsPerHead },
        { 2, [9], 4, 2, 72, true, 36, QkNorm.LayerNormAcrossHeads },
        { 1, [5, 3], 2, 2, 64, true, 32, QkNorm.LayerNormAcrossHeads },
    };

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void Q_and_k_are_rounded_once_and_v_is_copied_exactly(int batch, int[] tokens, int heads, int kvHeads, int hd, bool norms, int pairs, QkNorm kind)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var gpu = new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true });
        using var cpu = new CpuBackend();
        int width = (heads + 2 * kvHeads) * hd, seq = tokens.Sum();
        bool across = kind == QkNorm.LayerNormAcrossHeads;
        int qNorm = across ? heads * hd : hd, kNorm = across ? kvHeads * hd : hd;
        var parts = tokens.Select((n, i) => new QkvPart(Bf16(gpu, 10 + i, 3f, batch, n, width),
            norms ? Bf16(gpu, 20 + i, 1f, qNorm) : null, norms ? Bf16(gpu, 30 + i, 1f, kNorm) : null,
            norms && across ? Bf16(gpu, 50 + i, 1f, qNorm) : null, norms && across ? Bf16(gpu, 60 + i, 1f, kNorm) : null)).ToArray();
        Tensor? cos = pairs > 0 ? F32(gpu, 40, seq, pairs) : null, sin = pairs > 0 ? F32(gpu, 41, seq, pairs) : null;
        var device = gpu.PrepareAttentionInputs(parts, heads, kvHeads, hd, 1e-6f, cos, sin, kind);

        // The reference from the device's own (bf16) inputs, in fp32 on the CPU.
        Tensor OnCpu(Tensor? t) => cpu.Upload(gpu.Download(t!), t!.Shape);
        Tensor? OnCpuOptional(Tensor? t) => t is null ? null : OnCpu(t);
        var cpuParts = parts.Select(p => new QkvPart(OnCpu(p.Qkv), OnCpuOptional(p.NormQ), OnCpuOptional(p.NormK), OnCpuOptional(p.NormQBias),
            OnCpuOptional(p.NormKBias))).ToArray();
        var reference = cpu.PrepareAttentionInputs(cpuParts, heads, kvHeads, hd, 1e-6f, OnCpuOptional(cos), OnCpuOptional(sin), kind);

        foreach (var (name, dev, refT) in new[] { ("q", device.Q, reference.Q), ("k", device.K, reference.K), ("v", device.V, reference.V) })
        {
            Assert.Equal(refT.Shape, dev.Shape);
            Assert.Equal(DType.BF16, dev.DType);
            float[] d = gpu.Download(dev), r = cpu.Download(refT);
            bool exact = name == "v" || (!norms && pairs == 0);
            double worst = 0;
            for (int i = 0; i < d.Length; i++)
            {
                if (exact)
                {
                    Assert.True(BitConverter.SingleToInt32Bits(d[i]) == BitConverter.SingleToInt32Bits(r[i]), $"{name}[{i}] is {d[i]}, the input column holds {r[i]}");
                    continue;
                }
                // One rounding of an fp32 value: within half a bf16 ulp (2⁻⁸·|x| at most), plus fp32 summation-order noise.
                double err = Math.Abs(d[i] - r[i]), bound = Math.Abs(r[i]) * (1.0 / 256 + 1e-5) + 1e-6;
                worst = Math.Max(worst, err / bound);
                Assert.True(err <= bound, $"{name}[{i}] is {d[i]}, the fp32 reference {r[i]} (error {err:G3} > {bound:G3})");
            }
            output.WriteLine($"{name}: {(exact ? "bit-exact" : $"worst error / half-ulp bound {worst:F3}")}");
        }
    }

    /// <summary>
    /// LinearOfRows holds, bit for bit, what the same device's Slice then Linear give: per batch item the GEMM over those rows
    /// (gemm.cu always; the emulator's deterministic cuBLASLt; K 12 moves the rows off the 256-byte alignment: gemm.cu).
    /// </summary>
    [SkippableTheory]
    [InlineData(false, 16)]
    [InlineData(true, 16)]
    [InlineData(true, 12)]
    public void LinearOfRows_holds_slice_then_linears_bits(bool cublasLt, int k)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.If(cublasLt && !FakeCublasLt.IsLoaded, "bit-exactness across GEMM shapes is only defined for a deterministic GEMM (the emulator's)");
        using var gpu = new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, UseCublasLt = cublasLt });
        var x = Bf16(gpu, 1, 2f, 2, 37, k);
        var w = Bf16(gpu, 2, 1f, 24, k);
        var b = Bf16(gpu, 3, 1f, 24);
        foreach (var (start, count) in new[] { (0, 21), (21, 16), (5, 1) })
        {
            float[] expected = gpu.Download(gpu.Linear(gpu.Slice(x, 1, start, count), w, b));
            float[] actual = gpu.Download(gpu.LinearOfRows(x, start, count, w, b));
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                    $"rows {start}…{start + count}, element {i}: {actual[i]}, Slice + Linear gave {expected[i]}");
        }
        output.WriteLine($"{gpu.GemmEngine}: bit-exact");
    }
}
