using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace AccelAes.Native.Tests;

/// <summary>
/// Builds what the C ABI tests run, once for the whole assembly: libaccelaes.so (dotnet publish of native/AccelAes.Native,
/// NativeAOT, in this test assembly's configuration, into artifacts/native/linux-x64 — where the Makefiles look by
/// default), then ./host and ./abi_test (make + the system C compiler) into a temporary folder. The publish is
/// incremental: when nothing changed it takes seconds. Nothing here is optional: a missing C compiler or make, or a
/// failed publish, fails every test with the tool's output, so a CI run cannot pass without having run the C code.
/// </summary>
public sealed class NativeBuild : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Exception? _failure;

    public NativeBuild()
    {
        if (!Supported) return;
        try
        {
            RepoRoot = FindRepoRoot();
            LibraryDir = Path.Combine(RepoRoot, "artifacts", "native", Configuration == "Release" ? "linux-x64" : $"linux-x64-{Configuration}");
            Publish();
            BuildDir = _dir.Sub("bin");
            Make(Path.Combine(RepoRoot, "native", "examples"));
            Make(Path.Combine(RepoRoot, "native", "tests"));
            CacheDir = _dir.Sub("cache");
        }
        catch (Exception e)
        {
            _failure = e;
        }
    }

    /// <summary>What the publish and the Makefiles target. Other systems would need their own RID and compiler names.</summary>
    public static bool Supported => OperatingSystem.IsLinux() && RuntimeInformation.OSArchitecture == Architecture.X64;

    public static bool InCi => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));

    /// <summary>Release or Debug: the library is published as the tests were built.</summary>
    public static string Configuration { get; } =
        typeof(NativeBuild).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    public string RepoRoot { get; } = "";
    public string LibraryDir { get; } = "";
    public string BuildDir { get; } = "";

    /// <summary>ACCELAES_CACHE_DIR of the C programs: the built-in model is written here, never in the user's cache.</summary>
    public string CacheDir { get; } = "";

    public string Host => Path.Combine(BuildDir, "host");
    public string AbiTest => Path.Combine(BuildDir, "abi_test");
    public string Library => Path.Combine(LibraryDir, "libaccelaes.so");

    /// <summary>Called first by every test: skips (only off CI, on an unsupported platform) or fails with the build's error.</summary>
    public void Require()
    {
        if (!Supported)
        {
            string message = $"The C ABI tests build libaccelaes.so for linux-x64 with gcc; this is {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture}).";
            if (InCi) Assert.Fail("CI is set, and CI must run the C ABI tests: " + message);
            Skip.If(true, message);
        }
        if (_failure is not null)
            Assert.Fail($"Building the C ABI test programs failed (.ci/run installs gcc and make):\n{_failure.Message}");
    }

    /// <summary>Runs a built C program with ACCELAES_CACHE_DIR set to <see cref="CacheDir"/>.</summary>
    public ProcessResult Run(string program, params string[] args) =>
        ProcessResult.Run(program, args, workingDirectory: BuildDir, environment: new() { ["ACCELAES_CACHE_DIR"] = CacheDir }, timeout: TimeSpan.FromMinutes(5));

    private void Publish()
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        string project = Path.Combine(RepoRoot, "native", "AccelAes.Native", "AccelAes.Native.csproj");
        var r = ProcessResult.Run(dotnet,
            ["publish", project, "-c", Configuration, "-r", "linux-x64", "-o", LibraryDir, "-nologo", "-nodeReuse:false", "-p:UseSharedCompilation=false"],
            workingDirectory: RepoRoot,
            // The test host inherits MSBuild variables from `dotnet test`; a child build must find its own SDK.
            environment: new() { ["MSBuildExtensionsPath"] = "", ["MSBuildSDKsPath"] = "", ["MSBUILD_EXE_PATH"] = "", ["MSBuildLoadMicrosoftTargetsReadOnly"] = "" },
            timeout: TimeSpan.FromMinutes(10));
        if (r.ExitCode != 0 || !File.Exists(Library))
            throw new InvalidOperationException($"dotnet publish {project} -r linux-x64 failed (exit {r.ExitCode}):\n{r.All}");
    }

    private void Make(string folder)
    {
        var r = ProcessResult.Run("make",
            ["-C", folder, $"BUILD_DIR={BuildDir}", $"ACCELAES_LIB_DIR={LibraryDir}", "CC=gcc"],
            workingDirectory: folder, environment: [], timeout: TimeSpan.FromMinutes(2));
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"make -C {folder} failed (exit {r.ExitCode}):\n{r.All}");
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AccelAes.sln")) && Directory.Exists(Path.Combine(dir.FullName, "native")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"No AccelAes.sln with a native/ folder above {AppContext.BaseDirectory}.");
    }

    public void Dispose() => _dir.Dispose();
}

[CollectionDefinition(Name)]
public sealed class NativeCollection : ICollectionFixture<NativeBuild>
{
    public const string Name = "native";
}

/// <summary>The exit code and output of a child process.</summary>
public sealed record ProcessResult(int ExitCode, string Output, string Error)
{
    public string All => Output + Error;

    /// <summary>
    /// Runs <paramref name="program"/>; environment entries are set for the child only (an empty value removes the
    /// variable). A program that cannot be started (not installed) throws with its name.
    /// </summary>
    public static ProcessResult Run(string program, IEnumerable<string> args, string workingDirectory,
        Dictionary<string, string> environment, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment)
        {
            if (value.Length == 0) psi.Environment.Remove(name);
            else psi.Environment[name] = value;
        }
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"Cannot run '{program}': {e.Message}. Is it installed and on PATH?", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in {timeout.TotalMinutes} minutes.");
            }
            process.WaitForExit();
            return new ProcessResult(process.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
