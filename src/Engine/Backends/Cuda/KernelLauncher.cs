using AccelAes.Kernels;
using AccelAes.Kernels.Compilation;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// One kernel argument as the 8 bytes cuLaunchKernel reads it from: a pointer, a 64-bit integer, or a 32-bit
/// int/float in the low 4 bytes (little-endian, so a 4-byte parameter reads exactly the value).
/// </summary>
internal readonly struct KernelArg
{
    public readonly ulong Bits;

    /// <summary>Bytes of the C# value (4: int, uint, float, bool; 8: long, ulong, pointer), checked against the kernel's parameter.</summary>
    public readonly byte Width;

    private KernelArg(ulong bits, byte width)
    {
        Bits = bits;
        Width = width;
    }

    public static implicit operator KernelArg(int value) => new((uint)value, 4);
    public static implicit operator KernelArg(uint value) => new(value, 4);
    public static implicit operator KernelArg(long value) => new((ulong)value, 8);
    public static implicit operator KernelArg(ulong value) => new(value, 8);
    public static implicit operator KernelArg(float value) => new(BitConverter.SingleToUInt32Bits(value), 4);
    public static implicit operator KernelArg(CuDevicePtr pointer) => new(pointer.Address, 8);
    public static implicit operator KernelArg(bool value) => new(value ? 1UL : 0UL, 4);
}

/// <summary>
/// Parameter widths of a kernel entry point, read from its declaration in the embedded source. cuLaunchKernel
/// reads as many parameters as the kernel declares, of the declared sizes, from whatever the argument array
/// holds: a missing argument or an int passed for a 64-bit parameter would be read as garbage on the GPU. So
/// the first launch of each kernel compares the arguments with the declaration and throws on a mismatch.
/// </summary>
public static class KernelSignature
{
    /// <summary>The width in bytes (4 or 8) of each parameter of <paramref name="kernel"/>.</summary>
    public static IReadOnlyList<int> Widths(string kernel)
    {
        var entry = KernelCatalog.Find(kernel) ?? throw new InvalidOperationException($"No kernel named {kernel} in the embedded sources.");
        var text = System.Text.RegularExpressions.Regex.Replace(KernelSources.Get(entry.SourceFile).Text, @"//[^\n]*|/\*.*?\*/", "",
            System.Text.RegularExpressions.RegexOptions.Singleline);
        var match = System.Text.RegularExpressions.Regex.Match(text,
            $@"extern\s+""C""\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+{kernel}\s*\(([^)]*)\)");
        if (!match.Success)
            throw new InvalidOperationException($"Cannot read the parameters of {kernel} from {entry.SourceFile}.");
        var widths = new List<int>();
        foreach (var raw in match.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string type = raw[..raw.LastIndexOfAny([' ', '*', '&'])].Replace("__restrict__", "").Replace("const", "").Trim();
            widths.Add(raw.Contains('*') ? 8 : type switch
            {
                "int" or "float" or "u32" or "unsigned" or "unsigned int" => 4,
                "u64" or "i64" or "long long" or "unsigned long long" => 8,
                _ => throw new InvalidOperationException($"{kernel}: parameter '{raw}' has a type the launcher does not know."),
            });
        }
        return widths;
    }
}

/// <summary>Launch-configuration arithmetic (pure; unit-tested without a GPU).</summary>
public static class LaunchConfig
{
    /// <summary>Threads per block of the grid-stride elementwise kernels.</summary>
    public const int ElementwiseBlock = 256;

    /// <summary>Blocks for a grid-stride loop over <paramref name="n"/> items: enough to cover n once, capped at
    /// <paramref name="maxBlocks"/> (a few waves per SM); 0 when there is nothing to do.</summary>
    public static uint GridStrideBlocks(ulong n, int block = ElementwiseBlock, uint maxBlocks = 65536)
    {
        if (n == 0)
            return 0;
        ulong blocks = (n + (ulong)block - 1) / (ulong)block;
        return (uint)Math.Min(blocks, maxBlocks);
    }

    /// <summary>Threads for a block-per-row reduction over rows of <paramref name="d"/> elements, <paramref name="perThread"/> per access:
    /// enough warps to give every thread work, between 32 and 1024 (or <paramref name="max"/>).</summary>
    public static int RowBlock(int d, int perThread = 1, int max = 256)
    {
        int threads = (int)Math.Min((long)max, Math.Max(32L, ((long)d / perThread + 31) / 32 * 32));
        return threads;
    }

    /// <summary>Blocks for a block-stride loop over <paramref name="rows"/> rows.</summary>
    public static uint RowGrid(ulong rows, uint maxBlocks = 1u << 20) => (uint)Math.Min(rows, maxBlocks);

    /// <summary>ceil(a / b) for positive b.</summary>
    public static long CeilDiv(long a, long b) => (a + b - 1) / b;
}

/// <summary>
/// Kernel modules of one device, compiled lazily (once per process, cached on disk by
/// <see cref="KernelCompiler"/>) and loaded into the current context on first use; launches by name.
/// </summary>
internal sealed unsafe class KernelLauncher : IDisposable
{
    private readonly KernelCompiler _compiler;
    private readonly KernelTargetPlan _plan;
    private readonly List<string> _targetNotes = [];
    private int _target;
    private readonly Dictionary<string, CudaModule> _modules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (CuFunction Function, int DynamicSharedLimit)> _functions = new(StringComparer.Ordinal);
    private readonly CuStream _stream;
    private readonly HashSet<string> _checked = new(StringComparer.Ordinal);

    /// <param name="driverVersion">cuDriverGetVersion's value (12080), which rules out targets the driver cannot load; null when unknown.</param>
    /// <param name="note">Told each target note as it is made (the backend's warnings).</param>
    public KernelLauncher(KernelCompiler compiler, ComputeCapability capability, int? driverVersion, CuStream stream, Action<string>? note = null)
    {
        _compiler = compiler;
        _plan = compiler.PlanTargets(capability, driverVersion);
        _note = note;
        foreach (var excluded in _plan.Excluded)
            AddNote("not used: " + excluded);
        _stream = stream;
    }

    private readonly Action<string>? _note;

    private void AddNote(string note)
    {
        _targetNotes.Add(note);
        _note?.Invoke("kernel target: " + note);
    }

    /// <summary>The target modules are compiled for now: the plan's first, or a later one after a refusal.</summary>
    public ArchitectureChoice Architecture => _plan.Targets[_target];

    /// <summary>Every target the plan ruled out and every switch to a later target, with the reason.</summary>
    public IReadOnlyList<string> TargetNotes => _targetNotes;

    /// <summary>What the compiler reported for each module loaded so far (cache outcome, time, registers).</summary>
    public IReadOnlyList<CompiledModule> LoadedModules => _modules.Values.Select(m => m.Compiled).ToArray();

    /// <summary>The operation context named in launch errors (set by the backend for each op).</summary>
    public Func<string>? Context { get; set; }

    public CuFunction Function(string kernel) => Resolve(kernel).Function;

    /// <summary>Launches <paramref name="kernel"/>; does nothing when the grid is empty.</summary>
    public void Launch(string kernel, Dim3 grid, Dim3 block, uint sharedBytes, params ReadOnlySpan<KernelArg> args)
    {
        if (grid.X == 0 || grid.Y == 0 || grid.Z == 0)
            return;
        var (function, limit) = Resolve(kernel);
        if (_checked.Add(kernel))
        {
            var widths = KernelSignature.Widths(kernel);
            bool ok = widths.Count == args.Length;
            for (int i = 0; ok && i < args.Length; i++)
                ok = widths[i] == args[i].Width;
            if (!ok)
            {
                _checked.Remove(kernel);
                var passed = new int[args.Length];
                for (int i = 0; i < args.Length; i++) passed[i] = args[i].Width;
                throw new InvalidOperationException(
                    $"{Context?.Invoke() ?? "?"}: kernel {kernel} declares parameters of ({string.Join(", ", widths)}) bytes, the launch passed ({string.Join(", ", passed)}).");
            }
        }
        if (sharedBytes > 48 * 1024 && sharedBytes > (uint)limit)
        {
            var module = _modules[KernelCatalog.Find(kernel)!.SourceFile];
            module.SetMaxDynamicSharedMemory(kernel, (int)sharedBytes);
            _functions[kernel] = (function, (int)sharedBytes);
        }
        ulong* values = stackalloc ulong[args.Length];
        void** pointers = stackalloc void*[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            values[i] = args[i].Bits;
            pointers[i] = &values[i];
        }
        try
        {
            CudaDriver.LaunchKernel(function, grid, block, sharedBytes, _stream, pointers, kernel);
        }
        catch (CudaException e)
        {
            throw new CudaException(e.Api, e.Call, e.Status, e.StatusName, e.Description,
                $"{Context?.Invoke() ?? "?"}: kernel {kernel} grid {grid} block {block} shared {sharedBytes} B");
        }
    }

    private (CuFunction Function, int DynamicSharedLimit) Resolve(string kernel)
    {
        if (_functions.TryGetValue(kernel, out var entry))
            return entry;
        var catalogEntry = KernelCatalog.Find(kernel)
            ?? throw new InvalidOperationException($"No kernel named {kernel} in the embedded sources.");
        if (!_modules.TryGetValue(catalogEntry.SourceFile, out var module))
        {
            module = LoadModule(catalogEntry.SourceFile);
            _modules[catalogEntry.SourceFile] = module;
        }
        entry = (module.Function(kernel), 48 * 1024);
        _functions[kernel] = entry;
        return entry;
    }

    /// <summary>
    /// Compiles and loads <paramref name="sourceFile"/> for the current target. When the driver refuses the image
    /// (a CUBIN for another GPU, a PTX ISA newer than the driver, JIT unavailable) or the compiler crashes, moves
    /// to the plan's next target for this module and every later one, and records why; modules already loaded
    /// keep the target they loaded with. Other failures (a source error, out of memory) are not retried.
    /// </summary>
    private CudaModule LoadModule(string sourceFile)
    {
        while (true)
        {
            var target = _plan.Targets[_target];
            try
            {
                return CudaModule.Load(_compiler.Compile(sourceFile, target.Architecture));
            }
            catch (Exception e) when (RefusalReason(e) is { } why && _target + 1 < _plan.Targets.Count)
            {
                var next = _plan.Targets[_target + 1];
                AddNote($"{sourceFile} for {target.Architecture} failed ({why}); switched to {next.Architecture}: {next.Reason}");
                _target++;
            }
        }
    }

    /// <summary>Why <paramref name="e"/> is a failure another target can avoid, or null when it is not.</summary>
    internal static string? RefusalReason(Exception e) => e switch
    {
        KernelCompilerCrashException crash => $"NVRTC {crash.NvrtcVersion} crashed: {crash.HowItEnded}",
        CudaException { Api: CudaApi.Driver } cuda when KernelTargetPlan.IsImageRefusal((CuResult)cuda.Status) =>
            $"the driver refused the image: {cuda.StatusName}",
        _ => null,
    };

    /// <summary>Registers, spills and shared memory per kernel of the modules loaded so far (from the driver).</summary>
    public IReadOnlyList<KernelFunctionInfo> Describe() =>
        _modules.Values.SelectMany(m => m.Compiled.Kernels.Select(m.Describe)).ToArray();

    public void Dispose()
    {
        foreach (var module in _modules.Values)
            module.Dispose();
        _modules.Clear();
        _functions.Clear();
    }
}
