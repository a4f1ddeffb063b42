namespace AccelAes.Loader.Files;

/// <summary>
/// Names a user or a file gives that become part of a path inside a model folder — a component name, a weights
/// variant — must stay inside that folder: no separators, no "..", not rooted. Checked here once, for the CLI,
/// the C ABI and model_index.json alike, so "../x" or "/etc" can never reach Path.Combine.
/// </summary>
public static class PathRules
{
    /// <summary>Refuses a component name that is not a plain folder name inside the model folder.</summary>
    public static string RequireComponentName(string name)
    {
        if (!IsPlainName(name))
            throw new AccelAesException(
                $"Component '{name}': component must be a folder name inside the model folder (e.g. transformer, vae, text_encoder), "
                + "without '/', '\\' or '..'.");
        return name;
    }

    /// <summary>
    /// Refuses a weights variant that is not letters, digits, '_' or '-' (diffusers' variants are bf16, fp16, ...):
    /// it becomes part of a file name, so a separator or ".." would point outside the component folder.
    /// </summary>
    public static string? RequireVariant(string? variant)
    {
        if (variant is null) return null;
        if (!SafeTensors.ComponentWeightsLocator.IsValidVariant(variant))
            throw new AccelAesException($"Variant '{variant}' must be letters, digits, '_' or '-' (e.g. bf16, fp16): it names weight files such as diffusion_pytorch_model.<variant>.safetensors.");
        return variant;
    }

    /// <summary>A single path segment: not empty, not "." or "..", no separator, not rooted, no NUL.</summary>
    public static bool IsPlainName(string name) =>
        name.Length > 0 && name != "." && name != ".."
        && name.IndexOfAny(['/', '\\', '\0']) < 0 && !Path.IsPathRooted(name);
}
