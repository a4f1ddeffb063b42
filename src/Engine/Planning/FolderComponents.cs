using System.Text.RegularExpressions;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Planning;

/// <summary>
/// The components of a diffusers model folder, from their safetensors headers: each tensor's dtype and shape give its
/// bytes (the files are mapped, their weight bytes never read). The VAE counts what the engine loads: its decoder and
/// post_quant_conv, not the encoder text-to-image never runs.
/// </summary>
public static partial class FolderComponents
{
    /// <summary>The weighted components of the pipeline in <paramref name="dir"/> (text encoders, transformer, VAE).</summary>
    /// <param name="textTokens">The T5 / Gemma tokens the pipeline feeds (the architecture's), for the encode estimate.</param>
    public static IReadOnlyList<PlannedComponent> Of(string dir, long textTokens, string? variant = null)
        => Of(ModelFolder.Open(dir), textTokens, variant);

    /// <summary>The weighted components of <paramref name="folder"/>; those of a single file (<c>--model FILE --components DIR</c>) from the file's header.</summary>
    public static IReadOnlyList<PlannedComponent> Of(ModelFolder folder, long textTokens, string? variant = null)
    {
        if (folder.IsSingleComponent) return [Read(folder.Component("transformer"), "transformer", ComponentRole.Transformer, variant)];
        var components = new List<PlannedComponent>();
        foreach (string name in folder.Components.Keys.Where(n => n.StartsWith("text_encoder", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            var c = folder.Component(name);
            components.Add(Read(c, name, ComponentRole.TextEncoder, variant) with { Encoder = EncoderShape(c, textTokens) });
        }
        components.Add(Read(folder.Component("transformer"), "transformer", ComponentRole.Transformer, variant));
        if (folder.HasComponent("vae"))
        {
            var vae = folder.Component("vae");
            components.Add(Read(vae, "vae", ComponentRole.Vae, variant) with { Vae = AutoencoderKLConfig.From(vae.Config) });
        }
        return components;
    }

    private static PlannedComponent Read(ComponentFolder component, string name, ComponentRole role, string? variant)
    {
        if (component.SingleFile is not null) return SingleFileComponents.Read(component, name, role);
        using var set = SafeTensorsSet.OpenComponent(component.Path, component.WeightsBaseName, variant);
        var total = new WeightTally();
        var rest = new WeightTally();
        var blocks = new SortedDictionary<(int Group, int Index), WeightTally>();
        foreach (SafeTensorInfo tensor in set.Tensors)
        {
            if (role == ComponentRole.Vae && !IsDecoderTensor(tensor.Name)) continue;
            long? rows = IsLinearWeight(tensor) ? tensor.Shape[0] : null;
            total.AddStored(tensor.ElementCount, tensor.ByteLength, rows);
            if (role != ComponentRole.Transformer) continue;
            WeightTally part = rest;
            if (BlockOf(tensor.Name) is { } key && !blocks.TryGetValue(key, out part!)) blocks[key] = part = new WeightTally();
            part.AddStored(tensor.ElementCount, tensor.ByteLength, rows);
        }
        TransformerWeights? split = role == ComponentRole.Transformer ? new TransformerWeights(blocks.Values.ToList(), rest) : null;
        return new PlannedComponent(name, component.ClassName, role, total, $"safetensors headers of {set.Source}", split);
    }

    /// <summary>A text encoder's widths from its config.json (null for a class the engine does not run).</summary>
    private static TextEncoderShape? EncoderShape(ComponentFolder c, long textTokens) => c.ClassName switch
    {
        "CLIPTextModel" or "CLIPTextModelWithProjection" => TextEncoderShape.Of(ClipTextConfig.From(c.Config)),
        "T5EncoderModel" => TextEncoderShape.Of(T5Config.From(c.Config), textTokens),
        "GemmaModel" or "GemmaForCausalLM" => TextEncoderShape.Of(GemmaConfig.From(c.Config), textTokens),
        _ => null,
    };

    /// <summary>The engine's VAE binds decoder.*, post_quant_conv.* (AutoencoderKL.IsUnusedByDecode names the rest).</summary>
    internal static bool IsDecoderTensor(string name) =>
        !name.StartsWith("encoder.", StringComparison.Ordinal) && !name.StartsWith("quant_conv.", StringComparison.Ordinal);

    /// <summary>A Linear layer's matrix (fp8 quantises these; <see cref="Weights.LinearWeightNames"/>).</summary>
    private static bool IsLinearWeight(SafeTensorInfo t) => Weights.LinearWeightNames.IsLinearWeight(t.Name, t.Rank);

    /// <summary>Which streamed block a transformer tensor belongs to (SD3 / FLUX double: group 0, FLUX single: 1, Lumina layers: 2).</summary>
    internal static (int, int)? BlockOf(string name)
    {
        var m = BlockName().Match(name);
        if (!m.Success) return null;
        int group = m.Groups[1].Value switch { "transformer_blocks" => 0, "single_transformer_blocks" => 1, _ => 2 };
        return (group, int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"^(transformer_blocks|single_transformer_blocks|layers)\.(\d+)\.")]
    private static partial Regex BlockName();
}
