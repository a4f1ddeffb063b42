using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tiny;

namespace AccelAes.Engine.Tests.Generation;

/// <summary>The tiny pipeline folders (make-tiny output), written once for a test class and opened on demand.</summary>
public sealed class TinyPipelineFolders : IDisposable
{
    public static readonly string[] Architectures = ["sd3", "flux", "flux-schnell", "lumina-next"];

    private readonly TempDirectory _root = new();
    private readonly Dictionary<string, ITextToImagePipeline> _opened = new();

    public TinyPipelineFolders()
    {
        foreach (string arch in Architectures) TinyModels.Write(arch, Path(arch), seed: 3);
    }

    public CpuBackend Cpu { get; } = new();

    public string Path(string arch) => System.IO.Path.Combine(_root.Path, arch);

    /// <summary>The pipeline of <paramref name="arch"/>, opened once (pipelines are reusable between generations).</summary>
    public ITextToImagePipeline Open(string arch)
    {
        lock (_opened)
        {
            if (!_opened.TryGetValue(arch, out var pipeline))
                _opened[arch] = pipeline = TextToImage.Open(Path(arch), Cpu);
            return pipeline;
        }
    }

    /// <summary>A copy of a tiny folder the test may change.</summary>
    public string Copy(string arch, TempDirectory into)
    {
        string target = System.IO.Path.Combine(into.Path, arch);
        foreach (string file in Directory.EnumerateFiles(Path(arch), "*", SearchOption.AllDirectories))
        {
            string dest = System.IO.Path.Combine(target, System.IO.Path.GetRelativePath(Path(arch), file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(dest)!);
            File.Copy(file, dest);
        }
        return target;
    }

    public void Dispose() => _root.Dispose();
}
