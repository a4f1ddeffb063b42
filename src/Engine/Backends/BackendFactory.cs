using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends;

/// <summary>Creates a backend by the name users type (<c>--backend cpu|cuda</c>).</summary>
public static class BackendFactory
{
    public static IReadOnlyList<string> Names { get; } = ["cpu", "cuda"];

    public static IBackend Create(string name, int device = 0) => name switch
    {
        "cpu" => new CpuBackend(),
        "cuda" => throw new AccelAesException("The CUDA backend is not available in this build yet; use --backend cpu."),
        _ => throw new AccelAesException($"Unknown backend '{name}'; choose one of: {string.Join(", ", Names)}."),
    };
}
