using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>LayerNormModulate's and RmsNormModulate's CPU references against the textbook formulas, in double precision.</summary>
public class CpuLayerNormModulateTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed, -3f, 3f), new Shape(dims));

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void It_is_layernorm_without_affine_then_one_plus_scale_then_shift_per_batch_item(bool withScale, bool withShift)
    {
        int batch = 2, seq = 3, d = 10;
        const float eps = 1e-6f;
        var x = Rand(1, batch, seq, d);
        var scale = withScale ? Rand(2, batch, d) : null;
        var shift = withShift ? Rand(3, batch, d) : null;
        float[] xs = _cpu.Download(x);
        float[]? sc = scale is null ? null : _cpu.Download(scale);
        float[]? sh = shift is null ? null : _cpu.Download(shift);
        float[] got = _cpu.Download(_cpu.LayerNormModulate(x, eps, scale, shift));
        var expected = new float[got.Length];
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++)
            {
                int row = (b * seq + s) * d;
                double mean = 0, var = 0;
                for (int c = 0; c < d; c++) mean += xs[row + c];
                mean /= d;
                for (int c = 0; c < d; c++) var += (xs[row + c] - mean) * (xs[row + c] - mean);
                var /= d;
                for (int c = 0; c < d; c++)
                {
                    double y = (xs[row + c] - mean) / Math.Sqrt(var + eps);
                    if (sc is not null) y *= 1 + sc[b * d + c];
                    if (sh is not null) y += sh[b * d + c];
                    expected[row + c] = (float)y;
                }
            }
        TestData.AssertClose(expected, got, 1e-5, "LayerNormModulate");
    }

    [Theory]
    [InlineData(true, true, false)]
    [InlineData(false, true, true)]
    public void RmsNormModulate_is_rmsnorm_with_its_weight_then_one_plus_scale_then_shift(bool withWeight, bool withScale, bool withShift)
    {
        int batch = 2, seq = 3, d = 10;
        const float eps = 1e-5f;
        var x = Rand(1, batch, seq, d);
        var weight = withWeight ? Rand(4, d) : null;
        var scale = withScale ? Rand(2, batch, d) : null;
        var shift = withShift ? Rand(3, batch, d) : null;
        float[] xs = _cpu.Download(x);
        float[]? w = weight is null ? null : _cpu.Download(weight);
        float[]? sc = scale is null ? null : _cpu.Download(scale);
        float[]? sh = shift is null ? null : _cpu.Download(shift);
        float[] got = _cpu.Download(_cpu.RmsNormModulate(x, eps, weight, scale, shift));
        var expected = new float[got.Length];
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++)
            {
                int row = (b * seq + s) * d;
                double meanSquare = 0;
                for (int c = 0; c < d; c++) meanSquare += (double)xs[row + c] * xs[row + c];
                meanSquare /= d;
                for (int c = 0; c < d; c++)
                {
                    double y = xs[row + c] / Math.Sqrt(meanSquare + eps);
                    if (w is not null) y *= w[c];
                    if (sc is not null) y *= 1 + sc[b * d + c];
                    if (sh is not null) y += sh[b * d + c];
                    expected[row + c] = (float)y;
                }
            }
        TestData.AssertClose(expected, got, 1e-5, "RmsNormModulate");
    }

    [Fact]
    public void A_scale_of_the_wrong_batch_is_refused_as_modulate_refuses_it()
    {
        var e = Assert.Throws<ArgumentException>(() => _cpu.LayerNormModulate(Rand(1, 2, 3, 10), 1e-6f, Rand(2, 1, 10), null));
        Assert.Equal("Modulate scale [1, 10] must be [2, 10].", e.Message);
    }
}
