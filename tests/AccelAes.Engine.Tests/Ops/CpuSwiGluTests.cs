using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>
/// The CPU reference of LinearSwiGlu (issue 16, Fusion 11): bit for bit the Linear of the joined weight and SiluMul it
/// replaces in Lumina's feed-forward (so the model's CPU numbers do not move), and SwiGLU's formula in double precision.
/// </summary>
public class CpuSwiGluTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -2f, 2f), new Shape(dims));

    [Fact]
    public void LinearSwiGlu_is_silu_mul_of_the_joined_linear_bit_for_bit()
    {
        var x = Rand(1, 2, 7, 12);
        var w = Rand(2, 2 * 10, 12);
        var y = _cpu.LinearSwiGlu(x, w);
        Assert.Equal(new Shape(2, 7, 10), y.Shape);
        Assert.Equal(_cpu.Download(_cpu.SiluMul(_cpu.Linear(x, w, null))), _cpu.Download(y));
    }

    [Fact]
    public void LinearSwiGlu_is_silu_of_the_gate_rows_times_the_up_rows()
    {
        int m = 3, k = 5, f = 4;
        var x = Rand(3, m, k);
        var w = Rand(4, 2 * f, k);
        float[] xs = _cpu.Download(x), ws = _cpu.Download(w), got = _cpu.Download(_cpu.LinearSwiGlu(x, w));
        var expected = new float[m * f];
        for (int r = 0; r < m; r++)
            for (int j = 0; j < f; j++)
            {
                double g = 0, u = 0;
                for (int p = 0; p < k; p++)
                {
                    g += (double)xs[r * k + p] * ws[j * k + p];
                    u += (double)xs[r * k + p] * ws[(f + j) * k + p];
                }
                expected[r * f + j] = (float)(g / (1 + Math.Exp(-g)) * u);
            }
        TestData.AssertClose(expected, got, 1e-5, "LinearSwiGlu");
    }

    [Fact]
    public void An_odd_weight_row_count_is_refused_naming_the_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => _cpu.LinearSwiGlu(Rand(5, 2, 8), Rand(6, 5, 8)));
        Assert.Contains("[5, 8]", e.Message);
        Assert.Contains("[2F, K]", e.Message);
    }
}
