using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// FLUX's <c>time_text_embed</c>: diffusers <c>CombinedTimestepTextProjEmbeddings</c> (FLUX.1-schnell) or, when the
/// model embeds guidance, <c>CombinedTimestepGuidanceTextProjEmbeddings</c> (FLUX.1-dev), which only adds the
/// <c>guidance_embedder</c> term. Each scalar goes through <c>Timesteps(256, flip_sin_to_cos=True,
/// downscale_freq_shift=0)</c> and a <c>TimestepEmbedding</c> MLP; the pooled text through
/// <c>PixArtAlphaTextProjection(act="silu")</c>. temb = (t_emb [+ g_emb]) + text_emb, in diffusers' order.
/// </summary>
public sealed class CombinedTimestepTextProjEmbeddings
{
    private const int TimeProjChannels = 256;

    private readonly SiluMlp _timestepEmbedder;
    private readonly SiluMlp? _guidanceEmbedder;
    private readonly SiluMlp _textEmbedder;

    public CombinedTimestepTextProjEmbeddings(WeightReader w, int embeddingDim, int pooledProjectionDim, bool withGuidance)
    {
        _timestepEmbedder = new SiluMlp(w.Scope("timestep_embedder"), TimeProjChannels, embeddingDim, embeddingDim);
        if (withGuidance) _guidanceEmbedder = new SiluMlp(w.Scope("guidance_embedder"), TimeProjChannels, embeddingDim, embeddingDim);
        _textEmbedder = new SiluMlp(w.Scope("text_embedder"), pooledProjectionDim, embeddingDim, embeddingDim);
    }

    public bool HasGuidanceEmbedder => _guidanceEmbedder is not null;

    /// <param name="timestep">[B], already on the 0…1000 scale (the model multiplies the pipeline's σ by 1000).</param>
    /// <param name="guidance">[B] on the same ×1000 scale; required exactly when the guidance embedder exists.</param>
    /// <param name="pooledProjection">[B, pooled_projection_dim].</param>
    public Tensor Forward(Tensor timestep, Tensor? guidance, Tensor pooledProjection)
    {
        if ((guidance is null) == HasGuidanceEmbedder)
            throw new InvalidOperationException(HasGuidanceEmbedder
                ? "The guidance embedder needs a guidance value."
                : "This embedding has no guidance embedder.");
        IBackend be = timestep.Backend;
        Tensor temb = _timestepEmbedder.Forward(TimeProj(be, timestep));
        if (guidance is not null) temb = be.Add(temb, _guidanceEmbedder!.Forward(TimeProj(be, guidance)));
        return be.Add(temb, _textEmbedder.Forward(pooledProjection));
    }

    private static Tensor TimeProj(IBackend be, Tensor t)
        => be.TimestepEmbedding(t, TimeProjChannels, flipSinToCos: true, downscaleFreqShift: 0);
}
