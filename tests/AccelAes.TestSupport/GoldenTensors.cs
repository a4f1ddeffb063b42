using AccelAes.Loader.SafeTensors;

namespace AccelAes.TestSupport;

/// <summary>A tensor read from a golden file as fp32 (integer tensors converted exactly).</summary>
public sealed record GoldenTensor(int[] Shape, float[] Values);

/// <summary>Reads every tensor of a golden safetensors file into memory.</summary>
public static class GoldenTensors
{
    public static Dictionary<string, GoldenTensor> Load(string path)
    {
        using var file = SafeTensorsSet.OpenFile(path);
        var result = new Dictionary<string, GoldenTensor>(StringComparer.Ordinal);
        foreach (var t in file.Tensors)
        {
            int[] shape = t.Shape.Select(d => checked((int)d)).ToArray();
            float[] values = DTypeConversion.CanConvertToFloat32(t.DType)
                ? file.ReadAsFloat32(t.Name)
                : Array.ConvertAll(file.ReadAsInt64(t.Name), v => (float)v);
            result[t.Name] = new GoldenTensor(shape, values);
        }
        return result;
    }

    /// <summary>max |a − b| / max(1, max |expected|): the conformance bar of DESIGN.md §4 is ≤ 1e-4.</summary>
    public static double RelativeMaxError(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, maxRef = 1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - actual[i]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, d);
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return maxDiff / maxRef;
    }

    /// <summary>Asserts the conformance bar: max |ours − ref| ≤ 1e-4 · max(1, max |ref|).</summary>
    public static void AssertConforms(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, double bar = 1e-4)
    {
        double err = RelativeMaxError(expected, actual);
        Assert.True(err <= bar, $"{what}: max |ours − ref| / max(1, max|ref|) = {err:E3} > {bar:E1}");
    }
}
