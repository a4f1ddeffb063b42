using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>What one component file of a <c>--components</c> folder of single files holds (ComfyUI's <c>models/clip</c>, <c>models/vae</c> files).</summary>
public enum ComponentFileKind
{
    /// <summary>A CLIP text encoder in transformers' names (<c>text_model.*</c>): <c>clip_l.safetensors</c>, <c>clip_g.safetensors</c>.</summary>
    ClipText,
    /// <summary>A T5 encoder in transformers' names (<c>encoder.block.N.*</c>, <c>shared.weight</c>): <c>t5xxl_fp16.safetensors</c>, <c>t5xxl_fp8_e4m3fn.safetensors</c>.</summary>
    T5Encoder,
    /// <summary>A VAE in the original LDM layout (<c>encoder.*</c> / <c>decoder.*</c>, optionally under <c>first_stage_model.</c>): BFL's <c>ae.safetensors</c>.</summary>
    LdmVae,
}

/// <summary>Tells a component file's kind from its keys alone.</summary>
public static class ComponentFileDetector
{
    public const string ClipMarker = "text_model.embeddings.token_embedding.weight";

    public const string T5Marker = "encoder.block.0.layer.0.SelfAttention.q.weight";

    private const string VaeMarker = "decoder.conv_in.weight";

    /// <summary>The kind of a file whose tensors are <paramref name="tensors"/>, or null when it is none of them.</summary>
    public static ComponentFileKind? Detect(IReadOnlyDictionary<string, SafeTensorInfo> tensors)
    {
        if (tensors.ContainsKey(ClipMarker)) return ComponentFileKind.ClipText;
        if (tensors.ContainsKey(T5Marker)) return ComponentFileKind.T5Encoder;
        if (tensors.ContainsKey(VaeMarker) || tensors.ContainsKey(LdmVaeKeyMap.Prefix + VaeMarker)) return ComponentFileKind.LdmVae;
        return null;
    }

    /// <summary>Where a VAE file's keys start: <see cref="LdmVaeKeyMap.Prefix"/> when it kept SD3's prefix, else "".</summary>
    public static string VaePrefix(IReadOnlyDictionary<string, SafeTensorInfo> tensors)
        => tensors.ContainsKey(LdmVaeKeyMap.Prefix + VaeMarker) ? LdmVaeKeyMap.Prefix : "";

    /// <summary>A CLIP file's width (the token embedding's columns).</summary>
    public static long ClipWidth(IReadOnlyDictionary<string, SafeTensorInfo> tensors)
        => tensors[ClipMarker] is { Rank: 2 } t ? t.Shape[1] : 0;

    /// <summary>"a CLIP text encoder", "a T5 encoder", "an LDM VAE": how a kind is named in messages.</summary>
    public static string Describe(ComponentFileKind kind) => kind switch
    {
        ComponentFileKind.ClipText => "a CLIP text encoder (text_model.*)",
        ComponentFileKind.T5Encoder => "a T5 encoder (encoder.block.N.*)",
        _ => "an LDM VAE (encoder.* / decoder.*)",
    };
}
