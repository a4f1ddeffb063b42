using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.WeightSources;

/// <summary>The fp8 decorator quantises Linear weight matrices only, and hands the backend the dequantised values.</summary>
public class Fp8QuantizedWeightSourceTests
{
    private sealed class HostWeights(Dictionary<string, float[]> tensors) : IWeightSource
    {
        public string Description => "test weights";

        public bool Contains(string name) => tensors.ContainsKey(name);

        public IEnumerable<string> Names => tensors.Keys;

        public Tensor Load(string name, Shape shape, IBackend backend) => backend.Upload(tensors[name], shape);
    }

    private static float[] Random(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    [Fact]
    public void Linear_weights_are_quantised_per_output_channel_and_everything_else_is_kept()
    {
        var tensors = new Dictionary<string, float[]>
        {
            ["blocks.0.attn.to_q.weight"] = Random(6 * 5, 1),
            ["blocks.0.attn.to_q.bias"] = Random(6, 2),
            ["blocks.0.norm.weight"] = Random(5, 3),
            ["pos_embed.proj.weight"] = Random(4 * 2 * 2 * 2, 4),
            ["shared.weight"] = Random(7 * 5, 5),
        };
        var shapes = new Dictionary<string, Shape>
        {
            ["blocks.0.attn.to_q.weight"] = new(6, 5), ["blocks.0.attn.to_q.bias"] = new(6), ["blocks.0.norm.weight"] = new(5),
            ["pos_embed.proj.weight"] = new(4, 2, 2, 2), ["shared.weight"] = new(7, 5),
        };
        var fp8 = new Fp8QuantizedWeightSource(new HostWeights(tensors));
        using var cpu = new CpuBackend();
        foreach (var (name, values) in tensors)
        {
            float[] loaded = cpu.Download(fp8.Load(name, shapes[name], cpu));
            if (name != "blocks.0.attn.to_q.weight")
            {
                Assert.Equal(values, loaded); // bit for bit
                continue;
            }
            var codes = new byte[values.Length];
            var scales = new float[6];
            Assert.True(Float8Quantizer.QuantizeRows(values, 5, codes, scales));
            var expected = new float[values.Length];
            Float8Quantizer.DequantizeRows(codes, scales, 5, expected);
            Assert.Equal(expected, loaded);
            Assert.NotEqual(values, loaded);
            for (int r = 0; r < 6; r++)
            {
                var row = values.AsSpan(r * 5, 5).ToArray();
                float max = row.Max(Math.Abs);
                // The row maximum comes back as 448 · (max / 448): max up to the fp32 rounding of the scale.
                Assert.Equal(max, loaded.AsSpan(r * 5, 5).ToArray().Max(Math.Abs), max * 2e-7f);
                for (int c = 0; c < 5; c++) // e4m3 keeps 3 mantissa bits: relative error ≤ 2^-4 for normals, subnormals step s·2^-9
                    Assert.True(Math.Abs(loaded[r * 5 + c] - row[c]) <= Math.Max(Math.Abs(row[c]) / 16, max / 448 * Math.Pow(2, -10)) * 1.0001,
                        $"row {r} column {c}: {row[c]} → {loaded[r * 5 + c]}");
            }
        }
    }

    [Fact]
    public void A_weight_with_a_NaN_is_refused_naming_it()
    {
        var fp8 = new Fp8QuantizedWeightSource(new HostWeights(new() { ["proj_out.weight"] = [1f, float.NaN] }));
        using var cpu = new CpuBackend();
        var e = Assert.Throws<WeightShapeException>(() => fp8.Load("proj_out.weight", new Shape(1, 2), cpu));
        Assert.Contains("'proj_out.weight'", e.Message);
        Assert.Contains("--weights fp8", e.Message);
    }
}
