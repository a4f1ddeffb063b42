using AccelAes.Kernels.Compilation;
using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels;

/// <summary>Per-kernel facts the driver reports after loading (registers as finally allocated, also for JIT-compiled PTX).</summary>
public sealed record KernelFunctionInfo(string Name, int Registers, int LocalBytesPerThread, int StaticSharedBytes, int MaxThreadsPerBlock, int PtxVersion, int BinaryVersion);

/// <summary>
/// A compiled module loaded into the current context, with its functions looked up by name. Unloads on
/// dispose. Needs a current context (<see cref="CudaContext"/>).
/// </summary>
public sealed class CudaModule : IDisposable
{
    private readonly Dictionary<string, CuFunction> _functions = new(StringComparer.Ordinal);
    private CuModule _module;

    private CudaModule(CuModule module, CompiledModule compiled)
    {
        _module = module;
        Compiled = compiled;
    }

    public CompiledModule Compiled { get; }

    /// <summary>Loads the PTX or CUBIN of <paramref name="compiled"/> (a PTX is JIT-compiled by the driver here).</summary>
    public static CudaModule Load(CompiledModule compiled)
    {
        var module = CudaDriver.ModuleLoadData(compiled.Image, $"loading {compiled.SourceFile} ({compiled.Architecture}, {compiled.ImageKind})");
        return new CudaModule(module, compiled);
    }

    /// <summary>The kernel <paramref name="name"/> (looked up once).</summary>
    public CuFunction Function(string name)
    {
        ObjectDisposedException.ThrowIf(_module.IsNull, this);
        if (!_functions.TryGetValue(name, out var function))
        {
            function = CudaDriver.ModuleGetFunction(_module, name);
            _functions[name] = function;
        }
        return function;
    }

    public KernelFunctionInfo Describe(string name)
    {
        var f = Function(name);
        int A(CuFunctionAttribute a) => CudaDriver.FunctionAttribute(f, a, $"{name}: {a}");
        return new KernelFunctionInfo(name, A(CuFunctionAttribute.NumRegs), A(CuFunctionAttribute.LocalSizeBytes),
            A(CuFunctionAttribute.SharedSizeBytes), A(CuFunctionAttribute.MaxThreadsPerBlock),
            A(CuFunctionAttribute.PtxVersion), A(CuFunctionAttribute.BinaryVersion));
    }

    /// <summary>Opts a kernel into more than 48 KiB of dynamic shared memory (up to the device's opt-in limit).</summary>
    public void SetMaxDynamicSharedMemory(string name, int bytes) =>
        CudaDriver.FunctionSetAttribute(Function(name), CuFunctionAttribute.MaxDynamicSharedSizeBytes, bytes, $"{name}: max dynamic shared memory {bytes}");

    public void Dispose()
    {
        if (_module.IsNull)
            return;
        var module = _module;
        _module = default;
        _functions.Clear();
        CudaDriver.ModuleUnload(module);
    }
}
