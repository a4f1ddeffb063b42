using System.Globalization;
using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks.Accounting;

namespace AccelAes.Cli.Commands;

/// <summary>How `bench --accounting` presents its counts: tables on the console, the same numbers as JSON.</summary>
internal static class AccountingReports
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The roofline formula, as the output states it.</summary>
    public const string Formula = "floor = (GEMM FLOPs + attention FLOPs) / peak bf16 tensor FLOP/s + memory-bound bytes / DRAM bandwidth";

    private static string Gb(double bytes) => (bytes / 1e9).ToString("F2", Inv) + " GB";

    private static string Tf(double flops) => (flops / 1e12).ToString("F2", Inv) + " TFLOP";

    /// <summary>
    /// One line under an accounting with <c>--swiglu-gemm auto</c> of a model with SwiGLU feed-forwards (Lumina): auto was
    /// counted as the fused kernel (the CUDA backend chooses per shape on the card, which a count cannot), and what the split
    /// path (<paramref name="split"/>, the same request counted with it) adds per dense step. Nothing when the two agree.
    /// </summary>
    public static void ShowSwiGluAuto(AccountingResult fused, AccountingResult split)
    {
        var (f, s) = (fused.DenseStep, split.DenseStep);
        if (f.MemoryBoundBytes == s.MemoryBoundBytes && f.Launches == s.Launches && f.GemmBytes == s.GemmBytes)
            return;
        Ui.Info($"--swiglu-gemm auto is counted as fused (on the card it times both per shape and keeps the faster); the split path adds "
            + $"{Gb(s.MemoryBoundBytes - f.MemoryBoundBytes)} of memory-bound traffic, {Gb(s.GemmBytes - f.GemmBytes)} of GEMM output "
            + $"and {s.Launches - f.Launches} launches per dense step (--swiglu-gemm split counts it)");
    }

    public static void Show(AccountingResult r)
    {
        Ui.Heading($"{r.Config}: {r.Resolution}², batch {r.Batch}, {r.ImageTokens} image + {r.TextTokens} text tokens");
        Ui.Info($"counted on {r.Backend}: the CUDA backend's kernels, bytes and launches, without running them");

        var totals = Ui.Table("per dense step", "forward", "CFG combine + Euler", "step");
        var (f, s, d) = (r.Forward, r.StepRest, r.DenseStep);
        totals.AddCells("GEMM FLOPs", Tf(f.GemmFlops), Tf(s.GemmFlops), Tf(d.GemmFlops));
        totals.AddCells("attention FLOPs", Tf(f.AttentionFlops), Tf(s.AttentionFlops), Tf(d.AttentionFlops));
        totals.AddCells("memory-bound traffic", Gb(f.MemoryBoundBytes), Gb(s.MemoryBoundBytes), Gb(d.MemoryBoundBytes));
        totals.AddCells("GEMM + attention operand traffic", Gb(f.GemmBytes + f.AttentionBytes), Gb(s.GemmBytes + s.AttentionBytes),
            Gb(d.GemmBytes + d.AttentionBytes));
        totals.AddCells("kernel launches", f.Launches, s.Launches, d.Launches);
        totals.AddCells("device copies and memsets", f.DeviceCopies, s.DeviceCopies, d.DeviceCopies);
        Ui.Show(totals);
        if (r.PerGeneration.Classes.Count > 0)
        {
            var g = r.PerGeneration;
            Ui.Info($"once per generation, before the first step (in no step above): {Tf(g.GemmFlops)} GEMM, {Gb(g.MemoryBoundBytes)} memory-bound, " +
                    $"{Gb(g.GemmBytes + g.AttentionBytes)} GEMM + attention operands, {g.Launches} kernel launches — " +
                    string.Join(", ", g.ByTraffic.Select(c => $"{c.Name} ×{c.Calls}")));
        }

        // Biggest traffic first; the share column says what bounds each class (memory-bound ones: their share of that traffic).
        var classes = Ui.Table("op · kernel (dense step)", "calls", "traffic", "share", "launches");
        double memoryBound = Math.Max(1, d.MemoryBoundBytes);
        foreach (var c in d.ByTraffic.Where(c => c.Kind != TrafficKind.HostTransfer))
            classes.AddCells(c.Name, c.Calls, Gb(c.Bytes),
                c.Kind is TrafficKind.MemoryBound or TrafficKind.DeviceCopy ? (c.Bytes / memoryBound).ToString("P1", Inv) : KindName(c.Kind),
                c.Kind == TrafficKind.DeviceCopy ? "(copy)" : c.Launches.ToString(Inv));
        Ui.Show(classes);

        var roofline = Ui.Table("card", "peak bf16", "DRAM", "compute", "memory", "floor per step");
        foreach (var floor in RooflineCards.All.Select(card => card.Floor(d)))
            roofline.AddCells(floor.Card.Name, $"{floor.Card.PeakBf16Tflops.ToString("F1", Inv)} TFLOP/s",
                $"{floor.Card.DramGigabytesPerSecond.ToString("F0", Inv)} GB/s", Ms(floor.ComputeMilliseconds), Ms(floor.MemoryMilliseconds),
                Ms(floor.Milliseconds));
        Ui.Show(roofline);
        Ui.Info(Formula + " (the two kinds of kernel run one after another, so neither hides the other; no kernel reaches its peak, so a measured step is slower)");

        if (r.Accel != AccelerationPreset.None)
        {
            var mix = Ui.Table("step kind", "steps", "FLOPs", "memory-bound", "launches", $"floor ({RooflineCards.H100Sxm.Name})");
            foreach (var k in r.StepKinds)
                mix.AddCells(k.Kind, k.Count, Tf(k.Step.GemmFlops + k.Step.AttentionFlops), Gb(k.Step.MemoryBoundBytes), k.Step.Launches,
                    Ms(RooflineCards.H100Sxm.Floor(k.Step).Milliseconds));
            Ui.Show(mix);
            foreach (var k in r.StepKinds)
                Ui.Info($"{k.Kind}: {k.Note}");
            if (r.MixDecidedAtRunTime)
            {
                Ui.Info($"{r.Accel} decides each step at run time from its threshold: the mix is not known before a run, so only each kind's cost " +
                        "is reported (the steps column is 0). Give --schedule LETTERS (a run's executed schedule, F computed, X reused) for the mix.");
                return;
            }
            if (r.Schedule is not null) Ui.Info($"{r.Accel} schedule of {r.Steps} steps: {r.Schedule}");
            var all = r.MixTotal;
            Ui.Info($"{r.Accel} mix of {r.Steps} steps, per step on average: {Gb(all.MemoryBoundBytes / (double)r.Steps)} memory-bound, " +
                    $"{(all.Launches / (double)r.Steps).ToString("F0", Inv)} launches, {Tf((all.GemmFlops + all.AttentionFlops) / r.Steps)}");
            Ui.Info("speed-up bound against dense (dense floor / mix floor per step): " + string.Join(", ",
                RooflineCards.All.Select(card => $"{card.Name} {SpeedupBound(r, card).ToString("F2", Inv)}×")));
            if (r.FocusFraction is double focus)
                Ui.Info($"sparse steps use a synthetic focus set: {focus.ToString("P0", Inv)} of the image tokens drawn at random (no real AesMask)");
        }
    }

    /// <summary>How much faster than dense the mix can be on <paramref name="card"/>: the dense step's roofline floor over the mix's per step.</summary>
    private static double SpeedupBound(AccountingResult r, RooflineCard card) =>
        card.Floor(r.DenseStep).Milliseconds / (card.Floor(r.MixTotal).Milliseconds / r.Steps);

    private static string Ms(double ms) => ms.ToString("F2", Inv) + " ms";

    private static string KindName(TrafficKind kind) => kind switch
    {
        TrafficKind.Gemm => "compute (GEMM)",
        TrafficKind.Attention => "compute (attention)",
        TrafficKind.MemoryBound => "memory-bound",
        TrafficKind.DeviceCopy => "copy/memset",
        _ => "host copy",
    };

    /// <summary>
    /// The counted dense step in a line or two, next to the step a timed `bench --arch` measured (NaN when the backend
    /// measured no time): what the step costs at the least on each card, and what it cost here.
    /// </summary>
    public static void ShowNextToMeasured(AccountingResult r, double measuredStepMs)
    {
        var d = r.DenseStep;
        string floors = string.Join(", ", RooflineCards.All.Select(card => $"{card.Name} {Ms(card.Floor(d).Milliseconds)}"));
        string measured = double.IsFinite(measuredStepMs) && measuredStepMs > 0 ? Ms(measuredStepMs) : "n/a";
        Ui.Info($"counted per dense step: {Tf(d.GemmFlops)} GEMM + {Tf(d.AttentionFlops)} attention, {Gb(d.MemoryBoundBytes)} memory-bound, " +
                $"{d.Launches} kernel launches; roofline floors: {floors}; measured here: {measured} (bench --accounting breaks it down)");
    }

    /// <summary>The accounting as a JSON object (named <paramref name="property"/> inside another object, or a document of its own).</summary>
    public static void WriteJson(Utf8JsonWriter w, AccountingResult r, string? property = null)
    {
        var step = r.DenseStep;
        if (property is null) w.WriteStartObject();
        else w.WriteStartObject(property);
        w.WriteString("kind", "accounting");
        w.WriteString("config", r.Config);
        w.WriteString("backend", r.Backend);
        w.WriteNumber("resolution", r.Resolution);
        w.WriteNumber("batch", r.Batch);
        w.WriteNumber("image_tokens", r.ImageTokens);
        w.WriteNumber("text_tokens", r.TextTokens);
        w.WriteNumber("parameters", r.Parameters);
        w.WriteString("scope", "one dense step: the transformer forward plus the CFG combine and Euler update (\"forward\" alone below)");
        JsonFiles.Number(w, "gemm_flops", step.GemmFlops);
        JsonFiles.Number(w, "attention_flops", step.AttentionFlops);
        w.WriteNumber("memory_bound_bytes", step.MemoryBoundBytes);
        w.WriteNumber("gemm_bytes", step.GemmBytes);
        w.WriteNumber("attention_bytes", step.AttentionBytes);
        w.WriteNumber("launches_per_step", step.Launches);
        w.WriteNumber("device_copies_per_step", step.DeviceCopies);
        w.WriteStartObject("forward");
        WriteTotals(w, r.Forward);
        w.WriteEndObject();
        // Once per generation, before the first step (Lumina's caption keys and values; zeros for SD3 and FLUX): in no step's numbers.
        w.WriteStartObject("per_generation");
        WriteTotals(w, r.PerGeneration);
        w.WriteEndObject();
        w.WriteString("roofline_formula", Formula);
        w.WriteStartObject("roofline_ms");
        foreach (var card in RooflineCards.All)
            JsonFiles.Number(w, card.Name, card.Floor(step).Milliseconds);
        w.WriteEndObject();
        w.WriteStartArray("cards");
        foreach (var floor in RooflineCards.All.Select(card => card.Floor(step)))
        {
            w.WriteStartObject();
            w.WriteString("name", floor.Card.Name);
            w.WriteNumber("peak_bf16_tflops", floor.Card.PeakBf16Tflops);
            w.WriteNumber("dram_gb_per_s", floor.Card.DramGigabytesPerSecond);
            w.WriteString("source", floor.Card.Source);
            JsonFiles.Number(w, "compute_ms", floor.ComputeMilliseconds);
            JsonFiles.Number(w, "memory_ms", floor.MemoryMilliseconds);
            JsonFiles.Number(w, "roofline_ms", floor.Milliseconds);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("classes");
        foreach (var c in step.ByTraffic)
        {
            w.WriteStartObject();
            w.WriteString("op", c.Op);
            w.WriteString("kernel", c.Kernel);
            w.WriteString("kind", KindName(c.Kind));
            w.WriteNumber("calls", c.Calls);
            w.WriteNumber("bytes_read", c.BytesRead);
            w.WriteNumber("bytes_written", c.BytesWritten);
            JsonFiles.Number(w, "flops", c.Flops);
            w.WriteNumber("launches", c.Launches);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString("accel", r.Accel.ToString());
        w.WriteNumber("steps", r.Steps);
        if (r.FocusFraction is double focus) w.WriteNumber("synthetic_focus_fraction", focus);
        w.WriteStartArray("step_kinds");
        foreach (var k in r.StepKinds)
        {
            w.WriteStartObject();
            w.WriteString("kind", k.Kind.ToString());
            w.WriteNumber("count", k.Count);
            WriteTotals(w, k.Step);
            w.WriteStartObject("roofline_ms");
            foreach (var card in RooflineCards.All)
                JsonFiles.Number(w, card.Name, card.Floor(k.Step).Milliseconds);
            w.WriteEndObject();
            w.WriteString("note", k.Note);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (r.Schedule is not null) w.WriteString("schedule", r.Schedule);
        w.WriteBoolean("mix_decided_at_run_time", r.MixDecidedAtRunTime);
        if (r.MixDecidedAtRunTime)
        {
            w.WriteNull("mix_per_step");
            w.WriteEndObject();
            return;
        }
        var all = r.MixTotal;
        w.WriteStartObject("speedup_bound");
        foreach (var card in RooflineCards.All)
            JsonFiles.Number(w, card.Name, SpeedupBound(r, card));
        w.WriteEndObject();
        w.WriteStartObject("mix_per_step");
        JsonFiles.Number(w, "gemm_flops", all.GemmFlops / r.Steps);
        JsonFiles.Number(w, "attention_flops", all.AttentionFlops / r.Steps);
        JsonFiles.Number(w, "memory_bound_bytes", all.MemoryBoundBytes / (double)r.Steps);
        JsonFiles.Number(w, "launches", all.Launches / (double)r.Steps);
        w.WriteStartObject("roofline_ms");
        foreach (var card in RooflineCards.All)
            JsonFiles.Number(w, card.Name, card.Floor(all).Milliseconds / r.Steps);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteTotals(Utf8JsonWriter w, TrafficTotals t)
    {
        JsonFiles.Number(w, "gemm_flops", t.GemmFlops);
        JsonFiles.Number(w, "attention_flops", t.AttentionFlops);
        w.WriteNumber("memory_bound_bytes", t.MemoryBoundBytes);
        w.WriteNumber("gemm_bytes", t.GemmBytes);
        w.WriteNumber("attention_bytes", t.AttentionBytes);
        w.WriteNumber("launches", t.Launches);
        w.WriteNumber("device_copies", t.DeviceCopies);
    }
}
