using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>
/// The CPU reference of LinearInto and AttentionInto (issue 16): the column slice holds exactly what Linear / Attention
/// return, every other column of the destination keeps its value, and a slice that does not fit is refused.
/// </summary>
public class CpuColumnSliceTests
{
    private readonly CpuBackend _cpu = new();

    private Tensor Rand(int seed, params int[] dims) => _cpu.Upload(TestData.Random(new Shape(dims).ElementCount, seed), new Shape(dims));

    /// <summary>Asserts columns [offset, offset + width) of every row of <paramref name="dest"/> equal <paramref name="slice"/>, the rest <paramref name="before"/>.</summary>
    private static void AssertSlice(float[] before, float[] dest, float[] slice, int columns, int offset, int width)
    {
        int rows = dest.Length / columns;
        Assert.Equal(rows * width, slice.Length);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                bool inside = c >= offset && c < offset + width;
                float expected = inside ? slice[r * width + c - offset] : before[r * columns + c];
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(dest[r * columns + c]),
                    $"row {r} column {c}: {dest[r * columns + c]}, expected {expected} ({(inside ? "slice" : "untouched")})");
            }
    }

    [Theory]
    [InlineData(0, Activation.None)]
    [InlineData(5, Activation.GeluTanh)]
    [InlineData(11, Activation.Silu)]
    public void LinearInto_writes_linears_values_into_the_slice_and_nothing_else(int offset, Activation activation)
    {
        var x = Rand(1, 2, 7, 12);
        var w = Rand(2, 9, 12);
        var b = Rand(3, 9);
        var dest = Rand(4, 2, 7, 20);
        float[] before = _cpu.Download(dest);
        _cpu.LinearInto(dest, offset, x, w, b, activation);
        AssertSlice(before, _cpu.Download(dest), _cpu.Download(_cpu.Linear(x, w, b, activation)), 20, offset, 9);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(6, true)]
    public void AttentionInto_writes_attentions_heads_side_by_side_into_the_slice(int offset, bool masked)
    {
        var q = Rand(1, 2, 5, 3, 8);
        var k = Rand(2, 2, 6, 3, 8);
        var v = Rand(3, 2, 6, 3, 8);
        var mask = masked ? _cpu.Upload([1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0], new Shape(2, 6)) : null;
        var dest = Rand(4, 2, 5, 40);
        float[] before = _cpu.Download(dest);
        _cpu.AttentionInto(dest, offset, q, k, v, 0.4f, mask);
        AssertSlice(before, _cpu.Download(dest), _cpu.Download(_cpu.Attention(q, k, v, 0.4f, mask)), 40, offset, 24);
    }

    [Fact]
    public void Allocate_gives_an_activation_tensor_of_the_shape()
    {
        var t = _cpu.Allocate(new Shape(2, 3, 4));
        Assert.Equal((new Shape(2, 3, 4), _cpu.ActivationType), (t.Shape, t.DType));
    }

    [Fact]
    public void A_slice_that_does_not_fit_or_rows_that_differ_are_refused_with_the_columns_named()
    {
        var x = Rand(1, 2, 7, 12);
        var w = Rand(2, 9, 12);
        var e = Assert.Throws<ArgumentException>(() => _cpu.LinearInto(Rand(4, 2, 7, 20), 12, x, w, null));
        Assert.Equal("LinearInto: columns [12, 21) do not fit the 20 columns of destination [2, 7, 20].", e.Message);
        Assert.Throws<ArgumentException>(() => _cpu.LinearInto(Rand(4, 2, 7, 20), -1, x, w, null));
        e = Assert.Throws<ArgumentException>(() => _cpu.LinearInto(Rand(4, 2, 6, 20), 0, x, w, null));
        Assert.Equal("LinearInto: destination [2, 6, 20] has 12 rows, the output has 14.", e.Message);
        var q = Rand(1, 1, 5, 2, 8);
        e = Assert.Throws<ArgumentException>(() => _cpu.AttentionInto(Rand(4, 1, 5, 20), 5, q, q, q, 1f));
        Assert.Equal("AttentionInto: columns [5, 21) do not fit the 20 columns of destination [1, 5, 20].", e.Message);
    }
}
