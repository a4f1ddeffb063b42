using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// `forward --inputs` and `denoise --inputs` files for the tiny models, named and shaped as each pipeline takes them
/// (see the components' and pipelines' input tables), optionally with one tensor made wrong: missing, unknown,
/// integer or bool where a float is expected, a half-precision dtype, a wrong rank or size, NaN and ∞ values.
/// </summary>
internal static class TensorInputFiles
{
    /// <summary>One tensor of an input file: its name, shape, and the value it is filled with (null: random in [-1, 1)).</summary>
    private sealed record Spec(string Name, long[] Shape, float? Fill = null);

    /// <summary>The latent size both files use: 128 × 128 pixels, a 16 × 16 latent (FLUX: 8 × 8 packed tokens).</summary>
    public const int ImageSide = 128;

    private const int TextTokens = 6;

    private static IReadOnlyList<Spec> Forward(string arch) => arch switch
    {
        "sd3" =>
        [
            new("hidden_states", [1, 16, 16, 16]), new("encoder_hidden_states", [1, TextTokens, 64]),
            new("pooled_projections", [1, 64]), new("timestep", [1], 500),
        ],
        "flux" =>
        [
            new("hidden_states", [1, 64, 64]), new("encoder_hidden_states", [1, TextTokens, 48]), new("pooled_projections", [1, 40]),
            new("timestep", [1], 0.5f), new("img_ids", [64, 3], 1), new("txt_ids", [TextTokens, 3], 0), new("guidance", [1], 3.5f),
        ],
        _ =>
        [
            new("hidden_states", [1, 4, 16, 16]), new("timestep", [1], 0.5f), new("encoder_hidden_states", [1, TextTokens, 32]),
            new("encoder_mask", [1, TextTokens], 1),
        ],
    };

    private static IReadOnlyList<Spec> Denoise(string arch) => arch switch
    {
        "sd3" =>
        [
            new("prompt_embeds", [1, TextTokens, 64]), new("pooled_prompt_embeds", [1, 64]),
            new("negative_prompt_embeds", [1, TextTokens, 64]), new("negative_pooled_prompt_embeds", [1, 64]), new("latents", [1, 16, 16, 16]),
        ],
        "flux" =>
        [
            new("prompt_embeds", [1, TextTokens, 48]), new("pooled_prompt_embeds", [1, 40]),
            new("negative_prompt_embeds", [1, TextTokens, 48]), new("negative_pooled_prompt_embeds", [1, 40]), new("latents", [1, 64, 64]),
        ],
        _ =>
        [
            new("prompt_embeds", [1, TextTokens, 32]), new("prompt_attention_mask", [1, TextTokens], 1),
            new("negative_prompt_embeds", [1, TextTokens, 32]), new("negative_prompt_attention_mask", [1, TextTokens], 1),
            new("latents", [1, 4, 16, 16]),
        ],
    };

    /// <summary>Writes the inputs of <paramref name="command"/> (forward or denoise) for <paramref name="arch"/>; with <paramref name="broken"/>, one tensor is made wrong.</summary>
    public static (string Path, string? Broken) Write(string path, string command, string arch, bool broken, FuzzDraw draw)
    {
        var specs = (command == "forward" ? Forward(arch) : Denoise(arch)).ToList();
        string? what = null;
        int target = draw.Int(0, specs.Count);
        int fault = broken ? draw.Int(0, 7) : -1;
        if (fault == 0)
        {
            what = $"input '{specs[target].Name}' left out";
            specs.RemoveAt(target);
        }
        else if (fault == 1)
        {
            specs.Add(new Spec(draw.Pick("unexpected", "hidden_state", "latents_step_0", ""), [2, 2]));
            what = $"unknown input '{specs[^1].Name}' added";
        }
        else if (fault == 2)
        {
            var s = specs[target];
            long[] shape = draw.Int(0, 4) switch
            {
                0 => s.Shape[1..],
                1 => [.. s.Shape, 1],
                2 => s.Shape.Select((d, i) => i == s.Shape.Length - 1 ? d + 1 : d).ToArray(),
                _ => s.Shape.Select((d, i) => i == 0 ? draw.Pick(0L, 2L, 3L) : d).ToArray(),
            };
            specs[target] = s with { Shape = shape };
            what = $"input '{s.Name}' shape [{string.Join(", ", s.Shape)}] → [{string.Join(", ", shape)}]";
        }
        else if (fault == 3)
        {
            float bad = draw.Pick(float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e30f, -1e30f, float.Epsilon);
            specs[target] = specs[target] with { Fill = bad };
            what = $"input '{specs[target].Name}' filled with {bad}";
        }

        var random = new Random(draw.Int(0, int.MaxValue));
        var writer = new SafeTensorsWriter();
        SafeTensorDType? retyped = fault is 4 or 5 or 6 ? draw.Pick(SafeTensorDType.I64, SafeTensorDType.I32, SafeTensorDType.Bool, SafeTensorDType.U8,
            SafeTensorDType.F16, SafeTensorDType.BF16, SafeTensorDType.F64, SafeTensorDType.I8) : null;
        for (int i = 0; i < specs.Count; i++)
        {
            var s = specs[i];
            long count = s.Shape.Aggregate(1L, (a, d) => a * d);
            var values = new float[count];
            for (long k = 0; k < count; k++)
                values[k] = s.Fill ?? (float)(random.NextDouble() * 2 - 1);
            if (retyped is { } dtype && i == target)
            {
                writer.Add(s.Name, dtype, s.Shape, Encode(values, dtype));
                what = $"input '{s.Name}' stored as {dtype}";
            }
            else writer.Add(s.Name, s.Shape, values);
        }
        writer.Save(path);
        return (path, what);
    }

    /// <summary>The values in <paramref name="dtype"/>, converted as PyTorch's .to() would (integers truncate, bools test ≠ 0).</summary>
    private static byte[] Encode(float[] values, SafeTensorDType dtype)
    {
        switch (dtype)
        {
            case SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F64:
            {
                var bytes = new byte[values.Length * dtype.ByteSize()];
                DTypeConversion.FromFloat32(values, dtype, bytes);
                return bytes;
            }
            case SafeTensorDType.I64:
                return values.SelectMany(v => BitConverter.GetBytes((long)v)).ToArray();
            case SafeTensorDType.I32:
                return values.SelectMany(v => BitConverter.GetBytes((int)v)).ToArray();
            case SafeTensorDType.Bool:
                return values.Select(v => v != 0 ? (byte)1 : (byte)0).ToArray();
            case SafeTensorDType.U8:
                return values.Select(v => (byte)Math.Clamp(v, 0, 255)).ToArray();
            default:
                return values.Select(v => (byte)(sbyte)Math.Clamp(v, -128, 127)).ToArray();
        }
    }
}
