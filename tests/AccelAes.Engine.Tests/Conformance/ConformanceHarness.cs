using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>Loads conformance models and golden tensors onto the CPU reference backend.</summary>
internal static class ConformanceHarness
{
    public static readonly CpuBackend Cpu = new();

    public static LoadedComponent LoadComponent(string folder, string? variant = null)
        => ComponentLoader.Load(ModelFolder.Open(GoldenFiles.At(folder)).Component("transformer"), Cpu, variant);

    public static Tensor Upload(GoldenTensor g) => Cpu.Upload(g.Values, new Shape(g.Shape));

    /// <summary>The golden tensors named <paramref name="names"/>, uploaded, keyed by the same names.</summary>
    public static Dictionary<string, Tensor> Inputs(Dictionary<string, GoldenTensor> golden, params string[] names)
        => names.ToDictionary(n => n, n => Upload(golden[n]));
}
