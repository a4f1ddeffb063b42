using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Clip;

/// <summary>
/// transformers <c>CLIPOutput</c>: <c>logits_per_image</c> [images, texts], <c>logits_per_text</c> (its transpose),
/// the L2-normalised <c>text_embeds</c> and <c>image_embeds</c>, and both towers' own outputs.
/// </summary>
public sealed record ClipModelOutput(
    Tensor LogitsPerImage, Tensor LogitsPerText, Tensor TextEmbeds, Tensor ImageEmbeds,
    TextEncoderOutput TextModelOutput, ClipVisionOutput VisionModelOutput)
{
    /// <summary>The outputs under the names <c>accelaes forward</c> writes (the towers' under text_model. / vision_model.).</summary>
    public IReadOnlyDictionary<string, Tensor> ToNamedOutputs()
    {
        var named = new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            ["logits_per_image"] = LogitsPerImage,
            ["logits_per_text"] = LogitsPerText,
            ["text_embeds"] = TextEmbeds,
            ["image_embeds"] = ImageEmbeds,
        };
        foreach (var (name, t) in TextModelOutput.ToNamedOutputs()) named["text_model_output." + name] = t;
        foreach (var (name, t) in VisionModelOutput.ToNamedOutputs()) named["vision_model_output." + name] = t;
        return named;
    }
}
