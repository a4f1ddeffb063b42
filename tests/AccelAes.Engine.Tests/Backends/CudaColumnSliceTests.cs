using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using Xunit.Abstractions;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// LinearInto and AttentionInto on the CUDA backend (issue 16's first fusion): the slice holds, bit for bit, what the
/// same device's Linear / Attention write (the kernels are the same; only the output address and row stride change),
/// and the columns around it are untouched. New tensors are poisoned with NaN, so an unwritten element fails.
/// The bf16 rule against the CPU reference is the op harness's (OpSelfTest's LinearInto / AttentionInto cases).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaColumnSliceTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    private static float[] Random(int n, int seed) => TestData.Random(n, seed);

    /// <summary>A bf16 tensor (UploadWeight converts fp32 on the device).</summary>
    private static Tensor Bf16(CudaBackend gpu, int seed, params int[] dims)
    {
        var shape = new Shape(dims);
        return gpu.UploadWeight(MemoryMarshal.AsBytes(Random(shape.ElementCount, seed).AsSpan()), DType.F32, shape);
    }

    /// <summary>
    /// gemm.cu always; cuBLASLt on the emulator's fake cuBLASLt (deterministic). On a real cuBLASLt the heuristic may pick
    /// another algorithm for the wider D layout, so only the harness's bf16 rule applies there.
    /// </summary>
    [SkippableTheory]
    [InlineData(false, Activation.None)]
    [InlineData(false, Activation.GeluTanh)]
    [InlineData(false, Activation.Silu)]
    [InlineData(true, Activation.None)]
    [InlineData(true, Activation.GeluTanh)]
    [InlineData(true, Activation.Silu)]
    public void LinearInto_slices_hold_linears_bits_and_together_equal_the_concatenation(bool cublasLt, Activation activation)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        Skip.If(cublasLt && !FakeCublasLt.IsLoaded, "bit-exactness across D layouts is only defined for a deterministic GEMM (the emulator's)");
        using var gpu = new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, UseCublasLt = cublasLt });
        output.WriteLine(gpu.GemmEngine);
        var x = Bf16(gpu, 1, 2, 37, 40);
        var w0 = Bf16(gpu, 2, 24, 40);
        var w1 = Bf16(gpu, 3, 72, 40);
        var b1 = Bf16(gpu, 4, 72);
        var dest = gpu.Allocate(new Shape(2, 37, 96));
        gpu.LinearInto(dest, 0, x, w0, null);
        gpu.LinearInto(dest, 24, x, w1, b1, activation);
        var expected = gpu.Concat(2, gpu.Linear(x, w0, null), gpu.Linear(x, w1, b1, activation));
        AssertSameBits(gpu.Download(expected), gpu.Download(dest), $"LinearInto {activation} on {gpu.GemmEngine}");
    }

    public static TheoryData<string> Kernels => new([.. FlashVariant.All.Select(v => v.Name), "reference"]);

    [SkippableTheory]
    [MemberData(nameof(Kernels))]
    public void AttentionInto_slice_holds_attentions_bits_and_the_columns_around_it_are_untouched(string kernel)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var gpu = fixture.Backend!;
        var (savedVariant, savedReference) = (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention);
        try
        {
            gpu.ForceReferenceAttention = kernel == "reference";
            if (kernel != "reference") gpu.FlashAttentionVariant = FlashVariant.Parse(kernel);
            // Head dims 64 and 128 (FLUX's), with a key mask and a tail tile; the attention columns sit between others.
            foreach (var (b, sq, sk, h, d, masked) in new[] { (2, 70, 90, 3, 64, true), (1, 130, 130, 2, 128, false) })
            {
                var q = Bf16(gpu, 11, b, sq, h, d);
                var k = Bf16(gpu, 12, b, sk, h, d);
                var v = Bf16(gpu, 13, b, sk, h, d);
                var mask = masked ? gpu.Upload(Random(b * sk, 14).Select(r => r < -0.5f ? 0f : 1f).ToArray(), new Shape(b, sk)) : null;
                var left = Bf16(gpu, 15, b, sq, 8);
                var right = Bf16(gpu, 16, b, sq, 5);
                float scale = 1f / MathF.Sqrt(d);
                var dest = gpu.Concat(2, left, gpu.Allocate(new Shape(b, sq, h * d)), right);
                gpu.AttentionInto(dest, 8, q, k, v, scale, mask);
                var expected = gpu.Concat(2, left, gpu.Attention(q, k, v, scale, mask).Reshape(b, sq, h * d), right);
                AssertSameBits(gpu.Download(expected), gpu.Download(dest), $"AttentionInto {kernel} H{h} D{d}");
            }
        }
        finally
        {
            (gpu.FlashAttentionVariant, gpu.ForceReferenceAttention) = (savedVariant, savedReference);
        }
    }
}
