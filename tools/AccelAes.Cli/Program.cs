using System.CommandLine;
using AccelAes;
using AccelAes.Cli;
using AccelAes.Cli.Commands;
using AccelAes.Kernels.Compilation;
using Spectre.Console;

// The child side of isolated kernel compiles (ChildProcessCompilation): served before anything else starts, so a
// compiler crash in here ends only this child.
if (args.Length == 2 && args[0] == ChildProcessCompilation.CommandName)
    return ChildProcessCompilation.Serve(args[1], Console.Error);
// Every compile that runs ptxas happens in a child of this program: a compiler crash becomes an error, not an abort.
KernelCompiler.Isolation = ChildProcessCompilation.ForCurrentProcess();

var root = new RootCommand("AccelAes: a Diffusion Transformer inference engine (SD3 / SD3.5, FLUX.1, Lumina-Next) with the AccelAes acceleration method.");
foreach (Command command in CommandCatalog.All())
    root.Subcommands.Add(command);

ParseResult parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
        AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {error.Message}");
    AnsiConsole.MarkupLine("Run [bold]accelaes --help[/] for usage.");
    return ExitCodes.UsageError;
}

using var interrupt = CliCancellation.Listen();
try
{
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception) when (CliCancellation.Token.IsCancellationRequested)
{
    // Ctrl-C: the OperationCanceledException of a command that listened, or whatever the interruption caused on the
    // way out (a kernel-compile child process ends on the same SIGINT): the run was cancelled, and says so.
    return CliCancellation.Finish();
}
catch (AccelAes.Engine.Backends.GpuUnavailableException e)
{
    // Distinct from user errors, so scripts (tools/device-check.sh, CI) can tell "no GPU here" from a failure.
    AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
    return ExitCodes.NoGpu;
}
catch (AccelAesException e)
{
    // User-caused errors: the message names the cause; a stack trace would only hide it.
    AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
    return ExitCodes.UserError;
}
catch (Exception e)
{
    AnsiConsole.MarkupLine("[red]internal error[/] (please report it with the command line that caused it):");
    AnsiConsole.WriteLine(e.ToString());
    return ExitCodes.InternalError;
}
