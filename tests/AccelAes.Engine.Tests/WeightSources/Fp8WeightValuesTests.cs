using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.WeightSources;

/// <summary>
/// <see cref="IBackend.UploadFp8Weight"/>'s default (what the CPU backend runs): the exactly dequantised weight,
/// decode(code) · scale of its row in fp32 — the semantics the CUDA backend's fp8 weights are held to.
/// </summary>
public class Fp8WeightValuesTests
{
    [Fact]
    public void The_cpu_backend_computes_with_the_exactly_dequantised_weight()
    {
        byte[] codes = [0x00, 0x01, 0x38, 0xB8, 0x7E, 0xFE]; // 0, the smallest subnormal 2^-9, 1, -1, 448, -448
        float[] scales = [0.5f, 3f];
        using var cpu = new CpuBackend();
        IBackend backend = cpu;
        float[] values = cpu.Download(backend.UploadFp8Weight(codes, scales, new Shape(2, 3)));
        Assert.Equal([0f, 0.5f * MathF.Pow(2, -9), 0.5f, -3f, 3f * 448, -3f * 448], values);
    }

    [Fact]
    public void An_fp8_weight_is_a_matrix_with_one_scale_per_row()
    {
        var rank = Assert.Throws<ArgumentException>(() => Fp8WeightValues.Dequantise(new byte[6], new float[2], new Shape(6)));
        Assert.Contains("[out, in]", rank.Message);
        var scales = Assert.Throws<ArgumentException>(() => Fp8WeightValues.Dequantise(new byte[6], new float[3], new Shape(2, 3)));
        Assert.Contains("one scale per output row (2)", scales.Message);
        var codes = Assert.Throws<ArgumentException>(() => Fp8WeightValues.Dequantise(new byte[5], new float[2], new Shape(2, 3)));
        Assert.Contains("5 fp8 codes do not fill", codes.Message);
    }
}
