// Build script: `dotnet tool restore` then `dotnet cake --target=<Target>`.
// Targets: Build, Test (the test command of the README and CI), Publish (NativeAOT `accelaes`),
// DeviceKit (NativeAOT `accelaes` + tools/device-check.sh in devicekit/, the folder carried to a GPU machine),
// NativeLib (NativeAOT libaccelaes.so, the C ABI of native/include/accelaes.h).

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var solution = "./AccelAes.sln";

Task("Build")
    .Does(() =>
{
    DotNetBuild(solution, new DotNetBuildSettings { Configuration = configuration });
});

// The CUDA device tests: every test class in a `*.Tests.Cuda` namespace (the CUDA backend, its graphs, the model
// self-tests, the emulator's own driver tests, the CLI on the CUDA backend).
const string CudaTests = "FullyQualifiedName~.Tests.Cuda.";

// Test runs the suite in passes:
//  1. every test except the CUDA device tests;
//  2. the CUDA device tests on the CPU CUDA emulator (tests/AccelAes.Kernels.Tests/Emulator, built here with
//     build.py: g++ and python3), with ACCELAES_REQUIRE_CUDA=1 so that a device that does not come up fails them
//     instead of skipping them; compute capability 8.0 (FAKE_CUDA_CC);
//  3. the architecture-dependent CUDA tests (attention tiling follows the opt-in shared memory limit, kernels are
//     compiled for the device's sm_XX; the emulator's own checks) again at FAKE_CUDA_CC=8.6.
// --cuda=system runs pass 2 on the machine's own libcuda (a GPU machine) and skips pass 3; --cuda=none is one plain
// pass of everything (the CUDA tests then run on whatever driver is found, or skip).
// When the emulator cannot be built, CI (CI set) fails; elsewhere the passes are skipped with a warning.
var cuda = Argument("cuda", "emulator");
const string ArchitectureDependentCudaTests =
    "(FullyQualifiedName~.Tests.Cuda.CudaBackendTests&DisplayName~Attention)|FullyQualifiedName~.Tests.Cuda.CudaEmulatorTests";

string BuildCudaEmulator()
{
    var watch = System.Diagnostics.Stopwatch.StartNew();
    IEnumerable<string> stdout;
    int exit;
    try
    {
        exit = StartProcess("python3", new ProcessSettings
        {
            Arguments = "tests/AccelAes.Kernels.Tests/Emulator/build.py",
            RedirectStandardOutput = true,
        }, out stdout);
    }
    catch (Exception e)
    {
        throw new Exception($"the CUDA emulator needs python3 and g++ (.ci/install-c-toolchain.sh): {e.Message}", e);
    }
    if (exit != 0)
        throw new Exception($"building the CUDA emulator failed (build.py exit code {exit})");
    var dir = stdout.LastOrDefault(l => !string.IsNullOrWhiteSpace(l))?.Trim();
    if (dir is null || !System.IO.File.Exists(System.IO.Path.Combine(dir, "libcuda.so.1")))
        throw new Exception($"build.py did not produce libcuda.so.1 (it printed: {string.Join(" | ", stdout)})");
    Information($"CUDA emulator: {dir}/libcuda.so.1 ({watch.Elapsed.TotalSeconds:F0} s)");
    return dir;
}

void RunCudaTests(string title, string filter, IDictionary<string, string> environment)
{
    var watch = System.Diagnostics.Stopwatch.StartNew();
    Information($"{title}: dotnet test --filter \"{filter}\" with {string.Join(" ", environment.Select(e => e.Key + "=" + e.Value))}");
    var settings = new DotNetTestSettings
    {
        Configuration = configuration,
        NoBuild = true,
        Filter = filter,
        Loggers = new[] { "console;verbosity=normal" },
        EnvironmentVariables = new Dictionary<string, string>(environment) { ["ACCELAES_REQUIRE_CUDA"] = "1" },
        // A hang (an emulated kernel waiting on a barrier that never fills) fails the run with the hanging test's name.
        ArgumentCustomization = args => args.Append("--blame-hang-timeout 20m --blame-hang-dump-type none"),
    };
    try
    {
        DotNetTest(solution, settings);
    }
    finally
    {
        Information($"{title}: {watch.Elapsed.TotalSeconds:F0} s");
    }
}

Task("Test")
    .IsDependentOn("Build")
    .Does(() =>
{
    var total = System.Diagnostics.Stopwatch.StartNew();
    DotNetTest(solution, new DotNetTestSettings
    {
        Configuration = configuration,
        NoBuild = true,
        Filter = cuda == "none" ? null : "FullyQualifiedName!~.Tests.Cuda.",
        Loggers = new[] { "console;verbosity=normal" },
    });
    Information($"Tests without the CUDA device: {total.Elapsed.TotalSeconds:F0} s");

    if (cuda == "system")
    {
        RunCudaTests("CUDA tests on this machine's driver", CudaTests, new Dictionary<string, string>());
    }
    else if (cuda == "emulator")
    {
        string emulator;
        try
        {
            emulator = BuildCudaEmulator();
        }
        catch (Exception e) when (string.IsNullOrEmpty(EnvironmentVariable("CI")))
        {
            Warning($"CUDA tests NOT run: {e.Message}. (Under CI this fails the build.)");
            return;
        }
        RunCudaTests("CUDA tests on the CPU emulator, sm_80", CudaTests,
            new Dictionary<string, string> { ["ACCELAES_CUDA_LIB_DIR"] = emulator, ["FAKE_CUDA_CC"] = "8.0" });
        RunCudaTests("Architecture-dependent CUDA tests on the CPU emulator, sm_86", ArchitectureDependentCudaTests,
            new Dictionary<string, string> { ["ACCELAES_CUDA_LIB_DIR"] = emulator, ["FAKE_CUDA_CC"] = "8.6" });
    }
    else if (cuda != "none")
    {
        throw new Exception($"--cuda={cuda}: expected emulator (default), system or none");
    }
    Information($"Test: {total.Elapsed.TotalSeconds:F0} s in all");
});

Task("Publish")
    .Description("NativeAOT build of the `accelaes` command for linux-x64 into artifacts/accelaes.")
    .Does(() =>
{
    DotNetPublish("./tools/AccelAes.Cli/AccelAes.Cli.csproj", new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = "linux-x64",
        OutputDirectory = "./artifacts/accelaes",
        MSBuildSettings = new DotNetMSBuildSettings().WithProperty("PublishAot", "true"),
    });
});

// NativeAOT links with a C toolchain; ILCompiler calls `clang` unless told otherwise. Debian 12 machines may
// only have the versioned clang-14, or gcc: take the first that exists, or --linker=NAME.
string AotLinker()
{
    var chosen = Argument("linker", "");
    if (chosen != "") return chosen;
    foreach (var candidate in new[] { "clang", "clang-14", "gcc" })
        foreach (var dir in (EnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
            if (System.IO.File.Exists(System.IO.Path.Combine(dir, candidate))) return candidate;
    throw new Exception("NativeAOT needs a C toolchain (clang or gcc) on PATH; install one or pass --linker=NAME.");
}

Task("DeviceKit")
    .Description("devicekit/: the NativeAOT `accelaes` for linux-x64 and device-check.sh, everything a GPU machine without .NET needs.")
    .Does(() =>
{
    var kit = "./devicekit";
    if (DirectoryExists(kit)) DeleteDirectory(kit, new DeleteDirectorySettings { Recursive = true, Force = true });
    var linker = AotLinker();
    Information($"NativeAOT linker: {linker}");
    DotNetPublish("./tools/AccelAes.Cli/AccelAes.Cli.csproj", new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = "linux-x64",
        OutputDirectory = kit,
        MSBuildSettings = new DotNetMSBuildSettings()
            .WithProperty("PublishAot", "true")
            .WithProperty("CppCompilerAndLinker", linker)
            // Trim and AOT analysis warnings fail the kit: a warning there is a crash on the GPU machine.
            .WithProperty("TreatWarningsAsErrors", "true"),
    });
    CopyFile("./tools/device-check.sh", kit + "/device-check.sh");
    StartProcess("chmod", new ProcessSettings { Arguments = "+x " + kit + "/device-check.sh " + kit + "/accelaes" });
    Information("devicekit/ is ready: carry it to the GPU machine and run devicekit/device-check.sh $OUT (docs/perf/README.md).");
});

Task("NativeLib")
    .Description("NativeAOT build of the C ABI library (libaccelaes.so, linux-x64) into artifacts/native/linux-x64, where native/examples/Makefile links it from. The C ABI tests build it themselves.")
    .Does(() =>
{
    DotNetPublish("./native/AccelAes.Native/AccelAes.Native.csproj", new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = "linux-x64",
        OutputDirectory = "./artifacts/native/linux-x64",
        MSBuildSettings = new DotNetMSBuildSettings().WithProperty("CppCompilerAndLinker", AotLinker()),
    });
});

RunTarget(target);
