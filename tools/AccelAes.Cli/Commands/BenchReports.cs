using System.Globalization;
using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Tensors;

namespace AccelAes.Cli.Commands;

/// <summary>How `accelaes bench` presents its results: Spectre tables on the console, and the same numbers as JSON.</summary>
internal static class BenchReports
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A number for a table; "n/a" for NaN/∞ (a rate over a time of 0, as the CUDA emulator reports).</summary>
    private static string F(double v, string format) => double.IsFinite(v) ? v.ToString(format, Inv) : "n/a";

    public static void ShowModel(ModelBenchmarkResult r, MicroResult? peak)
    {
        Ui.Heading($"{r.Config} on {r.Backend}: {r.Resolution}², batch {r.Batch}, {r.ImageTokens} image + {r.TextTokens} text tokens");
        Ui.Info($"timing: {r.TimingMethod}; weights: {(r.Parameters > 0 ? F(r.Parameters / 1e9, "F2") + " G parameters, " : "")}{F(r.WeightSeconds, "F1")} s to generate and upload (not timed below)");

        var phases = Ui.Table("phase", "time", "note");
        phases.AddCells("weights (generate + upload)", $"{F(r.WeightSeconds * 1e3, "F0")} ms", "once");
        foreach (var p in r.Phases)
            phases.AddCells(p.Phase, $"{F(p.Milliseconds, "F2")} ms", p.Note);
        Ui.Show(phases);

        double profiled = r.Ops.Sum(o => o.Milliseconds);
        var ops = Ui.Table("op", "calls", "time (synchronised)", "share", "GFLOP", "TFLOP/s");
        foreach (var o in r.Ops)
            ops.AddCells(o.Op, o.Calls, $"{F(o.Milliseconds, "F2")} ms", F(o.Milliseconds / profiled, "P1"),
                o.Flops > 0 ? F(o.Flops / 1e9, "F1") : "", o.Flops > 0 ? F(o.Flops / (o.Milliseconds * 1e-3) / 1e12, "F3") : "");
        Ui.Show(ops);
        Ui.Info($"per-op times come from a separate pass that synchronises around every op (sum {F(profiled, "F1")} ms vs {F(r.ForwardMilliseconds, "F1")} ms unprofiled)");

        string vsPeak = peak is null ? "" : $" = {F(r.AchievedTflops / peak.Tflops, "P1")} of the measured GEMM peak ({F(peak.Tflops, "F2")} TFLOP/s at {peak.Shape})";
        Ui.Info($"forward: {F(r.ForwardFlops / 1e12, "F2")} TFLOP (Linear + attention FLOPs counted from the op shapes) in {F(r.ForwardMilliseconds, "F2")} ms → {F(r.AchievedTflops, "F3")} TFLOP/s{vsPeak}");
        Ui.Info($"peak memory: {Ui.Bytes(r.PeakMemoryBytes)} ({r.PeakMemoryWhat})");

        if (r.Accel != AccelerationPreset.None)
        {
            var mix = Ui.Table("step kind", "steps", "time per step", "note");
            foreach (var k in r.StepKinds)
                mix.AddCells(k.Kind, k.Count, $"{F(k.Milliseconds, "F2")} ms", k.Note);
            Ui.Show(mix);
            if (r.FocusFraction is double f)
                Ui.Info($"sparse steps use a synthetic focus set: {F(f, "P0")} of the image tokens drawn at random (no real AesMask)");
        }
        if (r.Sequential is { } sequential) BenchResidencyReport.Show(sequential);
        Ui.Info($"{r.Steps} steps: dense {F(r.DenseMilliseconds / 1e3, "F2")} s; {r.Accel} mix {F(r.MixMilliseconds / 1e3, "F2")} s → speed-up ×{F(r.Speedup, "F2")} (transformer + step ops; text encoders and VAE not included)");
    }

    public static void WriteModelJson(Utf8JsonWriter w, ModelBenchmarkResult r, MicroResult? peak, IBackend? be = null, Action<Utf8JsonWriter>? more = null)
    {
        w.WriteStartObject();
        w.WriteString("kind", "model");
        w.WriteString("config", r.Config);
        w.WriteString("backend", r.Backend);
        w.WriteString("timing", r.TimingMethod);
        w.WriteNumber("resolution", r.Resolution);
        w.WriteNumber("batch", r.Batch);
        w.WriteNumber("image_tokens", r.ImageTokens);
        w.WriteNumber("text_tokens", r.TextTokens);
        w.WriteNumber("parameters", r.Parameters);
        w.WriteNumber("weight_seconds", r.WeightSeconds);
        w.WriteStartArray("phases");
        foreach (var p in r.Phases)
        {
            w.WriteStartObject();
            w.WriteString("phase", p.Phase);
            JsonFiles.Number(w, "ms", p.Milliseconds);
            w.WriteString("note", p.Note);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("ops");
        foreach (var o in r.Ops)
        {
            w.WriteStartObject();
            w.WriteString("op", o.Op);
            w.WriteNumber("calls", o.Calls);
            JsonFiles.Number(w, "ms_synchronised", o.Milliseconds);
            JsonFiles.Number(w, "flops", o.Flops);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        JsonFiles.Number(w, "forward_flops", r.ForwardFlops);
        JsonFiles.Number(w, "forward_ms", r.ForwardMilliseconds);
        JsonFiles.Number(w, "achieved_tflops", r.AchievedTflops);
        if (peak is not null)
        {
            w.WriteString("peak_gemm_shape", peak.Shape);
            JsonFiles.Number(w, "peak_gemm_tflops", peak.Tflops);
            JsonFiles.Number(w, "fraction_of_peak", r.AchievedTflops / peak.Tflops);
        }
        w.WriteNumber("peak_memory_bytes", r.PeakMemoryBytes);
        w.WriteString("peak_memory", r.PeakMemoryWhat);
        w.WriteString("accel", r.Accel.ToString());
        w.WriteNumber("steps", r.Steps);
        if (r.FocusFraction is double f) w.WriteNumber("synthetic_focus_fraction", f);
        w.WriteStartArray("step_kinds");
        foreach (var k in r.StepKinds)
        {
            w.WriteStartObject();
            w.WriteString("kind", k.Kind.ToString());
            w.WriteNumber("count", k.Count);
            JsonFiles.Number(w, "ms", k.Milliseconds);
            w.WriteString("note", k.Note);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        JsonFiles.Number(w, "dense_ms", r.DenseMilliseconds);
        JsonFiles.Number(w, "mix_ms", r.MixMilliseconds);
        JsonFiles.Number(w, "speedup", r.Speedup);
        if (r.Sequential is { } sequential) BenchResidencyReport.WriteJson(w, sequential);
        if (be is not null)
            BackendDiagnostics.WriteJson(w, be, engine: true);
        more?.Invoke(w);
        w.WriteEndObject();
    }

    public static void ShowMicro(IBackend be, IReadOnlyList<MicroResult> results, int repeats)
    {
        var table = Ui.Table("op", "shape", "median", "TFLOP/s");
        foreach (var r in results)
            table.AddCells(r.Op, r.Shape, $"{F(r.Milliseconds, "F3")} ms", F(r.Tflops, "F3"));
        Ui.Show(table);
        Ui.Info($"{be.Name}, {be.ActivationType}; median of {repeats}; timing: {BenchTiming.Method(be)}");
    }

    public static void WriteMicroJson(Utf8JsonWriter w, IBackend be, IReadOnlyList<MicroResult> results, int repeats)
    {
        w.WriteStartObject();
        w.WriteString("kind", "micro");
        w.WriteString("backend", be.Name);
        w.WriteString("activation_type", be.ActivationType.ToString());
        w.WriteString("timing", BenchTiming.Method(be));
        w.WriteNumber("repeats", repeats);
        w.WriteStartArray("results");
        foreach (var r in results)
        {
            w.WriteStartObject();
            w.WriteString("op", r.Op);
            w.WriteString("shape", r.Shape);
            JsonFiles.Number(w, "ms", r.Milliseconds);
            JsonFiles.Number(w, "flops", r.Flops);
            JsonFiles.Number(w, "tflops", r.Tflops);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        BackendDiagnostics.WriteJson(w, be, engine: true);
        w.WriteEndObject();
    }
}
