using System.Runtime.InteropServices;
using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels.Tests;

public class LibraryResolutionTests
{
    [Fact]
    public void NameTables_TryVersionedNamesNewestFirst()
    {
        Assert.Equal(["libcuda.so.1", "libcuda.so"], NativeLibraries.CandidateNames(CudaLibrary.Driver, OSPlatform.Linux));
        Assert.Equal(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"], NativeLibraries.CandidateNames(CudaLibrary.Nvrtc, OSPlatform.Linux));
        Assert.Equal(["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"], NativeLibraries.CandidateNames(CudaLibrary.CublasLt, OSPlatform.Linux));
        Assert.Equal(["libnvToolsExt.so.1", "libnvToolsExt.so"], NativeLibraries.CandidateNames(CudaLibrary.Nvtx, OSPlatform.Linux));
        Assert.Equal(["nvcuda.dll"], NativeLibraries.CandidateNames(CudaLibrary.Driver, OSPlatform.Windows));
        Assert.Equal(["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"], NativeLibraries.CandidateNames(CudaLibrary.Nvrtc, OSPlatform.Windows));
        Assert.Equal(["cublasLt64_13.dll", "cublasLt64_12.dll", "cublasLt64_11.dll"], NativeLibraries.CandidateNames(CudaLibrary.CublasLt, OSPlatform.Windows));
        Assert.Equal(["nvToolsExt64_1.dll"], NativeLibraries.CandidateNames(CudaLibrary.Nvtx, OSPlatform.Windows));
        Assert.Empty(NativeLibraries.CandidateNames(CudaLibrary.Driver, OSPlatform.OSX));
    }

    [Fact]
    public void EmptyOverrideDirectory_IsTriedFirst_ThenTheNameTable()
    {
        using var dir = new TempDirectory();
        var result = NativeLibraries.Probe(CudaLibrary.Nvrtc, dir.Path);
        var names = NativeLibraries.CandidateNames(CudaLibrary.Nvrtc);

        // First every name inside the override directory (absent), then the table through the OS search.
        var fromOverride = result.Attempts.TakeWhile(a => a.FromOverrideDirectory).ToArray();
        Assert.Equal(names.Select(n => Path.Combine(dir.Path, n)), fromOverride.Select(a => a.Candidate));
        Assert.All(fromOverride, a => Assert.Equal("no such file", a.Error));
        var fromTable = result.Attempts.Skip(fromOverride.Length).ToArray();
        Assert.NotEmpty(fromTable);
        Assert.Equal(names.Take(fromTable.Length), fromTable.Select(a => a.Candidate));
        Assert.Equal(dir.Path, result.OverrideDirectory);

        if (result.IsLoaded)
        {
            Assert.Contains(result.LoadedName, names);
            Assert.Null(fromTable[^1].Error);
            Assert.True(File.Exists(result.LoadedPath), $"reported path {result.LoadedPath} should be the real file");
            Assert.Contains("loaded", result.Describe());
        }
        else
        {
            Assert.False(Requirements.InCi, "CI must have NVRTC:\n" + result.Describe());
            var text = result.Describe();
            Assert.All(names, n => Assert.Contains(n, text));
            Assert.Contains(dir.Path, text);
        }
    }

    [SkippableFact]
    public void OverrideDirectory_WinsOverTheSystemLibrary()
    {
        Requirements.Nvrtc();
        Skip.IfNot(OperatingSystem.IsLinux(), "symlink-based test is Linux-only");
        var system = NativeLibraries.Load(CudaLibrary.Nvrtc);
        using var dir = new TempDirectory();
        // Expose the real library under the first (newest) name of the table: it must be taken from the directory.
        var alias = Path.Combine(dir.Path, NativeLibraries.CandidateNames(CudaLibrary.Nvrtc)[0]);
        File.CreateSymbolicLink(alias, system.LoadedPath!);
        var result = NativeLibraries.Probe(CudaLibrary.Nvrtc, dir.Path);
        Assert.True(result.IsLoaded, result.Describe());
        Assert.Equal(alias, result.LoadedName);
        Assert.Single(result.Attempts);
    }

    [SkippableFact]
    public void UnloadableFileInOverrideDirectory_IsReportedAndSkipped()
    {
        using var dir = new TempDirectory();
        var names = NativeLibraries.CandidateNames(CudaLibrary.Nvrtc);
        Skip.If(names.Count == 0, "no CUDA names on this OS");
        var bogus = Path.Combine(dir.Path, names[0]);
        File.WriteAllText(bogus, "this is not a shared library");
        var result = NativeLibraries.Probe(CudaLibrary.Nvrtc, dir.Path);
        var attempt = Assert.Single(result.Attempts, a => a.Candidate == bogus);
        Assert.NotNull(attempt.Error);
        Assert.NotEqual("no such file", attempt.Error);
        Assert.NotEqual(bogus, result.LoadedName);
    }

    [Fact]
    public void MissingLibrary_GivesCudaUnavailableException_ListingEveryAttempt()
    {
        // libcuda is absent on this machine and in CI; on a GPU machine there is nothing to test here.
        var result = NativeLibraries.Probe(CudaLibrary.Driver, "/nonexistent-accelaes-dir");
        if (result.IsLoaded)
            return;
        var e = new CudaUnavailableException(result);
        Assert.IsAssignableFrom<AccelAesException>(e);
        Assert.Equal(CudaLibrary.Driver, e.Library);
        foreach (var name in NativeLibraries.CandidateNames(CudaLibrary.Driver))
            Assert.Contains(name, e.Message);
        Assert.Contains("/nonexistent-accelaes-dir", e.Message);
        Assert.Contains(NativeLibraries.OverrideDirectoryVariable, e.Message);
    }

    [Fact]
    public void CublasLtCalls_WithoutTheLibrary_ThrowCudaUnavailable()
    {
        if (CublasLt.IsAvailable)
            return; // a machine with cuBLASLt: covered by the GPU selftest
        var e = Assert.Throws<CudaUnavailableException>(() => CublasLt.Create());
        Assert.Contains("libcublasLt", e.Message + string.Join(",", e.Attempts), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void RawDriverCall_WithoutLibcuda_ThrowsCudaUnavailable_NotDllNotFound()
    {
        if (NativeLibraries.IsAvailable(CudaLibrary.Driver))
            return; // a GPU machine: nothing to test here
        // No Require() in DeviceCount: the resolver itself reports what it tried.
        var e = Assert.Throws<CudaUnavailableException>(() => CudaDriver.DeviceCount());
        Assert.Contains("libcuda.so.1", e.Message + string.Join(",", e.Attempts));
    }

    [Fact]
    public void ShortLoadError_KeepsTheLoadersReason()
    {
        var message = "Unable to load shared library 'libcuda.so.1' or one of its dependencies. In order to help diagnose loading problems, " +
                      "consider using a tool like strace. If you're using glibc, consider setting the LD_DEBUG environment variable: \n" +
                      "libcuda.so.1: cannot open shared object file: No such file or directory";
        Assert.Equal("cannot open shared object file: No such file or directory", NativeLibraries.ShortLoadError("libcuda.so.1", message));
    }

    [Fact]
    public void Nvtx_IsSafeToCallWithOrWithoutTheLibrary()
    {
        using (Nvtx.Range("accelaes test range"))
            Nvtx.Mark("accelaes test mark " + new string('x', 300)); // long name: heap buffer path
        if (!Nvtx.IsAvailable)
            Assert.Equal(-1, Nvtx.Push("no library"));
        else
            Nvtx.Push("with library");
        Nvtx.Pop();
    }
}

/// <summary>Library versions newer than the driver are tried last.</summary>
public class DriverAwareProbeOrderTests
{
    [Fact]
    public void A12Driver_TriesThe12And11LibrariesBeforeCuda13()
    {
        var names = NativeLibraries.CandidateNames(CudaLibrary.Nvrtc, OSPlatform.Linux);
        Assert.Equal(["libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so", "libnvrtc.so.13"], NativeLibraries.OrderForDriver(names, 12080));
        var windows = NativeLibraries.CandidateNames(CudaLibrary.CublasLt, OSPlatform.Windows);
        Assert.Equal(["cublasLt64_12.dll", "cublasLt64_11.dll", "cublasLt64_13.dll"], NativeLibraries.OrderForDriver(windows, 12040));
    }

    [Fact]
    public void A13Driver_OrUnknownDriver_KeepsNewestFirst()
    {
        var names = NativeLibraries.CandidateNames(CudaLibrary.Nvrtc, OSPlatform.Linux);
        Assert.Equal(names, NativeLibraries.OrderForDriver(names, 13000));
        Assert.Equal(names, NativeLibraries.OrderForDriver(names, null));
    }

    [Theory]
    [InlineData("libnvrtc.so.13", 13)]
    [InlineData("libnvrtc.so.11.2", 11)]
    [InlineData("/opt/cuda/lib64/libcublasLt.so.12", 12)]
    [InlineData("nvrtc64_120_0.dll", 12)]
    [InlineData("nvrtc64_112_0.dll", 11)]
    [InlineData("cublasLt64_13.dll", 13)]
    [InlineData("libnvrtc.so", null)]
    public void CudaMajor_IsReadFromTheFileName(string name, int? major) => Assert.Equal(major, NativeLibraries.CudaMajorOf(name));
}
