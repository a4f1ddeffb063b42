using AccelAes.Loader.Diffusers;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// One pipeline component inside a single file (the transformer; the VAE and text encoders a FLUX or SD3 file bundles), under diffusers'
/// names as <see cref="MappedTensor"/> views.
/// </summary>
/// <param name="Component">The diffusers pipeline component it is ("transformer", "vae", "text_encoder", …).</param>
/// <param name="Unconsumed">The component's file keys that no mapping rule consumed: a file that does not match its layout.</param>
/// <param name="Config">The config it is built with; null for a text encoder whose config was not given (none can be inferred).</param>
/// <param name="ConfigOrigin">"inferred from tensor shapes", a config.json path, or why there is none.</param>
public sealed record SingleFilePart(string Component, string ClassName, IReadOnlyDictionary<string, MappedTensor> Tensors,
    IReadOnlyList<string> Unconsumed, JsonConfig? Config, string ConfigOrigin)
{
    /// <summary>
    /// Where a bundled component's keys start in the file (<c>vae.</c>, <c>text_encoders.clip_l.transformer.</c>, see
    /// <see cref="BundledComponents"/>); empty for the transformer and a component file of its own.
    /// </summary>
    public string FilePrefix { get; init; } = "";

    /// <summary>The config, or an error naming what to pass.</summary>
    public JsonConfig RequireConfig(string source) => Config ?? throw new AccelAesException(
        $"{source}: the file carries {Component} ({ClassName}) but its config cannot be inferred from tensor shapes ({ConfigOrigin}); "
        + $"pass --components DIR with {Component}/config.json.");
}
