using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Diagnostics;
using AccelAes.Kernels;
using AccelAes.Loader.Files;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes selftest`: every op of the CUDA backend against the CPU reference (<see cref="OpSelfTest"/>: fresh random
/// inputs, outputs poisoned with NaN, several shapes including non-multiples of the tile sizes, the error rule of
/// DESIGN.md §4), then one whole tiny-model forward per backbone, VAE and text encoder (<see cref="ModelSelfTest"/>:
/// relative L2 ≤ 1e-2). Prints a table; exit 0 when everything passes, 3 on any failure, 4 when there is no usable GPU.
/// </summary>
internal static class SelftestCommand
{
    public static Command Create()
    {
        var filter = new Option<string[]>("--filter")
        {
            Description = "Run only the checks whose name contains one of these (case-insensitive; comma-separated or repeated): " +
                          "an op (Linear, Attention, LayerNorm, ...) or a model forward (Forward, Forward[sd3/transformer], vae, ...).",
            AllowMultipleArgumentsPerToken = true,
        };
        var seed = new Option<int?>("--seed") { Description = "Base seed of the random inputs (default: a fresh one, printed so a failure can be rerun)." };
        var json = new Option<string?>("--json") { Description = "Also write every result as JSON to this file." };
        var skipModels = new Option<bool>("--skip-models") { Description = "Only the op checks, no whole-model forwards." };
        var skipOps = new Option<bool>("--skip-ops") { Description = "Only the whole-model forwards, no op checks." };
        var device = new Option<int>("--device") { Description = "CUDA device ordinal.", DefaultValueFactory = _ => 0 };
        var command = new Command("selftest", "Check every CUDA op and a whole tiny-model forward of each backbone against the CPU reference (needs a GPU).")
        {
            filter, seed, json, skipModels, skipOps, device,
        };
        command.SetAction(parse => Run(Filters(parse.GetValue(filter)), parse.GetValue(seed), parse.GetValue(json), parse.GetValue(skipModels), parse.GetValue(skipOps),
            parse.GetValue(device)));
        return command;
    }

    /// <summary>"a,b" "c" → [a, b, c] (empty: everything).</summary>
    internal static string[] Filters(string[]? values) =>
        (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();

    internal static bool Matches(string[] filters, string name) =>
        filters.Length == 0 || filters.Any(f => name.Contains(f, StringComparison.OrdinalIgnoreCase));

    private static int Run(string[] filters, int? seedOption, string? jsonPath, bool skipModels, bool skipOps, int deviceOrdinal)
    {
        new RunFiles().Output(jsonPath, "--json").Check(); // before the checks run, not after
        var detection = CudaDevice.Detect();
        try
        {
            BackendFactory.RequireUsable(detection, deviceOrdinal);
        }
        catch (GpuUnavailableException e)
        {
            // One message: the failed check and its cause are in it (printing the detection summary too repeats them).
            Ui.Warn(e.Message);
            Ui.Info("selftest needs a CUDA GPU; nothing was checked.");
            return ExitCodes.NoGpu;
        }
        Ui.Info(detection.Summary);

        int seed = seedOption ?? Random.Shared.Next();
        using var cuda = new CudaBackend(new CudaBackendOptions { Device = deviceOrdinal, PoisonNewTensors = true, SynchronizeEachOp = true });
        using var cpu = new CpuBackend();
        BackendDiagnostics.ShowEnvironment(cuda);
        BackendDiagnostics.ShowWarnings(cuda);
        Ui.Info($"seed {seed} (rerun with --seed {seed}{(filters.Length > 0 ? " --filter " + string.Join(",", filters) : "")})");

        var started = DateTime.UtcNow;
        var ops = skipOps ? [] : OpSelfTest.RunAll(cuda, cpu, seed, c => Matches(filters, c.Op) || Matches(filters, $"{c.Op} {c.Description}"),
            r => { if (!r.Passed) Ui.Warn(r.ToString()); });
        var models = skipModels
            ? []
            : ModelSelfTest.RunAll(cuda, cpu, seed, c => Matches(filters, c.Name), r => { if (!r.Passed) Ui.Warn(r.ToString()); });
        var elapsed = DateTime.UtcNow - started;

        var inv = CultureInfo.InvariantCulture;
        var table = Ui.Table("op", "case", "max error", "error bound", "pass");
        foreach (var r in ops)
            table.AddCells(r.Op, r.Case, Number(r.MaxError), r.Error is null ? Number(r.Bound) : r.Error, r.Passed ? "ok" : "FAIL");
        foreach (var r in models)
            table.AddCells(r.Name, r.Case, r.Error is null ? $"rel L2 {Number(r.RelativeL2)} ({r.WorstOutput})" : Number(r.RelativeL2),
                r.Error is null ? $"rel L2 {Number(r.Bound)} (2 × CPU with bf16 storage: {Number(r.Bf16StorageError)}; bf16 weights only: {Number(r.Bf16WeightError)})" : r.Error, r.Passed ? "ok" : "FAIL");
        if (ops.Count + models.Count > 0)
            Ui.Show(table);

        int failed = ops.Count(r => !r.Passed) + models.Count(r => !r.Passed);
        int total = ops.Count + models.Count;
        var pool = cuda.Memory;
        Ui.Info($"{ops.Count} op checks, {models.Count} model forwards in {Ui.Seconds(elapsed)}; device memory peak {Ui.Bytes((long)pool.PeakBytesInUse)} in tensors");
        BackendDiagnostics.ShowGemmSummary(cuda);
        BackendDiagnostics.ShowCublasLtPaths(cuda);
        if (jsonPath is not null)
            WriteJson(jsonPath, cuda, seed, filters, ops, models, elapsed);
        if (total == 0)
        {
            Ui.Warn($"no check matches --filter {string.Join(",", filters)}");
            return ExitCodes.UserError;
        }
        if (failed > 0)
        {
            Ui.Info($"FAILED: {failed} of {total} checks (seed {seed})");
            return ExitCodes.CheckFailed;
        }
        Ui.Done($"all {total} checks pass on {cuda.Device.Name}");
        return ExitCodes.Success;

        string Number(double v) => double.IsPositiveInfinity(v) ? "∞" : v.ToString("G3", inv);
    }

    private static void WriteJson(string path, CudaBackend cuda, int seed, string[] filters, IReadOnlyList<OpCheckResult> ops,
        IReadOnlyList<ModelCheckResult> models, TimeSpan elapsed)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("device", cuda.Device.Name);
            w.WriteString("compute_capability", cuda.Device.ComputeCapability.ToString());
            w.WriteString("architecture", cuda.Architecture.ToString());
            w.WriteNumber("driver_version", cuda.DriverVersion);
            w.WriteString("nvrtc", AccelAes.Kernels.Interop.Nvrtc.Info.Version);
            w.WriteStartArray("kernel_target_notes");
            foreach (var note in cuda.KernelTargetNotes) w.WriteStringValue(note);
            w.WriteEndArray();
            w.WriteString("gemm", cuda.GemmEngine);
            BackendDiagnostics.WriteJson(w, cuda, engine: false);
            w.WriteNumber("seed", seed);
            w.WriteString("filter", string.Join(",", filters));
            w.WriteNumber("seconds", elapsed.TotalSeconds);
            w.WriteNumber("passed", ops.Count(r => r.Passed) + models.Count(r => r.Passed));
            w.WriteNumber("failed", ops.Count(r => !r.Passed) + models.Count(r => !r.Passed));
            w.WriteStartArray("ops");
            foreach (var r in ops)
            {
                w.WriteStartObject();
                w.WriteString("op", r.Op);
                w.WriteString("case", r.Case);
                JsonFiles.Number(w, "max_error", r.MaxError);
                JsonFiles.Number(w, "bound", r.Bound);
                JsonFiles.Number(w, "bf16_reference_error", r.LowPrecisionError);
                JsonFiles.Number(w, "reference_max", r.ReferenceMax);
                w.WriteBoolean("passed", r.Passed);
                w.WriteNumber("seed", r.Seed);
                if (r.Error is not null) w.WriteString("error", r.Error);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("models");
            foreach (var r in models)
            {
                w.WriteStartObject();
                w.WriteString("name", r.Name);
                w.WriteString("case", r.Case);
                w.WriteString("worst_output", r.WorstOutput);
                JsonFiles.Number(w, "relative_l2", r.RelativeL2);
                JsonFiles.Number(w, "max_error", r.MaxError);
                JsonFiles.Number(w, "bound", r.Bound);
                JsonFiles.Number(w, "cpu_bf16_weights_relative_l2", r.Bf16WeightError);
                JsonFiles.Number(w, "cpu_bf16_storage_relative_l2", r.Bf16StorageError);
                w.WriteBoolean("passed", r.Passed);
                w.WriteNumber("seed", r.Seed);
                if (r.Error is not null) w.WriteString("error", r.Error);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        JsonFiles.WriteAtomically(path, stream.ToArray());
    }
}
