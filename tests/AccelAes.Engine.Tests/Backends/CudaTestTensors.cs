using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// What the CUDA op tests share (imported with <c>using static</c>): random inputs uploaded as bf16 weights, and the
/// bit-for-bit comparison that a fused path and the path it replaces must pass.
/// </summary>
internal static class CudaTestTensors
{
    /// <summary><see cref="TestData.Random"/> values in [−1, 1), uploaded as a bf16 weight (rounded once, on upload).</summary>
    public static Tensor Bf16(CudaBackend gpu, int seed, params int[] dims)
    {
        var shape = new Shape(dims);
        return gpu.UploadWeight(MemoryMarshal.AsBytes(TestData.Random(shape.ElementCount, seed).AsSpan()), DType.F32, shape);
    }

    /// <summary>
    /// Every element of <paramref name="actual"/> has the bits of <paramref name="expected"/>; a failure names the first
    /// element that differs, both values and <paramref name="what"/> (which says what the expected values come from).
    /// </summary>
    public static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{what}: element {i} is {actual[i]}, expected {expected[i]}");
    }
}
