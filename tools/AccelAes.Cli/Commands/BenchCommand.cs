using System.CommandLine;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes bench`: measurements that go into docs/perf. Speed is only ever measured here, never in unit tests.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var read = new Option<string?>("--read") { Description = "Measure reading every tensor of a safetensors file or model component folder from page cache (GB/s)." };
        var repeat = new Option<int>("--repeat") { Description = "Measured repetitions (the median is reported).", DefaultValueFactory = _ => 5 };
        var command = new Command("bench", "Benchmarks: checkpoint read throughput (--read).")
        {
            read, repeat,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(read) is string path)
                return ReadThroughput(path, Math.Max(1, parse.GetValue(repeat)));
            throw new AccelAesException("Choose a benchmark: --read PATH.");
        });
        return command;
    }

    private static int ReadThroughput(string path, int repeat)
    {
        using var set = File.Exists(path) ? SafeTensorsSet.OpenFile(path) : SafeTensorsSet.OpenComponent(path, "diffusion_pytorch_model", null);
        SafeTensorsThroughput.ReadAll(set); // warm the page cache and the JIT
        var table = Ui.Table("threads", "bytes", "median", "GB/s");
        foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
        {
            var runs = Enumerable.Range(0, repeat).Select(_ => SafeTensorsThroughput.ReadAll(set, threads)).OrderBy(r => r.Elapsed).ToList();
            var median = runs[runs.Count / 2];
            table.AddCells(threads, Ui.Bytes(median.Bytes), Ui.Seconds(median.Elapsed), median.GigabytesPerSecond.ToString("F2"));
        }
        Ui.Show(table);
        return ExitCodes.Success;
    }
}
