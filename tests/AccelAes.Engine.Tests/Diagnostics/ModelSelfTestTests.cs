using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tiny;

namespace AccelAes.Engine.Tests.Diagnostics;

/// <summary>
/// The harness of `accelaes selftest`'s model part, checked on the CPU: its cases cover every tiny model, their inputs
/// are valid for every component class, and a device that computes wrongly fails.
/// </summary>
public class ModelSelfTestTests
{
    [Fact]
    public void Cases_CoverEveryComponentClassOfTheTinyModels_AndEachBackbone()
    {
        var cases = ModelSelfTest.Cases();
        var names = cases.Select(c => c.Name).ToList();
        // Components equal in class and config are checked once (e.g. a VAE shared by several tiny models).
        foreach (var component in TinyModels.All.SelectMany(s => s.Components))
            Assert.Contains(cases, c => c.Component.ClassName == component.ClassName && c.Component.ConfigJson == component.ConfigJson);
        foreach (string arch in new[] { "sd3", "sd35", "lumina-next", "flux" })
            Assert.Contains($"Forward[{arch}/transformer]", names);
        Assert.Contains(names, n => n.Contains("/vae]", StringComparison.Ordinal));
        Assert.Contains(names, n => n.Contains("/text_encoder", StringComparison.Ordinal));
        Assert.Equal(names.Count, names.Distinct().Count());
    }

    [Fact]
    public void TheCpuAgainstItself_PassesEveryCase_WithZeroError()
    {
        using var a = new CpuBackend();
        using var b = new CpuBackend();
        var results = ModelSelfTest.RunAll(a, b, seed: 11);
        Assert.Equal(ModelSelfTest.Cases().Count, results.Count);
        Assert.All(results, r =>
        {
            Assert.True(r.Passed, r.ToString());
            Assert.Equal(0, r.RelativeL2);
            Assert.NotEmpty(r.WorstOutput);
        });
    }

    [Fact]
    public void TheBf16StorageReference_KeepsTheDistanceSumsInFp32_AsTheDeviceWritesThem()
    {
        using var cpu = new CpuBackend();
        using var storage = new Bf16StorageBackend(cpu);
        // 257 bf16 ones against bf16 zeros: both sums are 257, which bf16 cannot hold (it would round to 256).
        byte[] ones = new byte[2 * 257];
        for (int i = 0; i < 257; i++) { ones[2 * i] = 0x80; ones[2 * i + 1] = 0x3F; }
        var a = storage.UploadWeight(ones, DType.BF16, new Shape(257));
        var b = storage.UploadWeight(new byte[2 * 257], DType.BF16, new Shape(257));
        Assert.Equal([257f, 0f], storage.Download(storage.AbsDifferenceSums(a, b)));
        Assert.Equal([257f, 257f], storage.Download(storage.AbsDifferenceSums(b, a)));
    }

    [Fact]
    public void TheBf16StorageReference_RoundsEveryOpOutput_AndCostsTheVaeMoreThanItsWeightsAlone()
    {
        using var cpu = new CpuBackend();
        using var storage = new Bf16StorageBackend(cpu);
        float[] values = [1.2345678f, -3.3333333f, 1e-3f, 7.77777f];
        var x = storage.Upload(values, new Shape(1, 4));
        // fp32 inputs and dtype-following ops stay fp32, as on the device (a timestep of 737.3 must not become 736) ...
        Assert.Equal(values.Select(v => v * 1000f), storage.Download(storage.Scale(x, 1000f)));
        // ... ops that always write bf16 on the device are rounded.
        var y = storage.RmsNorm(x, 1e-6f);
        foreach (float v in storage.Download(y))
            Assert.Equal(AccelAes.Kernels.BFloat16Bits.Round(v), v);
        Assert.NotEqual(cpu.Download(cpu.RmsNorm(cpu.Upload(values, new Shape(1, 4)), 1e-6f)), storage.Download(y));

        // A decoder rounds its activations after each of dozens of ops: more than its weights alone cost, which is
        // what the bound (2 × this) has to allow for a device that stores bf16.
        using var reference = new CpuBackend();
        var vae = ModelSelfTest.RunAll(cpu, reference, seed: 3, filter: c => c.Name.Contains("/vae]", StringComparison.Ordinal));
        Assert.NotEmpty(vae);
        Assert.All(vae, r =>
        {
            Assert.True(r.Bf16StorageError > r.Bf16WeightError, r.ToString());
            Assert.Equal(Math.Max(ModelSelfTest.RelativeL2Bound, 2 * r.Bf16StorageError), r.Bound, 12);
        });
    }

    [Fact]
    public void ADeviceWithAWrongLinear_FailsTheTransformerForwards()
    {
        using var cpu = new CpuBackend();
        using var faulty = new ScaledLinearBackend(new CpuBackend());
        // Every backbone: the bf16-storage reference must keep the bound tight enough to catch it on each.
        var results = ModelSelfTest.RunAll(faulty, cpu, seed: 5, filter: c => c.Name.Contains("/transformer]", StringComparison.Ordinal));
        Assert.True(results.Count >= 4, string.Join("; ", results.Select(x => x.Name)));
        Assert.All(results, r =>
        {
            Assert.False(r.Passed, r.ToString());
            Assert.True(r.RelativeL2 > r.Bound, r.ToString());
            Assert.Null(r.Error);
        });
    }

    [Fact]
    public void NaNInTheDeviceOutput_IsAnInfiniteError()
    {
        var (rel, max) = ModelSelfTest.Compare([1f, 2f], [1f, float.NaN]);
        Assert.Equal(double.PositiveInfinity, rel);
        Assert.Equal(double.PositiveInfinity, max);
        Assert.Equal((0.5, 1.0), ModelSelfTest.Compare([0f, 2f], [0f, 3f]));
    }

    /// <summary>A "device" whose Linear is 5 % too large: the kind of error a wrong GEMM epilogue makes.</summary>
    private sealed class ScaledLinearBackend(IBackend inner) : DelegatingBackend(inner, ownsInner: true)
    {
        protected override T Call<T>(string op, Func<T> run)
        {
            T result = run();
            return op == nameof(Linear) && result is Tensor t ? (T)(object)Inner.Scale(t, 1.05f) : result;
        }
    }
}
