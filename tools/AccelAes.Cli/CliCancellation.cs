using System.Runtime.InteropServices;
using AccelAes.Loader.Files;

namespace AccelAes.Cli;

/// <summary>
/// Ctrl-C (SIGINT) cancels the running command cleanly: the first one cancels <see cref="Token"/>, which the long
/// loops (generate, denoise) check between steps, so the command unwinds, its writers delete their temporary files,
/// and the program prints "cancelled" and exits with <see cref="ExitCodes.Cancelled"/>. A command that is not
/// listening (one long forward, a benchmark) is ended after <see cref="Grace"/>, or at once by a second Ctrl-C —
/// its temporary outputs deleted first (<see cref="TemporaryOutputs"/>), so no partial file is ever left.
/// </summary>
internal static class CliCancellation
{
    /// <summary>How long a command gets to notice the cancellation before the process ends without it.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);

    private static readonly CancellationTokenSource Source = new();

    /// <summary>Cancelled by Ctrl-C.</summary>
    public static CancellationToken Token => Source.Token;

    /// <summary>Starts listening for SIGINT until the returned registration is disposed.</summary>
    public static IDisposable Listen() => PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
    {
        context.Cancel = true; // keep running: the command unwinds and cleans up itself
        if (Source.IsCancellationRequested)
        {
            ExitNow();
            return;
        }
        Source.Cancel();
        _ = Task.Delay(Grace).ContinueWith(_ => ExitNow(), TaskScheduler.Default);
    });

    /// <summary>What a cancelled run ends with, whichever way it ends: no temporary outputs, "cancelled", exit 130.</summary>
    public static int Finish()
    {
        TemporaryOutputs.DeleteAll();
        Console.Error.WriteLine("cancelled");
        return ExitCodes.Cancelled;
    }

    private static void ExitNow() => Environment.Exit(Finish());
}
