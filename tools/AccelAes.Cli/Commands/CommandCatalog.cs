using System.CommandLine;

namespace AccelAes.Cli.Commands;

/// <summary>Every `accelaes` subcommand, in the order `--help` lists them.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All() =>
    [
        GenerateCommand.Create(),
        EvalCommand.Create(),
        ScoreCommand.Create(),
        TokenizeCommand.Create(),
        DenoiseCommand.Create(),
        ExplainCommand.Create(),
        PlanCommand.Create(),
        ForwardCommand.Create(),
        InspectCommand.Create(),
        MakeTinyCommand.Create(),
        BenchCommand.Create(),
        SelftestCommand.Create(),
        KernelsCommand.Create(),
    ];
}
