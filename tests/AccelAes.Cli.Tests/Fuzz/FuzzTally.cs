using System.Collections.Concurrent;
using System.Text;

namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>Counts outcomes per command and exit code, and collects every failing case for one final message.</summary>
internal sealed class FuzzTally
{
    /// <summary>A failed case: enough to read what happened and to reproduce it (index and seed).</summary>
    internal sealed record Failure(FuzzCase Case, IReadOnlyList<string> Problems, TimeSpan Elapsed);

    private readonly ConcurrentDictionary<(string Command, string Outcome), int> _counts = new();
    private readonly ConcurrentBag<Failure> _failures = [];
    private readonly ConcurrentBag<(int Index, string Line)> _log = [];
    private long _ticks;
    private int _cases;

    public int Cases => _cases;
    public int Succeeded => _counts.Where(c => c.Key.Outcome == "0").Sum(c => c.Value);
    public IReadOnlyList<Failure> Failures => [.. _failures.OrderBy(f => f.Case.Index)];

    public void Add(FuzzCase c, CliRunner.Result r, IReadOnlyList<string> problems, TimeSpan elapsed)
    {
        Interlocked.Increment(ref _cases);
        Interlocked.Add(ref _ticks, elapsed.Ticks);
        _counts.AddOrUpdate((c.Command, r.TimedOut ? "timeout" : r.ExitCode.ToString()), 1, (_, n) => n + 1);
        if (problems.Count > 0) _failures.Add(new Failure(c, problems, elapsed));
        _log.Add((c.Index, $"#{c.Index} {(r.TimedOut ? "timeout" : "exit " + r.ExitCode)} {elapsed.TotalSeconds:0.0}s [{c.Mode}] {c.CommandLine}" +
            string.Concat(c.Mutations.Select(m => "\n    mutation: " + m)) + (r.ExitCode == 0 ? "" : "\n    " + FuzzVerdict.FirstErrorLine(r))));
    }

    /// <summary>Every case, one entry each: outcome, time, command line, mutations, first error line (for checking what the generator draws).</summary>
    public string Log() => string.Join("\n", _log.OrderBy(l => l.Index).Select(l => l.Line));

    /// <summary>Cases run, mean time per case, and a command × exit code table.</summary>
    public string Summary(TimeSpan wall)
    {
        var text = new StringBuilder();
        text.AppendLine($"{_cases} cases in {wall.TotalSeconds:0} s wall, {TimeSpan.FromTicks(_ticks).TotalSeconds / Math.Max(1, _cases):0.0} s per case; {_failures.Count} failed");
        var outcomes = _counts.Keys.Select(k => k.Outcome).Distinct().OrderBy(o => o == "timeout" ? 1000 : int.Parse(o)).ToList();
        text.AppendLine($"{"command",-10} " + string.Join(" ", outcomes.Select(o => $"{(o == "timeout" ? o : "exit " + o),8}")));
        foreach (string command in _counts.Keys.Select(k => k.Command).Distinct().Order())
            text.AppendLine($"{command,-10} " + string.Join(" ", outcomes.Select(o => $"{_counts.GetValueOrDefault((command, o)),8}")));
        return text.ToString();
    }

    /// <summary>All failing cases, each with its index, seed, command line, mutations and problems.</summary>
    public string FailureReport(int baseSeed)
    {
        var text = new StringBuilder();
        text.AppendLine($"{_failures.Count} of {_cases} fuzz cases failed (rerun one with ACCELAES_FUZZ_SEED={baseSeed} ACCELAES_FUZZ_CASE=<index>):");
        foreach (var f in Failures)
        {
            text.AppendLine($"#{f.Case.Index} (seed {f.Case.Seed}, {f.Case.Mode}, {f.Elapsed.TotalSeconds:0.0} s): {f.Case.CommandLine}");
            foreach (string m in f.Case.Mutations) text.AppendLine($"    mutation: {m}");
            foreach (string p in f.Problems) text.AppendLine($"    → {p}");
        }
        return text.ToString();
    }
}
