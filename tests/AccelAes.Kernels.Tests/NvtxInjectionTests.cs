using System.Diagnostics;
using System.Runtime.InteropServices;
using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels.Tests;

/// <summary>
/// The NVTX v3 injection protocol against a fake profiler tool (NvtxFakeTool/fake_tool.c, compiled here with gcc)
/// that attaches the way Nsight does: getExportTable → callbacks table → every module's function table → writes
/// its RangePushA / RangePop / MarkA into the CORE slots. <see cref="Nvtx"/> itself binds once per process from the
/// environment, so these tests drive the same code through <see cref="NvtxInjection.TryInitialize"/> and
/// <see cref="Nvtx.Bind(string?, Func{LibraryLoadResult})"/> with an explicit path instead of setting the variable.
/// The tests share one set of process-wide slots, so they live in one class (xunit runs a class's tests in sequence).
/// </summary>
public sealed unsafe class NvtxInjectionTests(NvtxInjectionTests.FakeTools tools) : IClassFixture<NvtxInjectionTests.FakeTools>
{
    [SkippableFact]
    public void AttachedTool_ReceivesPushesPopsAndMarksInOrder()
    {
        tools.Require();
        var result = NvtxInjection.TryInitialize(tools.Working);
        Assert.True(result.Attached, result.Reason);
        Assert.Null(result.Reason);
        Assert.True(result.Binding.IsAvailable);

        // The tool walked all six modules (sizes, null ends, empty slots), saw version 3, and set its own version.
        Assert.Equal("version:3\nattached\n", ReadLog(tools.Working));
        Assert.Equal(3u, NvtxInjection.ToolVersion);

        Reset(tools.Working);
        var binding = result.Binding;
        var longName = "mark " + new string('x', 300); // heap buffer path
        Assert.Equal(0, binding.Push("outer"));
        Assert.Equal(1, binding.Push("inner µs ✓")); // UTF-8 on the wire
        binding.Mark(longName);
        Assert.Equal(1, binding.Pop());
        binding.Mark("between");
        Assert.Equal(0, binding.Pop());
        Assert.Equal($"push:outer\npush:inner µs ✓\nmark:{longName}\npop\nmark:between\npop\n", ReadLog(tools.Working));
    }

    [SkippableFact]
    public void NvtxBind_PrefersTheInjectionVariable_OverLibnvToolsExt()
    {
        tools.Require();
        var binding = Nvtx.Bind(tools.Working, () => throw new InvalidOperationException("libnvToolsExt must not be probed"));
        Assert.True(binding.IsAvailable);
        Assert.Equal("NVTX v3 injection: " + tools.Working, binding.Description);
        Reset(tools.Working);
        using (new Scope(binding, "phase"))
            binding.Mark("inside");
        Assert.Equal("push:phase\nmark:inside\npop\n", ReadLog(tools.Working));
    }

    [Fact]
    public void BadPath_IsACleanNoOp_WithAReason()
    {
        var path = Path.Combine(Path.GetTempPath(), "accelaes-no-such-dir", "libnvtx-injection.so");
        var result = NvtxInjection.TryInitialize(path);
        Assert.False(result.Attached);
        Assert.Contains(path, result.Reason);
        Assert.Contains("could not be loaded", result.Reason);
        AssertNoOp(result.Binding);

        var bound = Nvtx.Bind(path, () => throw new InvalidOperationException("a failed injection does not fall back"));
        Assert.Equal(result.Reason, bound.Description);
        AssertNoOp(bound);
    }

    [SkippableFact]
    public void LibraryWithoutTheEntryPoint_IsACleanNoOp_WithAReason()
    {
        tools.Require();
        var result = NvtxInjection.TryInitialize(tools.NoEntry);
        Assert.False(result.Attached);
        Assert.Contains("does not export InitializeInjectionNvtx2", result.Reason);
        AssertNoOp(result.Binding);
    }

    [SkippableFact]
    public void ToolThatDeclines_LeavesNoSlotsFilled()
    {
        tools.Require();
        var attached = NvtxInjection.TryInitialize(tools.Working); // slots filled by a good tool first
        Assert.True(attached.Binding.IsAvailable);

        // This one writes the CORE slots and then returns 0: everything it wrote must be dropped (it is unloaded).
        var result = NvtxInjection.TryInitialize(tools.Declines);
        Assert.False(result.Attached);
        Assert.Contains("returned 0", result.Reason);
        AssertNoOp(result.Binding);
        AssertNoOp(attached.Binding); // same process-wide slots
    }

    [Fact]
    public void WithoutTheVariable_LibnvToolsExtIsTried()
    {
        var probed = false;
        using var dir = new TempDirectory();
        var binding = Nvtx.Bind(null, () =>
        {
            probed = true;
            return NativeLibraries.Probe(CudaLibrary.Nvtx, dir.Path);
        });
        Assert.True(probed);
        if (binding.IsAvailable)
            Assert.StartsWith("libnvToolsExt: ", binding.Description);
        else
        {
            Assert.Contains("is not set and libnvToolsExt is not loaded", binding.Description);
            AssertNoOp(binding);
        }
    }

    private static void AssertNoOp(NvtxBinding binding)
    {
        Assert.False(binding.IsAvailable);
        Assert.Equal(-1, binding.Push("ignored"));
        binding.Mark("ignored");
        Assert.Equal(-1, binding.Pop());
    }

    private static string ReadLog(string tool)
    {
        var handle = NativeLibrary.Load(tool); // the same, already loaded, instance
        try
        {
            var log = ((delegate* unmanaged<byte*>)NativeLibrary.GetExport(handle, "fake_tool_log"))();
            return Marshal.PtrToStringUTF8((nint)log)!;
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }

    private static void Reset(string tool)
    {
        var handle = NativeLibrary.Load(tool);
        try
        {
            ((delegate* unmanaged<void>)NativeLibrary.GetExport(handle, "fake_tool_reset"))();
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }

    private readonly struct Scope : IDisposable
    {
        private readonly NvtxBinding _binding;

        public Scope(NvtxBinding binding, string name)
        {
            _binding = binding;
            binding.Push(name);
        }

        public void Dispose() => _binding.Pop();
    }

    /// <summary>The fake tool compiled three ways, once per test run, into a temp folder.</summary>
    public sealed class FakeTools : IDisposable
    {
        private readonly TempDirectory _dir = new();
        private readonly string? _error;

        public FakeTools()
        {
            Working = _dir.File("libfake_nvtx_tool.so");
            NoEntry = _dir.File("libfake_nvtx_tool_no_entry.so");
            Declines = _dir.File("libfake_nvtx_tool_declines.so");
            if (!OperatingSystem.IsLinux())
            {
                _error = "the fake NVTX tool is built for Linux only";
                return;
            }
            var source = Path.Combine(AppContext.BaseDirectory, "NvtxFakeTool", "fake_tool.c");
            _error = Compile(source, Working, "")
                     ?? Compile(source, NoEntry, "-DFAKE_TOOL_NO_ENTRY")
                     ?? Compile(source, Declines, "-DFAKE_TOOL_INIT_FAILS");
        }

        public string Working { get; }
        public string NoEntry { get; }
        public string Declines { get; }

        /// <summary>Skips locally, fails under CI, when the tool could not be built.</summary>
        public void Require()
        {
            if (_error is null)
                return;
            if (Requirements.InCi && OperatingSystem.IsLinux())
                Assert.Fail("CI is set, and CI must be able to build the fake NVTX tool with gcc: " + _error);
            Skip.If(true, "fake NVTX tool not built: " + _error);
        }

        private static string? Compile(string source, string output, string define)
        {
            var start = new ProcessStartInfo("gcc")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var arg in new[] { "-shared", "-fPIC", "-O1", "-Wall", "-Werror", define, "-o", output, source, "-lpthread" })
                if (arg.Length > 0)
                    start.ArgumentList.Add(arg);
            try
            {
                using var process = Process.Start(start)!;
                var stderr = process.StandardError.ReadToEndAsync();
                var stdout = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
                return process.ExitCode == 0 ? null : $"gcc {define} exited with {process.ExitCode}: {stdout}{stderr.Result}";
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                return "gcc could not be started: " + e.Message;
            }
        }

        public void Dispose() => _dir.Dispose();
    }
}
