using System.CommandLine;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Commands;

/// <summary>`accelaes make-tiny`: writes a tiny random-weight diffusers folder laid out like the real repos.</summary>
internal static class MakeTinyCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch")
        {
            Description = "Architecture: " + string.Join(", ", TinyModels.All.Select(s => $"{s.Arch} ({s.Description})")) + ".",
            Required = true,
        };
        arch.AcceptOnlyFromAmong([.. TinyModels.All.Select(s => s.Arch)]);
        var output = new Option<string>("--out") { Description = "Folder to write (created if missing).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 0 };
        var dtype = new Option<string>("--dtype")
        {
            Description = "Weight storage: f32 (diffusion_pytorch_model.safetensors) or bf16 (the .bf16 variant file).",
            DefaultValueFactory = _ => "f32",
        };
        dtype.AcceptOnlyFromAmong("f32", "bf16");
        var command = new Command("make-tiny", "Write a tiny random-weight diffusers model folder (demos, tests, bug reports).")
        {
            arch, output, seed, dtype,
        };
        command.SetAction(parse =>
        {
            string dir = parse.GetValue(output)!;
            var storeAs = parse.GetValue(dtype) == "bf16" ? SafeTensorDType.BF16 : SafeTensorDType.F32;
            TinyModels.Write(parse.GetValue(arch)!, dir, parse.GetValue(seed), storeAs);
            Ui.Done($"tiny {parse.GetValue(arch)} model written to {Path.GetFullPath(dir)}");
            return ExitCodes.Success;
        });
        return command;
    }
}
