using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// One place of a pipeline a component file can fill: its diffusers component name, the kind of file it takes, the model
/// class it is built as. SD3 and FLUX.1 put the same files in different places (a T5 file is SD3's <c>text_encoder_3</c>,
/// FLUX's <c>text_encoder_2</c>), so how a file maps is decided by the pipeline and the place together.
/// </summary>
/// <param name="Label">"CLIP-L", "CLIP-G", "T5-XXL", "VAE": for messages and to choose published values.</param>
/// <param name="PublishedWidth">The hidden size of the published encoder of this place (CLIP-L 768, CLIP-G 1280), or null.</param>
/// <param name="IdentityProjection">
/// SD3's CLIP-L: pooled unprojected, so <c>text_projection</c> is the identity (as diffusers sets it for SAI files and
/// SAI's own code does with <c>return_projected_pooled=False</c>), whatever projection the file carries.
/// </param>
public sealed record ComponentSlot(string Component, ComponentFileKind Kind, string Label, string ClassName, int? PublishedWidth,
    bool IdentityProjection, LdmVaeConfigInference.PublishedFactors? VaeFactors = null)
{
    public const string Sd3Pipeline = "StableDiffusion3Pipeline";

    public const string FluxPipeline = "FluxPipeline";

    /// <summary>The places of <paramref name="pipeline"/> a component file can fill.</summary>
    public static IReadOnlyList<ComponentSlot> Of(string pipeline) => pipeline switch
    {
        FluxPipeline =>
        [
            new("text_encoder", ComponentFileKind.ClipText, "CLIP-L", ClipTextConfig.TextModelClass, 768, false),
            new("text_encoder_2", ComponentFileKind.T5Encoder, "T5-XXL", T5Config.EncoderModelClass, null, false),
            new("vae", ComponentFileKind.LdmVae, "VAE", AutoencoderKLConfig.ClassName, null, false, LdmVaeConfigInference.FluxFactors),
        ],
        Sd3Pipeline =>
        [
            new("text_encoder", ComponentFileKind.ClipText, "CLIP-L", ClipTextConfig.WithProjectionClass, 768, true),
            new("text_encoder_2", ComponentFileKind.ClipText, "CLIP-G", ClipTextConfig.WithProjectionClass, 1280, false),
            new("text_encoder_3", ComponentFileKind.T5Encoder, "T5-XXL", T5Config.EncoderModelClass, null, false),
            new("vae", ComponentFileKind.LdmVae, "VAE", AutoencoderKLConfig.ClassName, null, false, LdmVaeConfigInference.Sd3Factors),
        ],
        _ => throw new AccelAesException($"No component files are mapped for a {pipeline}; only {Sd3Pipeline} and {FluxPipeline} take a folder of single files."),
    };

    /// <summary>The place <paramref name="component"/> of <paramref name="pipeline"/>.</summary>
    public static ComponentSlot Require(string pipeline, string component)
        => Of(pipeline).FirstOrDefault(s => s.Component == component)
            ?? throw new AccelAesException($"A {pipeline} takes no component file as {component}.");
}
