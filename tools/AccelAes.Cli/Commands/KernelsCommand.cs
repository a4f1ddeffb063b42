using System.CommandLine;
using AccelAes.Kernels;
using AccelAes.Kernels.Compilation;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes kernels [--compile] [--arch compute_XX]`: lists every CUDA kernel and, with --compile, compiles them
/// all with the NVRTC at hand — users run it to check their CUDA install; CI runs it.
/// </summary>
internal static class KernelsCommand
{
    public static Command Create()
    {
        var compile = new Option<bool>("--compile") { Description = "Compile every kernel file with NVRTC and report time, PTX size, registers and spills." };
        var arch = new Option<string?>("--arch") { Description = "Target architecture (compute_80, sm_90, ...); default: the GPU's, or compute_80 without one." };
        var command = new Command("kernels", "List the engine's CUDA kernels; with --compile, compile them all with the NVRTC at hand.")
        {
            compile, arch,
        };
        command.SetAction(parse =>
        {
            var list = Ui.Table("kernel", "source", "op family");
            foreach (var k in KernelCatalog.All.OrderBy(k => k.SourceFile).ThenBy(k => k.Name))
                list.AddCells(k.Name, k.SourceFile, k.Family);
            Ui.Show(list);
            Ui.Info($"{KernelCatalog.All.Count} kernels in {KernelCatalog.All.Select(k => k.SourceFile).Distinct().Count()} files");
            if (!parse.GetValue(compile)) return ExitCodes.Success;

            var compiler = new KernelCompiler();
            var nvrtc = compiler.Nvrtc;
            Ui.Info($"NVRTC {nvrtc.Major}.{nvrtc.Minor} ({nvrtc.LibraryPath}); architectures: {string.Join(" ", nvrtc.SupportedArchitectures)}");
            GpuArchitecture target = ChooseTarget(compiler, parse.GetValue(arch));
            var reports = compiler.CompileAll(target);
            var table = Ui.Table("file", "kernels", "time", "PTX", "registers / spills", "result");
            foreach (var r in reports)
            {
                string regs = r.Resources.Count == 0 ? "-" : string.Join(", ", r.Resources.Select(u => $"{u.Kernel}: {u.Registers}{(u.Spills ? $" SPILLS {u.SpillStoreBytes}B" : "")}"));
                table.AddCells(r.SourceFile, r.Kernels.Count, Ui.Seconds(r.CompileTime), Ui.Bytes(r.PtxBytes), regs,
                    r.Succeeded ? (r.Warnings.Count > 0 ? $"ok, {r.Warnings.Count} warning(s)" : "ok") : "FAILED: " + r.Error);
            }
            Ui.Show(table);
            foreach (var w in reports.SelectMany(r => r.Warnings.Select(x => $"{r.SourceFile}: {x}")))
                Ui.Warn(w);
            int failed = reports.Count(r => !r.Succeeded);
            if (failed > 0)
            {
                Ui.Info($"{failed} of {reports.Count} kernel files failed to compile for {target}");
                return ExitCodes.CheckFailed;
            }
            Ui.Done($"all {reports.Count} kernel files compile for {target}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static GpuArchitecture ChooseTarget(KernelCompiler compiler, string? requested)
    {
        if (requested is not null)
        {
            var arch = GpuArchitecture.Parse(requested);
            if (!compiler.Supports(arch))
                throw new AccelAesException($"This NVRTC cannot compile for {arch}.");
            return arch;
        }
        var detection = CudaDevice.Detect();
        if (detection.IsAvailable && detection.Devices.Count > 0)
        {
            var choice = compiler.ChooseArchitecture(detection.Devices[0].ComputeCapability);
            Ui.Info($"GPU {detection.Devices[0].Name}: {choice}");
            return choice.Architecture;
        }
        Ui.Info($"No GPU ({detection.Reason}); compiling for compute_80.");
        return GpuArchitecture.Parse("compute_80");
    }
}
