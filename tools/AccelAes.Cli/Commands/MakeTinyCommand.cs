using System.CommandLine;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Files;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Commands;

/// <summary>`accelaes make-tiny`: writes a tiny random-weight diffusers folder laid out like the real repos.</summary>
internal static class MakeTinyCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch")
        {
            Description = "Architecture: " + string.Join(", ", TinyModels.All.Select(s => $"{s.Arch} ({s.Description})")) +
                          $"; or a model name, for the tiny layout with its code paths: {ModelArchitectures.NameList}.",
            Required = true,
        };
        arch.AcceptOnlyFromAmong([.. TinyModels.Names]);
        var output = new Option<string>("--out") { Description = "Folder to write (created if missing; an existing non-empty one needs --force).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 0 };
        var dtype = new Option<string>("--dtype")
        {
            Description = "Weight storage: f32 (diffusion_pytorch_model.safetensors) or bf16 (the .bf16 variant file).",
            DefaultValueFactory = _ => "f32",
        };
        dtype.AcceptOnlyFromAmong("f32", "bf16");
        var force = new Option<bool>("--force")
        {
            Description = "Replace an existing non-empty model folder at --out (as a whole: the new folder is written aside and swapped in).",
        };
        var command = new Command("make-tiny", "Write a tiny random-weight diffusers model folder (demos, tests, bug reports).")
        {
            arch, output, seed, dtype, force,
        };
        command.SetAction(parse =>
        {
            string dir = parse.GetValue(output)!;
            var storeAs = parse.GetValue(dtype) == "bf16" ? SafeTensorDType.BF16 : SafeTensorDType.F32;
            string written = OutputFolder.Write(dir, "--out", parse.GetValue(force), temp =>
            {
                TinyModels.Write(parse.GetValue(arch)!, temp, parse.GetValue(seed), storeAs);
                CliCancellation.Token.ThrowIfCancellationRequested(); // before the swap: a cancelled run changes nothing
            });
            Ui.Done($"tiny {parse.GetValue(arch)} model written to {written}");
            return ExitCodes.Success;
        });
        return command;
    }
}
