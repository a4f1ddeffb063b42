using System.Diagnostics;

namespace AccelAes.Cli.Tests;

/// <summary>Runs the `accelaes` command in a child process, exactly as a user would.</summary>
internal static class CliRunner
{
    /// <param name="TimedOut">The run passed its time limit and was killed with its whole process tree (only <see cref="RunBounded"/> returns this).</param>
    public sealed record Result(int ExitCode, string Output, string Error, bool TimedOut = false)
    {
        public string All => Output + Error;
    }

    public static Result Run(params string[] args) => Run(new Dictionary<string, string>(), args);

    /// <summary>
    /// Runs with extra environment variables for the child process only (e.g. ACCELAES_CACHE_DIR, so tests never
    /// touch the user's cache); an empty value removes the variable.
    /// </summary>
    public static Result Run(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Run(environment, TimeSpan.FromMinutes(5), args);

    /// <summary>As <see cref="Run(IReadOnlyDictionary{string, string}, string[])"/>, for commands known to take longer than 5 minutes on a loaded 2-core machine.</summary>
    public static Result Run(IReadOnlyDictionary<string, string> environment, TimeSpan timeout, params string[] args)
    {
        var result = Start(null, environment, timeout, args);
        if (result.TimedOut)
            throw new TimeoutException($"accelaes {string.Join(' ', args)} did not finish in {timeout.TotalMinutes:0} minutes.");
        return result;
    }

    /// <summary>
    /// Runs in <paramref name="workingDirectory"/> and, past <paramref name="timeout"/>, kills the whole process tree
    /// and returns a result with <see cref="Result.TimedOut"/> set instead of throwing: for runs that may hang by
    /// design of the test (a FIFO given as a file), where the hang is the finding.
    /// </summary>
    public static Result RunBounded(string workingDirectory, IReadOnlyDictionary<string, string> environment, TimeSpan timeout, IReadOnlyList<string> args) =>
        Start(workingDirectory, environment, timeout, args);

    private static Result Start(string? workingDirectory, IReadOnlyDictionary<string, string> environment, TimeSpan timeout, IReadOnlyList<string> args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "accelaes.dll");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = workingDirectory is not null, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        psi.ArgumentList.Add(dll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = "200"; // wide tables, so messages are not wrapped mid-word
        foreach (var (name, value) in environment)
        {
            if (value.Length == 0) psi.Environment.Remove(name);
            else psi.Environment[name] = value;
        }
        using var process = Process.Start(psi)!;
        // Bounded runs get an empty stdin: a command that waits for input sees end of file, not the test's terminal.
        if (psi.RedirectStandardInput) process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(10));
            return new Result(-1, stdout.IsCompletedSuccessfully ? stdout.Result : "", stderr.IsCompletedSuccessfully ? stderr.Result : "", TimedOut: true);
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
