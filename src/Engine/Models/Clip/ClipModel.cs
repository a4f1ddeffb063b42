using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Clip;

/// <summary>
/// transformers <c>CLIPModel</c>: the text tower (<c>text_model.*</c>), the vision tower (<c>vision_model.*</c>), their
/// projections to the shared <c>projection_dim</c> (<c>text_projection</c>, <c>visual_projection</c>, no bias) and the
/// learned temperature <c>logit_scale</c>. Built from any <see cref="IWeightSource"/> in HF key names, so a checkpoint in
/// another layout (open_clip's, for HPSv2) loads through a renaming source.
/// </summary>
public sealed class ClipModel
{
    private readonly LinearLayer _visualProjection, _textProjection;

    public ClipModel(WeightReader w, ClipConfig config)
    {
        Config = config;
        Backend = w.Backend;
        TextModel = new ClipTextTransformer(w.Scope("text_model"), config.TextConfig);
        VisionModel = new ClipVisionTransformer(w.Scope("vision_model"), config.VisionConfig);
        _visualProjection = LinearLayer.Load(w, "visual_projection", config.VisionConfig.HiddenSize, config.ProjectionDim, bias: false);
        _textProjection = LinearLayer.Load(w, "text_projection", config.TextConfig.HiddenSize, config.ProjectionDim, bias: false);
        // A 0-d parameter; exp() of it scales the cosine similarities. Read as fp32 on the host: it is one number.
        LogitScale = w.GetHostValues("logit_scale")[0];
    }

    public ClipConfig Config { get; }
    public IBackend Backend { get; }
    public ClipTextTransformer TextModel { get; }
    public ClipVisionTransformer VisionModel { get; }

    /// <summary>The trained <c>logit_scale</c> parameter (the logits use its exponential).</summary>
    public float LogitScale { get; }

    /// <summary><c>get_image_features</c>: visual_projection(pooler_output), [B, projection_dim], not normalised.</summary>
    public Tensor GetImageFeatures(Tensor pixelValues) => _visualProjection.Forward(VisionModel.Forward(pixelValues).PoolerOutput);

    /// <summary><c>get_text_features</c>: text_projection(pooled EOS state), [B, projection_dim], not normalised.</summary>
    public Tensor GetTextFeatures(TokenGrid inputIds, TokenGrid? attentionMask = null)
        => _textProjection.Forward(TextModel.Forward(inputIds, attentionMask).PoolerOutput!);

    /// <summary>
    /// The full forward: both towers, both projections, L2 normalisation, then
    /// <c>logits_per_text = text_embeds · image_embedsᵀ · exp(logit_scale)</c> and <c>logits_per_image</c> its transpose.
    /// </summary>
    public ClipModelOutput Forward(TokenGrid inputIds, Tensor pixelValues, TokenGrid? attentionMask = null)
    {
        ClipVisionOutput vision = VisionModel.Forward(pixelValues);
        TextEncoderOutput text = TextModel.Forward(inputIds, attentionMask);
        Tensor imageEmbeds = L2Normalize.LastAxis(_visualProjection.Forward(vision.PoolerOutput));
        Tensor textEmbeds = L2Normalize.LastAxis(_textProjection.Forward(text.PoolerOutput!));
        IBackend be = imageEmbeds.Backend;
        // Linear computes x · Wᵀ: with the image embeddings as W that is text · imageᵀ, [texts, images].
        Tensor logitsPerText = be.Scale(be.Linear(textEmbeds, imageEmbeds, null), MathF.Exp(LogitScale));
        Tensor logitsPerImage = be.TransposeLast2(logitsPerText);
        return new ClipModelOutput(logitsPerImage, logitsPerText, textEmbeds, imageEmbeds, text, vision);
    }
}
