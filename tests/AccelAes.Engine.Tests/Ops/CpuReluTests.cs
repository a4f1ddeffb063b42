using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Ops;

/// <summary>Relu (original T5's feed-forward) against max(x, 0).</summary>
public class CpuReluTests
{
    private readonly CpuBackend _cpu = new();

    [Fact]
    public void Relu_is_max_of_x_and_zero_and_keeps_nan()
    {
        float[] x = [.. TestData.Random(1000, 7, -3f, 3f), float.NaN, 0f, -0f, float.NegativeInfinity, float.PositiveInfinity];
        float[] got = _cpu.Download(_cpu.Relu(_cpu.Upload(x, new Shape(5, 201))));
        Assert.Equal(x.Length, got.Length);
        for (int i = 0; i < x.Length; i++)
        {
            if (float.IsNaN(x[i])) Assert.True(float.IsNaN(got[i]));
            else Assert.Equal(Math.Max(x[i], 0f), got[i]);
        }
    }
}
