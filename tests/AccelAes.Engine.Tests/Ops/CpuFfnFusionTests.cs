using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>
/// The CPU references of issue 16's FFN-path ops: SiluMul against SwiGLU's formula in double precision, and both ops
/// bit for bit against the unfused ops they replace (so a model switched over keeps its CPU numbers).
/// </summary>
public class CpuFfnFusionTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -4f, 4f), new Shape(dims));

    [Fact]
    public void SiluMul_is_silu_of_the_first_half_times_the_second_half_per_row()
    {
        int rows = 6, f = 5;
        var x = Rand(1, 2, 3, 2 * f);
        float[] xs = _cpu.Download(x);
        var y = _cpu.SiluMul(x);
        Assert.Equal(new Shape(2, 3, f), y.Shape);
        float[] got = _cpu.Download(y);
        var expected = new float[rows * f];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < f; j++)
            {
                double g = xs[r * 2 * f + j], u = xs[r * 2 * f + f + j];
                expected[r * f + j] = (float)(g / (1 + Math.Exp(-g)) * u);
            }
        TestData.AssertClose(expected, got, 1e-5, "SiluMul");
    }

    [Fact]
    public void SiluMul_of_a_concatenated_gemm_equals_the_two_linears_it_replaces_bit_for_bit()
    {
        var x = Rand(2, 2, 7, 12);
        var w1 = Rand(3, 10, 12);
        var w3 = Rand(4, 10, 12);
        float[] unfused = _cpu.Download(_cpu.Multiply(_cpu.Linear(x, w1, null, Activation.Silu), _cpu.Linear(x, w3, null)));
        float[] fused = _cpu.Download(_cpu.SiluMul(_cpu.Linear(x, _cpu.Concat(0, w1, w3), null)));
        Assert.Equal(unfused, fused);
    }

    [Fact]
    public void SiluMul_refuses_an_odd_last_dimension_naming_the_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => _cpu.SiluMul(Rand(5, 3, 7)));
        Assert.Contains("[3, 7]", e.Message);
        Assert.Contains("even", e.Message);
    }

    [Fact]
    public void AddScaled_equals_add_of_the_broadcast_multiply_bit_for_bit()
    {
        var a = Rand(6, 2, 5, 3, 4);
        var b = Rand(7, 2, 5, 3, 4);
        var scale = Rand(8, 3, 4);
        Assert.Equal(_cpu.Download(_cpu.Add(a, _cpu.Multiply(b, scale))), _cpu.Download(_cpu.AddScaled(a, b, scale)));
    }

    [Fact]
    public void AddScaled_refuses_operands_of_different_shapes_and_a_scale_that_is_not_trailing()
    {
        Assert.Contains("differ", Assert.Throws<ArgumentException>(() => _cpu.AddScaled(Rand(1, 2, 4), Rand(2, 4, 2), Rand(3, 2))).Message);
        Assert.Contains("not a trailing part", Assert.Throws<ArgumentException>(() => _cpu.AddScaled(Rand(1, 2, 4), Rand(2, 2, 4), Rand(3, 2))).Message);
    }
}
