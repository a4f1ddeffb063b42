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

    /// <param name="timestep">[B]: σ ∈ [0, 1] as the pipeline passes it; embedded at 1000·σ.</param>
    /// <param name="guidance">[B] guidance scale, embedded at 1000·g; required exactly when the guidance embedder exists.</param>
    /// <param name="pooledProjection">[B, pooled_projection_dim].</param>
    public Tensor Forward(Tensor timestep, Tensor? guidance, Tensor pooledProjection)
    {
        if ((guidance is null) == HasGuidanceEmbedder)
            throw new InvalidOperationException(HasGuidanceEmbedder
                ? "The guidance embedder needs a guidance value."
                : "This embedding has no guidance embedder.");
        IBackend be = timestep.Backend;
        var (timeProj, guidanceProj) = guidance is null ? (TimeProj(be, timestep), null) : TimeProjPair(be, timestep, guidance);
        Tensor temb = _timestepEmbedder.Forward(timeProj);
        // The sums in the last Linear's epilogue of each embedder (issue 16: two launches fewer), in diffusers' order.
        if (guidanceProj is not null) _guidanceEmbedder!.ForwardAddTo(temb, guidanceProj);
        _textEmbedder.ForwardAddTo(temb, pooledProjection);
        return temb;
    }

    /// <summary>Timesteps(256) of 1000·t: FLUX scales σ and the guidance scale by 1000 before embedding them.</summary>
    private static Tensor TimeProj(IBackend be, Tensor t)
        => be.TimestepEmbedding(be.Scale(t, 1000f), TimeProjChannels, flipSinToCos: true, downscaleFreqShift: 0);

    /// <summary>
    /// The timestep's and the guidance's Timesteps(256) as one batch of 2·B scalars (issue 16: one Scale and one embedding
    /// launch instead of two each; the joined input and the two halves of the output are device copies). Each row is
    /// computed alone, so the values are those of two separate calls.
    /// </summary>
    private static (Tensor Timestep, Tensor Guidance) TimeProjPair(IBackend be, Tensor timestep, Tensor guidance)
    {
        int batch = timestep.Shape[0];
        Tensor both = TimeProj(be, be.Concat(0, timestep, guidance));
        return (be.Slice(both, 0, 0, batch), be.Slice(both, 0, batch, batch));
    }
}
