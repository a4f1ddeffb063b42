using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Planning;

namespace AccelAes.Cli.Commands;

/// <summary>How `accelaes plan` shows a <see cref="MemoryPlan"/>: tables on the console, and the --json document.</summary>
internal static class PlanReport
{
    /// <summary>For a policy the plan knows before the runtime does (none today: generate runs none, encoders and sequential).</summary>
    public const string NotImplementedNote = "generate does not run this policy yet (--offload)";

    public static void Print(MemoryPlan plan, string limitSource, AccelerationPreset preset)
    {
        var r = plan.Request;
        string precision = r.Precision == WeightPrecision.Fp8 ? "fp8 transformer Linear weights" : "weights as stored";
        Ui.Info($"{r.Architecture.Name}: {r.Width}×{r.Height}, {(r.UsesCfg ? (r.BatchedCfg ? "batched CFG (2 images per forward)" : "two-pass CFG") : "no CFG batch")}, " +
                $"{preset.ToString().ToLowerInvariant()} preset{(r.SkipSparse ? " with SkipSparse caches" : "")}, {precision}");
        var weights = Ui.Table("component", "model", "weights", "source");
        foreach (var (component, bytes) in plan.Weights)
            weights.AddCells(component.Name, component.Kind, ByteSize.Format(bytes), component.Source);
        weights.AddCells("total", "", ByteSize.Format(plan.TotalWeightBytes), "");
        Ui.Show(weights);
        var a = plan.Activations;
        var phases = Ui.Table("phase", "activations (estimate)", "what");
        phases.AddCells("encode", ByteSize.Format(a.Encode), "widest text encoder layer");
        phases.AddCells("denoise", ByteSize.Format(a.Denoise),
            $"forward {ByteSize.Format(a.DenoiseForward)} + other step graphs {ByteSize.Format(a.GraphPools)} + SkipSparse caches {ByteSize.Format(a.SparseCaches)} + latents/text {ByteSize.Format(a.PipelineState)}");
        phases.AddCells("decode", ByteSize.Format(a.Decode), "VAE decoder at the image size");
        Ui.Show(phases);
        var policies = Ui.Table("policy", "encode", "denoise", "decode", "peak", "fits", "generate");
        foreach (var p in plan.Policies)
            policies.AddCells(p.Policy.Name(), ByteSize.Format(p.EncodeBytes), ByteSize.Format(p.DenoiseBytes), ByteSize.Format(p.DecodeBytes),
                $"{ByteSize.Format(p.PeakBytes)} ({ByteSize.Gib(p.PeakBytes)})",
                r.MemoryBytes is long limit ? (p.PeakBytes <= limit ? "yes" : "no") : "-",
                p.Policy.RuntimeSupports() ? "runs" : "not yet");
        Ui.Show(policies);
        Ui.Info($"Largest transformer block {ByteSize.Format(plan.LargestBlockBytes)} (sequential streams the blocks from pinned host memory through two slots of that size); peaks include a {ByteSize.Format(MemoryPlanner.RuntimeReserveBytes)} runtime reserve. Activations are estimates from the model code's tensor shapes.");
        if (r.MemoryBytes is not long memory)
        {
            Ui.Info($"Memory: {limitSource}. Peak all-resident: {ByteSize.Format(plan.PeakBytes)} ({ByteSize.Gib(plan.PeakBytes)}).");
        }
        else if (plan.Chosen is { } chosen)
        {
            Ui.Info($"Fits in {ByteSize.Gib(memory)} ({limitSource}) with policy {chosen.Name()}: peak {ByteSize.Gib(plan.PeakBytes)}.");
            if (!chosen.RuntimeSupports())
            {
                Ui.Warn(NotImplementedNote + $": this run cannot be made with generate until {chosen.Name()} is.");
                Ui.Info(plan.RunnableRemedy is { } runnable ? $"Runs today with {runnable}." : "No single change tried makes it fit under a policy generate runs.");
            }
        }
        else
        {
            Ui.Warn($"Does not fit in {ByteSize.Gib(memory)} ({limitSource}) under any policy (smallest peak {ByteSize.Gib(plan.Policies.Min(p => p.PeakBytes))}).");
            Ui.Info(plan.Remedy is { } remedy ? $"Would fit with {remedy}." : "No single change tried (fp8 weights, two-pass CFG, smaller sizes down to 256 px) makes it fit.");
        }
    }

    public static void WriteJson(string path, MemoryPlan plan, string limitSource) => JsonFiles.Write(path, w =>
    {
        var r = plan.Request;
        w.WriteStartObject();
        w.WriteString("model", r.Architecture.Name);
        w.WriteNumber("width", r.Width);
        w.WriteNumber("height", r.Height);
        w.WriteString("weights", r.Precision == WeightPrecision.Fp8 ? "fp8" : "bf16");
        w.WriteNumber("forward_batch", r.ForwardBatch);
        w.WriteNumber("step_graphs", r.StepGraphs);
        if (r.MemoryBytes is long memory) w.WriteNumber("memory_bytes", memory);
        else w.WriteNull("memory_bytes");
        w.WriteString("memory_source", limitSource);
        w.WriteBoolean("fits", plan.Fits);
        w.WriteString("policy", plan.Policy.Name());
        w.WriteBoolean("policy_implemented", plan.Policy.RuntimeSupports());
        w.WriteNumber("peak_bytes", plan.PeakBytes);
        if (plan.Remedy is { } remedy) w.WriteString("remedy", remedy);
        else w.WriteNull("remedy");
        if (plan.RunnableRemedy is { } runnable) w.WriteString("runnable_remedy", runnable);
        else w.WriteNull("runnable_remedy");
        w.WriteStartObject("weight_bytes");
        foreach (var (component, bytes) in plan.Weights) w.WriteNumber(component.Name, bytes);
        w.WriteEndObject();
        w.WriteNumber("largest_block_bytes", plan.LargestBlockBytes);
        var a = plan.Activations;
        w.WriteStartObject("activation_bytes");
        w.WriteNumber("encode", a.Encode);
        w.WriteNumber("denoise", a.Denoise);
        w.WriteNumber("denoise_forward", a.DenoiseForward);
        w.WriteNumber("graph_pools", a.GraphPools);
        w.WriteNumber("sparse_caches", a.SparseCaches);
        w.WriteNumber("decode", a.Decode);
        w.WriteEndObject();
        w.WriteNumber("runtime_reserve_bytes", MemoryPlanner.RuntimeReserveBytes);
        w.WriteStartArray("policies");
        foreach (var p in plan.Policies)
        {
            w.WriteStartObject();
            w.WriteString("policy", p.Policy.Name());
            w.WriteNumber("encode_bytes", p.EncodeBytes);
            w.WriteNumber("denoise_bytes", p.DenoiseBytes);
            w.WriteNumber("decode_bytes", p.DecodeBytes);
            w.WriteNumber("peak_bytes", p.PeakBytes);
            if (r.MemoryBytes is long m) w.WriteBoolean("fits", p.PeakBytes <= m);
            else w.WriteNull("fits");
            w.WriteBoolean("implemented", p.Policy.RuntimeSupports());
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    });
}
