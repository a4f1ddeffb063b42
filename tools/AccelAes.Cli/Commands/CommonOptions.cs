using System.CommandLine;
using AccelAes.Engine.Backends;

namespace AccelAes.Cli.Commands;

/// <summary>Options several commands share, defined once so their names and help stay consistent.</summary>
internal static class CommonOptions
{
    public static Option<string> Backend()
    {
        var option = new Option<string>("--backend")
        {
            Description = "Where to run: cpu (fp32 reference) or cuda (bf16 kernels).",
            DefaultValueFactory = _ => "cpu",
        };
        option.AcceptOnlyFromAmong([.. BackendFactory.Names]);
        return option;
    }

    public static Option<string?> Variant() => new("--variant")
    {
        Description = "Weight file variant to load, as diffusers names it (bf16, fp16 → diffusion_pytorch_model.bf16.safetensors).",
    };

    public static Option<string?> Model(bool required) => new("--model")
    {
        Description = "A diffusers model folder (with model_index.json) or a single component folder (with config.json).",
        Required = required,
    };
}
