using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>LinearOfRowsAddGatedInPlace (Fusion 6, issue 16) on the CPU reference, against a naive double-precision formula.</summary>
public class CpuRowsGatedTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed), new Shape(dims));

    [Theory]
    [InlineData(0, 3, true, true)]
    [InlineData(3, 4, true, false)]
    [InlineData(2, 2, false, true)]
    public void It_adds_the_gated_product_of_the_rows_only(int start, int count, bool withGate, bool withBias)
    {
        const int batch = 2, seq = 7, k = 5, n = 6;
        var residual = Rand(1, batch, count, n);
        var x = Rand(2, batch, seq, k);
        var w = Rand(3, n, k);
        var b = withBias ? Rand(4, n) : null;
        var g = withGate ? Rand(5, batch, n) : null;
        float[] r0 = _cpu.Download(residual), xd = _cpu.Download(x), wd = _cpu.Download(w);
        float[]? bd = b is null ? null : _cpu.Download(b), gd = g is null ? null : _cpu.Download(g);

        _cpu.LinearOfRowsAddGatedInPlace(residual, x, start, count, w, b, g);

        var want = new float[r0.Length];
        for (int bi = 0; bi < batch; bi++)
            for (int s = 0; s < count; s++)
                for (int j = 0; j < n; j++)
                {
                    int source = bi * seq + start + s, target = (bi * count + s) * n + j;
                    double y = bd?[j] ?? 0;
                    for (int p = 0; p < k; p++) y += (double)xd[source * k + p] * wd[j * k + p];
                    want[target] = (float)(r0[target] + (gd?[bi * n + j] ?? 1) * y);
                }
        TestData.AssertClose(want, _cpu.Download(residual), 1e-5, $"rows [{start}, {start + count})");
    }

    [Fact]
    public void It_names_rows_outside_the_input_and_a_residual_of_another_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => _cpu.LinearOfRowsAddGatedInPlace(Rand(1, 1, 3, 4), Rand(2, 1, 4, 8), 2, 3, Rand(3, 4, 8), null, null));
        Assert.Contains("rows [2, 5) do not fit the 4 rows", e.Message);
        e = Assert.Throws<ArgumentException>(() => _cpu.LinearOfRowsAddGatedInPlace(Rand(1, 1, 3, 4), Rand(2, 1, 4, 8), 0, 2, Rand(3, 4, 8), null, null));
        Assert.Contains("residual [1, 3, 4] is not the product's shape [1, 2, 4]", e.Message);
    }
}
