using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// One component file (CLIP, T5, VAE) → the <see cref="SingleFilePart"/> of the pipeline place it fills, as views over the
/// mapped file. CLIP and T5 files are in transformers' names already (ComfyUI's <c>comfy/text_encoders</c> keep them; diffusers'
/// single-file loader strips only the SAI prefix from such keys, huggingface/diffusers
/// src/diffusers/loaders/single_file_utils.py at 58eb52c0803ea9af3abec60841c2a093bdf1f951, read, not copied): they are read as
/// they are, fp8 and ComfyUI scaled fp8 included (<c>scale_weight</c> multiplies its weight). SD3's CLIP-L gets the identity
/// projection; FLUX's CLIP-L is a <c>CLIPTextModel</c> and leaves a file's <c>text_projection</c> unused. The VAE is the LDM
/// layout (<see cref="LdmVaeKeyMap"/>) with or without <c>first_stage_model.</c>, configured with the pipeline's published
/// latent scaling.
/// </summary>
public static class ComponentFileMap
{
    public static SingleFilePart Map(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source, ComponentSlot slot, JsonConfig? given)
    {
        var kind = ComponentFileDetector.Detect(tensors);
        if (kind != slot.Kind)
            throw new AccelAesException($"{source}: {slot.Component} of this pipeline is {ComponentFileDetector.Describe(slot.Kind)} ({slot.Label}), "
                + $"but the file is {(kind is { } k ? ComponentFileDetector.Describe(k) : "none of a CLIP text encoder, a T5 encoder and an LDM VAE")}.");
        if (slot.Kind == ComponentFileKind.LdmVae)
        {
            string prefix = ComponentFileDetector.VaePrefix(tensors);
            var (vae, vaeUnconsumed) = LdmVaeKeyMap.Map(tensors, source, prefix);
            var (vaeConfig, vaeOrigin) = LdmVaeConfigInference.Resolve(LdmVaeConfigInference.Infer(tensors, source, prefix, slot.VaeFactors), given, source);
            var outside = tensors.Keys.Where(k => !k.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal);
            return new SingleFilePart(slot.Component, slot.ClassName, vae, [.. vaeUnconsumed, .. outside], vaeConfig, vaeOrigin);
        }

        var builder = new KeyMapBuilder(tensors, source, $"the {slot.Label} text encoder file");
        foreach (string key in tensors.Keys)
        {
            if (ComfyQuantLayers.IsQuantisationParameter(key) || ComfyQuantLayers.IsWeightScale(tensors, key))
                continue; // markers, configs and input scales are consumed by Unconsumed, weight scales with their weight
            bool projection = key == "text_projection.weight";
            // position_ids is a buffer some exports keep; CLIPTextModel has no projection, SD3's CLIP-L a generated one.
            if (key.EndsWith("embeddings.position_ids", StringComparison.Ordinal) || (projection && (slot.IdentityProjection || slot.ClassName != Diffusers.Configs.ClipTextConfig.WithProjectionClass)))
                builder.Consume(key);
            else
                builder.CopyTensor(key, key);
        }
        if (slot.IdentityProjection)
            builder.Identity("text_projection.weight", ComponentFileDetector.ClipWidth(tensors));
        var inferred = slot.Kind == ComponentFileKind.ClipText
            ? TextEncoderFileConfigInference.InferClip(tensors, source, slot)
            : TextEncoderFileConfigInference.InferT5(tensors, source);
        var (config, origin) = TextEncoderFileConfigInference.Resolve(slot, inferred, given, source);
        return new SingleFilePart(slot.Component, slot.ClassName, builder.Mapped, builder.Unconsumed(), config, origin);
    }
}
