using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// diffusers <c>LuminaCombinedTimestepCaptionEmbedding</c>: temb = timestep_embedder(sinusoid(t)) +
/// caption_embedder(masked mean of the raw caption features), both of width min(D, 1024).
/// <list type="bullet">
/// <item>The sinusoid is <c>Timesteps(256, flip_sin_to_cos=True, shift 0)</c> of t itself: Lumina's t = 1 − σ ∈ [0, 1]
/// is <b>not</b> multiplied by 1000 (architectures.md pitfall 4).</item>
/// <item>caption_embedder = <c>Sequential(LayerNorm(cross_attention_dim, eps 1e-5, affine), Linear)</c>, keys
/// <c>caption_embedder.0</c> / <c>caption_embedder.1</c>.</item>
/// </list>
/// </summary>
public sealed class LuminaCombinedTimestepCaptionEmbedding
{
    private const int FrequencyEmbeddingSize = 256;
    private const float CaptionNormEps = 1e-5f; // nn.LayerNorm default

    private readonly SiluMlp _timestepEmbedder;
    private readonly Tensor _captionNormWeight, _captionNormBias;
    private readonly LinearLayer _captionProj;

    public LuminaCombinedTimestepCaptionEmbedding(WeightReader w, int hiddenSize, int crossAttentionDim)
    {
        _timestepEmbedder = new SiluMlp(w.Scope("timestep_embedder"), FrequencyEmbeddingSize, hiddenSize, hiddenSize);
        _captionNormWeight = w.Get("caption_embedder.0.weight", crossAttentionDim);
        _captionNormBias = w.Get("caption_embedder.0.bias", crossAttentionDim);
        _captionProj = LinearLayer.Load(w, "caption_embedder.1", crossAttentionDim, hiddenSize);
    }

    /// <param name="timestep">[B], Lumina's model time (0 = noise, 1 = image).</param>
    /// <param name="captionFeatures">[B, L, cross_attention_dim], the raw text-encoder features.</param>
    /// <param name="captionMask">[B, L], 1 = real token, 0 = padding; every row needs a real token.</param>
    /// <returns>temb [B, min(D, 1024)] (SiLU not applied).</returns>
    public Tensor Forward(Tensor timestep, Tensor captionFeatures, Tensor captionMask)
        => Forward(timestep, CaptionEmbedding(captionFeatures, captionMask));

    /// <summary>temb from the timestep and a caption's <see cref="CaptionEmbedding"/> (computed once per generation: issue 16).</summary>
    /// <param name="captionEmbedding">[B, min(D, 1024)].</param>
    public Tensor Forward(Tensor timestep, Tensor captionEmbedding)
    {
        IBackend be = timestep.Backend;
        Tensor timeEmbed = _timestepEmbedder.Forward(
            be.TimestepEmbedding(timestep, FrequencyEmbeddingSize, flipSinToCos: true, downscaleFreqShift: 0));
        return be.Add(timeEmbed, captionEmbedding);
    }

    /// <summary>temb's caption half, caption_embedder(masked mean of the caption): it depends on the caption alone.</summary>
    public Tensor CaptionEmbedding(Tensor captionFeatures, Tensor captionMask)
    {
        Tensor pooled = MaskedMean(captionFeatures, captionMask);
        return _captionProj.Forward(captionFeatures.Backend.LayerNorm(pooled, CaptionNormEps, _captionNormWeight, _captionNormBias));
    }

    /// <summary>
    /// Σ_l y_l·m_l / Σ_l m_l per batch item, computed as an attention whose scores are all equal: the softmax
    /// over the unmasked keys is then exactly 1/count, so the output is the mean of the unmasked values. This
    /// keeps the pool on the device (no host round trip per step) and batched. Equals diffusers' pool for 0/1
    /// masks, which is what tokenizers produce (callers check that). The feature width is split into heads of at
    /// most <see cref="MaxPoolHeadWidth"/> values: Gemma's 2048 would exceed the CUDA attention's head-dim limit (256).
    /// </summary>
    internal static Tensor MaskedMean(Tensor features, Tensor mask)
    {
        IBackend be = features.Backend;
        int batch = features.Shape[0], length = features.Shape[1], dim = features.Shape[2];
        int heads = PoolHeads(dim);
        Tensor q = be.Zeros(new Shape(batch, 1, heads, 1));
        Tensor k = be.Zeros(new Shape(batch, length, heads, 1));
        Tensor v = features.Reshape(batch, length, heads, dim / heads);
        return be.Attention(q, k, v, 1f, keyMask: mask).Reshape(batch, dim);
    }

    /// <summary>Widest value head of the pooling attention: the flash kernel's largest specialisation.</summary>
    internal const int MaxPoolHeadWidth = 128;

    /// <summary>The fewest heads that split <paramref name="dim"/> evenly into widths ≤ <see cref="MaxPoolHeadWidth"/>.</summary>
    internal static int PoolHeads(int dim)
    {
        for (int heads = 1; heads < dim; heads++)
            if (dim % heads == 0 && dim / heads <= MaxPoolHeadWidth)
                return heads;
        return Math.Max(1, dim);
    }
}
