using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>
/// The residual-path ops of issue 16 on the CPU reference, against a naive double-precision formula: the gated residual of
/// a Linear, and Lumina's tanh-gated residual of an RMSNorm.
/// </summary>
public class CpuResidualPathTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed), new Shape(dims));

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void LinearAddGatedInPlace_adds_the_gated_product_per_batch_item(bool withGate, bool withBias)
    {
        const int batch = 2, seq = 5, k = 7, n = 6;
        var residual = Rand(1, batch, seq, n);
        var x = Rand(2, batch, seq, k);
        var w = Rand(3, n, k);
        var b = withBias ? Rand(4, n) : null;
        var g = withGate ? Rand(5, batch, n) : null;
        float[] r0 = _cpu.Download(residual), xd = _cpu.Download(x), wd = _cpu.Download(w);
        float[]? bd = b is null ? null : _cpu.Download(b), gd = g is null ? null : _cpu.Download(g);

        _cpu.LinearAddGatedInPlace(residual, x, w, b, g);

        var want = new float[r0.Length];
        for (int bi = 0; bi < batch; bi++)
            for (int s = 0; s < seq; s++)
                for (int j = 0; j < n; j++)
                {
                    int row = bi * seq + s;
                    double y = bd?[j] ?? 0;
                    for (int p = 0; p < k; p++) y += (double)xd[row * k + p] * wd[j * k + p];
                    double gate = gd?[bi * n + j] ?? 1;
                    want[row * n + j] = (float)(r0[row * n + j] + gate * y);
                }
        TestData.AssertClose(want, _cpu.Download(residual), 1e-5, $"gate {withGate}, bias {withBias}");
    }

    [Fact]
    public void LinearAddGatedInPlace_names_a_residual_that_is_not_the_products_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => _cpu.LinearAddGatedInPlace(Rand(1, 2, 5, 4), Rand(2, 2, 5, 7), Rand(3, 6, 7), null, null));
        Assert.Contains("residual [2, 5, 4]", e.Message);
    }

    [Fact]
    public void RmsNormAddTanhGatedInPlace_adds_the_tanh_gated_normalised_rows()
    {
        const int batch = 2, seq = 3, d = 8;
        const float eps = 1e-5f;
        var residual = Rand(6, batch, seq, d);
        var y = Rand(7, batch, seq, d);
        var w = Rand(8, d);
        var g = Rand(9, batch, d);
        float[] r0 = _cpu.Download(residual), yd = _cpu.Download(y), wd = _cpu.Download(w), gd = _cpu.Download(g);

        _cpu.RmsNormAddTanhGatedInPlace(residual, y, eps, w, g);

        var want = new float[r0.Length];
        for (int row = 0; row < batch * seq; row++)
        {
            double ms = 0;
            for (int c = 0; c < d; c++) ms += (double)yd[row * d + c] * yd[row * d + c];
            double rstd = 1 / Math.Sqrt(ms / d + eps);
            for (int c = 0; c < d; c++)
                want[row * d + c] = (float)(r0[row * d + c] + Math.Tanh(gd[row / seq * d + c]) * yd[row * d + c] * rstd * wd[c]);
        }
        TestData.AssertClose(want, _cpu.Download(residual), 1e-5, "tanh-gated RMSNorm residual");
    }

    [Fact]
    public void RmsNormAddTanhGatedThenModulate_is_the_update_then_the_modulated_norm_of_the_updated_rows()
    {
        var (r1, r2) = (Rand(10, 2, 3, 8), Rand(10, 2, 3, 8));
        var (y, w, g, w2, scale) = (Rand(11, 2, 3, 8), Rand(12, 8), Rand(13, 2, 8), Rand(14, 8), Rand(15, 2, 8));

        float[] fused = _cpu.Download(_cpu.RmsNormAddTanhGatedThenModulate(r1, y, 1e-5f, w, g, 1e-6f, w2, scale, null));
        _cpu.RmsNormAddTanhGatedInPlace(r2, y, 1e-5f, w, g);
        float[] twoOps = _cpu.Download(_cpu.RmsNormModulate(r2, 1e-6f, w2, scale, null));

        Assert.Equal(twoOps, fused);
        Assert.Equal(_cpu.Download(r2), _cpu.Download(r1));
        Assert.NotEqual(_cpu.Download(Rand(10, 2, 3, 8)), _cpu.Download(r1)); // the residual was updated
    }
}
