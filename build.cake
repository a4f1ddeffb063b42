// Build script: `dotnet tool restore` then `dotnet cake --target=<Target>`.
// Targets: Build, Test (the test command of the README and CI), Publish (NativeAOT `accelaes`).

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

RunTarget(target);
