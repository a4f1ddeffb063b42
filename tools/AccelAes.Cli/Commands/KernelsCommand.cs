using System.CommandLine;
using AccelAes.Kernels;
using AccelAes.Kernels.Compilation;
using AccelAes.Loader.Files;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes kernels [--compile] [--arch compute_XX|sm_XX|all]`: lists every CUDA kernel and, with --compile, compiles
/// them all with the NVRTC at hand and reports registers, spills and shared memory per kernel — users run it to check
/// their CUDA install; CI runs it for every architecture the NVRTC has (a compiler crash is a failed file, not an abort).
/// </summary>
internal static class KernelsCommand
{
    public static Command Create()
    {
        var compile = new Option<bool>("--compile") { Description = "Compile every kernel file with NVRTC and report time, PTX size, registers, spills and shared memory." };
        var arch = new Option<string?>("--arch")
        {
            Description = "Target: compute_80, sm_90, ..., or 'all' (every sm_XX and compute_XX ≥ 80 the NVRTC lists); default: what the GPU would get, or compute_80 without one.",
        };
        var lineInfo = new Option<bool>("--lineinfo") { Description = $"Compile with -lineinfo, as a profiling build does ({KernelCompileOptions.LineInfoVariable}=1)." };
        var keepHazards = new Option<bool>("--keep-known-hazards")
        {
            Description = "Also compile the option combinations known to crash this NVRTC (to see whether it still does); each crash is contained in a child process and reported as a failed file.",
        };
        var json = new Option<string?>("--json") { Description = "Also write the results (per file and per kernel) as JSON to this file." };
        var command = new Command("kernels", "List the engine's CUDA kernels; with --compile, compile them all with the NVRTC at hand.")
        {
            compile, arch, lineInfo, keepHazards, json,
        };
        command.SetAction(parse =>
        {
            // A malformed --arch is refused before anything is listed or loaded (with or without an NVRTC here).
            if (parse.GetValue(arch) is string requestedArch && requestedArch != "all") ParseArchitecture(requestedArch);
            new RunFiles().Output(parse.GetValue(json), "--json").Check(); // before a compile run of minutes
            var list = Ui.Table("kernel", "source", "op family");
            foreach (var k in KernelCatalog.All.OrderBy(k => k.SourceFile).ThenBy(k => k.Name))
                list.AddCells(k.Name, k.SourceFile, k.Family);
            Ui.Show(list);
            Ui.Info($"{KernelCatalog.All.Count} kernels in {KernelCatalog.All.Select(k => k.SourceFile).Distinct().Count()} files");
            if (!parse.GetValue(compile)) return ExitCodes.Success;

            var compiler = new KernelCompiler();
            var nvrtc = compiler.Nvrtc;
            Ui.Info($"NVRTC {nvrtc.Major}.{nvrtc.Minor} ({nvrtc.LibraryPath}); architectures: {string.Join(" ", nvrtc.SupportedArchitectures)}");
            var options = KernelCompileOptions.Default with
            {
                LineInfo = KernelCompileOptions.Default.LineInfo || parse.GetValue(lineInfo),
                KeepKnownHazards = parse.GetValue(keepHazards),
            };
            var targets = ChooseTargets(compiler, parse.GetValue(arch));
            var results = new List<(GpuArchitecture Target, IReadOnlyList<KernelFileReport> Reports)>();
            int failedFiles = 0;
            // Over several targets, a throw-away cache lets compute_XX reuse the sm_XX CUBIN it reports registers from.
            var scratch = targets.Count > 1 ? Directory.CreateTempSubdirectory("accelaes-kernels-") : null;
            try
            {
                var run = scratch is null ? compiler : new KernelCompiler(new KernelCache(scratch.FullName));
                foreach (var target in targets)
                {
                    var reports = run.CompileAll(target, options, useCache: scratch is not null);
                    results.Add((target, reports));
                    Show(target, reports);
                    failedFiles += reports.Count(r => !r.Succeeded);
                }
            }
            finally
            {
                scratch?.Delete(recursive: true);
            }
            if (parse.GetValue(json) is { } path)
                WriteJson(path, nvrtc, results);
            if (failedFiles > 0)
            {
                Ui.Info($"{failedFiles} kernel file compile(s) failed over {string.Join(", ", targets)}");
                return ExitCodes.CheckFailed;
            }
            Ui.Done($"all {KernelSources.Files.Count} kernel files compile for {string.Join(", ", targets)}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Show(GpuArchitecture target, IReadOnlyList<KernelFileReport> reports)
    {
        Ui.Heading($"{target}");
        var files = Ui.Table("file", "kernels", "time", "PTX", "CUBIN", "result");
        foreach (var r in reports)
            files.AddCells(r.SourceFile, r.Kernels.Count, Ui.Seconds(r.CompileTime), Ui.Bytes(r.PtxBytes),
                r.CubinBytes is { } c ? Ui.Bytes(c) : "-",
                r.Succeeded ? (r.Warnings.Count > 0 ? $"ok, {r.Warnings.Count} note(s)" : "ok") : "FAILED: " + r.Error?.Split('\n')[0]);
        Ui.Show(files);

        var usage = reports.Where(r => r.Resources.Count > 0).ToArray();
        if (usage.Length > 0)
        {
            var assembledFor = usage.Select(r => r.ResourceArchitecture).Distinct().Single();
            var kernels = Ui.Table("kernel", "registers", "static smem", "stack", "spill stores", "spill loads");
            foreach (var u in usage.SelectMany(r => r.Resources).OrderBy(u => u.Kernel, StringComparer.Ordinal))
                kernels.AddCells(u.Kernel, u.Registers, $"{u.SharedMemoryBytes} B", $"{u.StackFrameBytes} B",
                    u.Spills ? $"[red]{u.SpillStoreBytes} B[/]" : "0 B", u.Spills ? $"[red]{u.SpillLoadBytes} B[/]" : "0 B");
            Ui.Info($"resources as ptxas allocates them for {assembledFor}" + (target.IsVirtual ? $" (the PTX of {target} assembled for it)" : ""));
            Ui.Show(kernels);
            int spilling = usage.SelectMany(r => r.Resources).Count(u => u.Spills);
            if (spilling > 0)
                Ui.Warn($"{spilling} kernel(s) spill registers to local memory at {assembledFor}");
        }
        foreach (var r in reports.Where(r => !r.Succeeded))
            Ui.Warn($"{r.SourceFile} for {target}: {r.Error}");
        foreach (var w in reports.SelectMany(r => r.Warnings.Select(x => $"{r.SourceFile}: {x}")))
            Ui.Warn(w);
    }

    /// <summary>--arch as an architecture (not "all"), or the user error that names the accepted forms.</summary>
    private static GpuArchitecture ParseArchitecture(string requested) =>
        GpuArchitecture.TryParse(requested, out var arch)
            ? arch
            : throw new AccelAesException($"--arch '{requested}' is not an architecture; use all, compute_XX or sm_XX (e.g. compute_80, sm_89, sm_90a).");

    private static IReadOnlyList<GpuArchitecture> ChooseTargets(KernelCompiler compiler, string? requested)
    {
        if (requested is "all")
        {
            return compiler.Nvrtc.SupportedArchitectures.Where(a => a >= KernelCompiler.MinimumArchitecture)
                .SelectMany(a => new[] { GpuArchitecture.Sm(a), GpuArchitecture.Compute(a) })
                .ToArray();
        }
        if (requested is not null)
        {
            GpuArchitecture arch = ParseArchitecture(requested);
            if (!compiler.Supports(arch))
                throw new AccelAesException($"NVRTC {compiler.Nvrtc.Version} cannot compile for {arch}; it lists {string.Join(", ", compiler.Nvrtc.SupportedArchitectures)}.");
            return [arch];
        }
        var detection = CudaDevice.Detect();
        if (detection.IsAvailable && detection.Devices.Count > 0)
        {
            var plan = KernelTargetPlan.Create(detection.Devices[0].ComputeCapability.Architecture, compiler.Nvrtc, detection.DriverVersion);
            Ui.Info($"GPU {detection.Devices[0].Name}, driver {detection.DriverVersionText}: {plan.Targets[0]}");
            return [plan.Targets[0].Architecture];
        }
        Ui.Info($"No GPU ({detection.Reason}); compiling for compute_80.");
        return [GpuArchitecture.Compute(KernelCompiler.MinimumArchitecture)];
    }

    private static void WriteJson(string path, Kernels.Interop.NvrtcInfo nvrtc, IReadOnlyList<(GpuArchitecture Target, IReadOnlyList<KernelFileReport> Reports)> results) =>
        JsonFiles.Write(path, w =>
        {
            w.WriteStartObject();
            w.WriteString("nvrtc", nvrtc.Version);
            w.WriteString("nvrtc_library", nvrtc.LibraryPath);
            w.WriteStartArray("targets");
            foreach (var (target, reports) in results)
            {
                w.WriteStartObject();
                w.WriteString("target", target.ToString());
                w.WriteStartArray("files");
                foreach (var r in reports)
                {
                    w.WriteStartObject();
                    w.WriteString("file", r.SourceFile);
                    w.WriteBoolean("ok", r.Succeeded);
                    if (r.Error is not null) w.WriteString("error", r.Error);
                    w.WriteNumber("compile_ms", r.CompileTime.TotalMilliseconds);
                    w.WriteNumber("ptx_bytes", r.PtxBytes);
                    if (r.CubinBytes is { } c) w.WriteNumber("cubin_bytes", c);
                    if (r.ResourceArchitecture is { } ra) w.WriteString("resources_for", ra.ToString());
                    w.WriteStartArray("kernels");
                    foreach (var u in r.Resources)
                    {
                        w.WriteStartObject();
                        w.WriteString("name", u.Kernel);
                        w.WriteNumber("registers", u.Registers);
                        w.WriteNumber("static_shared_bytes", u.SharedMemoryBytes);
                        w.WriteNumber("stack_bytes", u.StackFrameBytes);
                        w.WriteNumber("spill_store_bytes", u.SpillStoreBytes);
                        w.WriteNumber("spill_load_bytes", u.SpillLoadBytes);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteStartArray("notes");
                    foreach (var note in r.Warnings) w.WriteStringValue(note);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
}
