using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// The VAE and text encoders an "all-in-one" checkpoint bundles beside its transformer, as ComfyUI writes and reads them
/// (comfy/supported_models.py: <c>vae_key_prefix</c> / <c>text_encoder_key_prefix</c> of the model class, and comfy/sd.py
/// <c>load_state_dict_guess_config</c>, which cuts each prefix off to load the component; comfyanonymous/ComfyUI, read, not
/// copied): FLUX.1 files (Comfy-Org's <c>flux1-dev-fp8.safetensors</c>) keep the VAE under <c>vae.</c>, SD3 / SD3.5 files
/// (Stability AI's <c>_incl_clips</c> files and ComfyUI's) under <c>first_stage_model.</c>; both keep the text encoders under
/// <c>text_encoders.{clip_l,clip_g,t5xxl}.transformer.</c> in transformers' names. Each bundled component is the keys under
/// its prefix, with the prefix cut off — a view of the file's own header entries, no copy — mapped exactly as a component
/// file of a <c>--components</c> folder (<see cref="ComponentFileMap"/>: the same detection, key maps, fp8 scales and
/// inferred configs).
/// </summary>
public static class BundledComponents
{
    /// <summary>ComfyUI's and Stability AI's prefix of the text encoders in a checkpoint.</summary>
    public const string TextEncoderPrefix = "text_encoders.";

    /// <summary>Where each component a <paramref name="pipeline"/> file can bundle starts: file key prefix → pipeline component.</summary>
    public static IReadOnlyList<(string Prefix, string Component)> Of(string pipeline) => pipeline switch
    {
        ComponentSlot.FluxPipeline =>
        [
            ("vae.", "vae"),
            (TextEncoderPrefix + "clip_l.transformer.", "text_encoder"),
            (TextEncoderPrefix + "t5xxl.transformer.", "text_encoder_2"),
        ],
        ComponentSlot.Sd3Pipeline =>
        [
            (LdmVaeKeyMap.Prefix, "vae"),
            (TextEncoderPrefix + "clip_l.transformer.", "text_encoder"),
            (TextEncoderPrefix + "clip_g.transformer.", "text_encoder_2"),
            (TextEncoderPrefix + "t5xxl.transformer.", "text_encoder_3"),
        ],
        _ => [],
    };

    /// <summary>Whether a (prefix-stripped) key belongs to a component <paramref name="pipeline"/> files bundle, or to the text encoders at all.</summary>
    public static bool IsBundledKey(string pipeline, string key)
        => key.StartsWith(TextEncoderPrefix, StringComparison.Ordinal) || Of(pipeline).Any(b => key.StartsWith(b.Prefix, StringComparison.Ordinal));

    /// <summary>
    /// Adds to <paramref name="parts"/> each component of <paramref name="pipeline"/> that <paramref name="tensors"/> (the file's
    /// keys, the transformer's prefix removed) bundle, configured with <paramref name="componentConfig"/>'s config.json of that
    /// component when there is one, else the config its tensors give. Its unconsumed keys are reported with their file prefix.
    /// </summary>
    /// <param name="isTransformerKey">Whether a key is the transformer's (never another component's, whatever it starts with).</param>
    /// <returns>The keys that are neither the transformer's nor a bundled component's (e.g. CLIP's <c>logit_scale</c>): not loaded.</returns>
    public static IReadOnlyList<string> Add(Dictionary<string, SingleFilePart> parts, IReadOnlyDictionary<string, SafeTensorInfo> tensors, string pipeline,
        string source, Func<string, JsonConfig?> componentConfig, Func<string, bool> isTransformerKey)
    {
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (prefix, component) in Of(pipeline))
        {
            var view = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            foreach (var (key, info) in tensors)
                if (key.StartsWith(prefix, StringComparison.Ordinal) && !isTransformerKey(key))
                    view[key[prefix.Length..]] = info;
            if (view.Count == 0) continue;
            claimed.UnionWith(view.Keys.Select(k => prefix + k));
            var part = ComponentFileMap.Map(view, $"{source} ({component}, keys under '{prefix}')", ComponentSlot.Require(pipeline, component),
                componentConfig(component));
            parts[component] = part with { Unconsumed = [.. part.Unconsumed.Select(k => prefix + k)], FilePrefix = prefix };
        }
        return tensors.Keys.Where(k => !isTransformerKey(k) && !claimed.Contains(k)).Select(k => tensors[k].Name).Order(StringComparer.Ordinal).ToList();
    }
}
