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

Task("Test")
    .IsDependentOn("Build")
    .Does(() =>
{
    DotNetTest(solution, new DotNetTestSettings
    {
        Configuration = configuration,
        NoBuild = true,
        Loggers = new[] { "console;verbosity=normal" },
    });
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
