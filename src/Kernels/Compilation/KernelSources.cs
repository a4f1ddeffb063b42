using System.Reflection;

namespace AccelAes.Kernels.Compilation;

/// <summary>One kernel source or header as embedded in the assembly (Cuda/*.cu, Cuda/*.cuh).</summary>
public sealed record KernelSource(string FileName, string Text)
{
    /// <summary>The op family: the file name without extension ("convert" for convert.cu).</summary>
    public string Family => Path.GetFileNameWithoutExtension(FileName);

    public bool IsHeader => FileName.EndsWith(".cuh", StringComparison.Ordinal);
}

/// <summary>The embedded kernel sources and headers.</summary>
public static class KernelSources
{
    private const string Prefix = "AccelAes.Kernels.Cuda.";
    private static readonly Lazy<IReadOnlyList<KernelSource>> s_all = new(ReadAll);

    /// <summary>Every .cu file, by name.</summary>
    public static IReadOnlyList<KernelSource> Files => s_all.Value.Where(s => !s.IsHeader).ToArray();

    /// <summary>Every .cuh header, by name; handed to NVRTC as in-memory headers so #include "x.cuh" resolves.</summary>
    public static IReadOnlyList<KernelSource> Headers => s_all.Value.Where(s => s.IsHeader).ToArray();

    /// <summary>The .cu file named <paramref name="fileName"/> ("binary.cu").</summary>
    public static KernelSource Get(string fileName) =>
        s_all.Value.FirstOrDefault(s => s.FileName == fileName)
        ?? throw new ArgumentException($"no embedded kernel source {fileName}; have {string.Join(", ", s_all.Value.Select(s => s.FileName))}", nameof(fileName));

    private static IReadOnlyList<KernelSource> ReadAll()
    {
        var assembly = typeof(KernelSources).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(n => new KernelSource(n[Prefix.Length..], Read(assembly, n)))
            .ToArray();
    }

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
