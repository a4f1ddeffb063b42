// Build script: `dotnet tool restore` then `dotnet cake --target=<Target>`.
// Targets: Build, Test (the test command of the README and CI), Publish (NativeAOT `accelaes`),
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

Task("NativeLib")
    .Description("NativeAOT build of the C ABI library (libaccelaes.so, linux-x64) into artifacts/native/linux-x64, where native/examples/Makefile links it from. The C ABI tests build it themselves.")
    .Does(() =>
{
    DotNetPublish("./native/AccelAes.Native/AccelAes.Native.csproj", new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = "linux-x64",
        OutputDirectory = "./artifacts/native/linux-x64",
    });
});

RunTarget(target);
