using System.Diagnostics;

namespace AccelAes.Cli.Tests;

/// <summary>Runs the `accelaes` command in a child process, exactly as a user would.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Output, string Error)
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
        string dll = Path.Combine(AppContext.BaseDirectory, "accelaes.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = "200"; // wide tables, so messages are not wrapped mid-word
        foreach (var (name, value) in environment)
        {
            if (value.Length == 0) psi.Environment.Remove(name);
            else psi.Environment[name] = value;
        }
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"accelaes {string.Join(' ', args)} did not finish in {timeout.TotalMinutes:0} minutes.");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
