namespace AccelAes.Loader.Diffusers.Configs;

/// <summary>
/// The fields transformers' <c>CLIPEncoder</c> (and its layers, attention and MLP) read from a config. CLIP's text and
/// vision towers share that code, so <see cref="ClipTextConfig"/> and <see cref="ClipVisionConfig"/> both provide them.
/// </summary>
public interface IClipEncoderConfig
{
    int HiddenSize { get; }
    int IntermediateSize { get; }
    int NumHiddenLayers { get; }
    int NumAttentionHeads { get; }
    int HeadDim { get; }

    /// <summary>A <see cref="TransformersActivations"/> name.</summary>
    string HiddenAct { get; }

    double LayerNormEps { get; }
}
