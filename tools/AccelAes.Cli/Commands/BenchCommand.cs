using System.CommandLine;
using System.Globalization;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Tensors;
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
        var sparseCost = new Option<bool>("--sparse-cost") { Description = "Time a dense and a SkipSparse forward of a mid-size SD3-shaped model and compare with the FLOP model explain uses." };
        var focus = new Option<double>("--focus-fraction") { Description = "Focus fraction for --sparse-cost.", DefaultValueFactory = _ => 0.5 };
        var backend = CommonOptions.Backend();
        var command = new Command("bench", "Benchmarks: checkpoint read throughput (--read), sparse-forward cost (--sparse-cost).")
        {
            read, repeat, sparseCost, focus, backend,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(read) is string path)
                return ReadThroughput(path, Math.Max(1, parse.GetValue(repeat)));
            if (parse.GetValue(sparseCost))
                return SparseCost(parse.GetValue(backend)!, parse.GetValue(focus), Math.Max(1, parse.GetValue(repeat)));
            throw new AccelAesException("Choose a benchmark: --read PATH or --sparse-cost.");
        });
        return command;
    }

    private static int SparseCost(string backendName, double focus, int repeat)
    {
        using IBackend be = BackendFactory.Create(backendName);
        var m = SparseCostBenchmark.MeasureSd3(be, focusFraction: focus, repeats: repeat);
        var inv = CultureInfo.InvariantCulture;
        var table = Ui.Table("config", "tokens (img + txt)", "focus", "dense", "sparse", "measured ratio", "FLOP model", "deviation");
        table.AddCells(m.Config, $"{m.ImageTokens} + {m.TextTokens}", m.FocusFraction.ToString("F2", inv), $"{m.DenseSeconds * 1e3:F1} ms",
            $"{m.SparseSeconds * 1e3:F1} ms", m.MeasuredRatio.ToString("F3", inv), m.PredictedRatio.ToString("F3", inv), m.Deviation.ToString("P1", inv));
        Ui.Show(table);
        return ExitCodes.Success;
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
