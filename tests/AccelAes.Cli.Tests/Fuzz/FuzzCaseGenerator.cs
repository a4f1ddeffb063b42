namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// Turns a case index into a case: the seed is a fixed function of the base seed and the index, and every choice
/// after it (how hostile the case is, the command, the model, its mutations, each argument, the environment) is
/// drawn from that seed alone.
/// </summary>
internal static class FuzzCaseGenerator
{
    public static int SeedOf(int baseSeed, int index) => unchecked(baseSeed * 1_000_003 + index * 7919 + 17);

    public static FuzzCase Generate(int baseSeed, int index, string caseRoot, string pristineModels)
    {
        int seed = SeedOf(baseSeed, index);
        var draw = new FuzzDraw(seed);
        // A quarter of the cases are fully valid (they must succeed or refuse cleanly), about half carry one fault,
        // so a failure points at it, and the rest pile faults up.
        string command = CommandArguments.PickCommand(draw);
        switch (draw.Int(0, 20))
        {
            case < 4: draw.NoFaults(); break;
            case < 14: draw.SingleFault(CommandArguments.FaultSites(command)); break;
            default: draw.ManyFaults(8, 0.3); break;
        }
        var workspace = new CaseWorkspace(caseRoot, pristineModels);
        string arch = draw.Pick(CommandArguments.Archs);
        var mutations = new List<string>();
        var arguments = new CommandArguments(draw, workspace, mutations);
        arguments.Build(command, arch);
        var environment = new Dictionary<string, string>();
        if (draw.Chance(0.1) && draw.Fault(FaultSite.Output))
        {
            string cache = draw.Pick(workspace.PlainFile, workspace.Fifo, workspace.Loop, Path.Combine(workspace.Root, "cache"), Path.Combine(workspace.PlainFile, "x"), " ");
            environment["ACCELAES_CACHE_DIR"] = cache;
            workspace.FolderOutput(cache);
        }
        return new FuzzCase
        {
            Index = index,
            Seed = seed,
            Command = command,
            Arguments = arguments.Arguments,
            Environment = environment,
            WorkingDirectory = workspace.WorkingDirectory,
            FileOutputs = workspace.FileOutputs,
            FolderOutputs = workspace.FolderOutputs,
            Inputs = workspace.Inputs,
            Mutations = mutations,
            Mode = draw.Mode,
        };
    }
}
