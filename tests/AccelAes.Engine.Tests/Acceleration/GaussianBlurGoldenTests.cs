using AccelAes.Engine.Acceleration.AesMask;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>Gaussian taps and reflect padding against conformance/aesmask/blur (the reference's two blur functions).</summary>
public class GaussianBlurGoldenTests
{
    public static TheoryData<string> Cases => AesMaskGoldens.CaseNames("blur", exclude: "taps");

    [GoldenTheory]
    [InlineData(1.0, "sigma1", 7)]
    [InlineData(1.5, "sigma1p5", 11)]
    public void Taps_and_2d_kernel_are_bitwise_the_references(double sigma, string key, int size)
    {
        var golden = GoldenTensors.Load(AesMaskGoldens.PathOf("blur", "taps"));
        Assert.Equal(size, GaussianBlur.KernelSize(sigma));
        float[] taps = GaussianBlur.Taps(sigma);
        AesMaskGoldens.AssertBitwise(golden["taps_" + key].Values, taps, $"taps σ={sigma}");
        AesMaskGoldens.AssertBitwise(golden["kernel2d_" + key].Values, GaussianBlur.Kernel2D(taps), $"2-D kernel σ={sigma}");
    }

    [GoldenTheory]
    [MemberData(nameof(Cases))]
    public void Padding_and_blur_match_the_reference_or_fail_like_it(string name)
    {
        var golden = GoldenTensors.Load(AesMaskGoldens.PathOf("blur", name));
        var input = golden["input"];
        Assert.Equal(2, input.Shape.Length);
        int rows = input.Shape[0], cols = input.Shape[1];
        foreach ((double sigma, string key) in new[] { (1.0, "sigma1"), (1.5, "sigma1p5") })
        {
            int pad = GaussianBlur.KernelSize(sigma) / 2;
            if (golden.TryGetValue("out_" + key, out GoldenTensor? expected))
            {
                AesMaskGoldens.AssertBitwise(golden["padded_" + key].Values, GaussianBlur.ReflectPad(input.Values, rows, cols, pad), $"{name} padded σ={sigma}");
                AesMaskGoldens.AssertClose(expected.Values, GaussianBlur.Blur(input.Values, rows, cols, sigma), 5e-7, $"{name} blur σ={sigma}");
            }
            else
            {
                // The reference raises (reflect padding must be smaller than the grid); so must we, naming the grid.
                Assert.True(pad >= rows || pad >= cols, $"{name}: no output for σ={sigma} although the grid {rows}×{cols} is large enough");
                var e = Assert.Throws<AccelAesException>(() => GaussianBlur.Blur(input.Values, rows, cols, sigma));
                Assert.Contains($"{rows} × {cols}", e.Message);
            }
        }
    }
}
