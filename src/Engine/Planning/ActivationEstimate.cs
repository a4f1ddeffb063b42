using AccelAes.Engine.Benchmarks;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Planning;

/// <summary>Peak activation bytes of each phase of one generation, and what the denoise figure includes.</summary>
public sealed record PhaseActivations(long Encode, long DenoiseForward, long SparseCaches, long PipelineState, long Decode)
{
    /// <summary>The pools of further captured step graphs, each holding a forward's intermediates (see <see cref="MemoryPlanRequest.StepGraphs"/>).</summary>
    public long GraphPools { get; init; }

    /// <summary>Denoise: one forward's intermediates, other graphs' pools, the SkipSparse caches, latents, velocities and text embeddings.</summary>
    public long Denoise => DenoiseForward + GraphPools + SparseCaches + PipelineState;
}

/// <summary>
/// Estimates of activation memory, derived from the tensors the model code creates (the block forwards of
/// JointTransformerBlock, FluxTransformerBlock, FluxSingleTransformerBlock, LuminaNextDiTBlock, the text encoders'
/// layers and the VAE decoder's resnets), counting every intermediate of the widest step as live at once. They are
/// estimates: the real peak depends on when the backend's pool reuses a freed block. No CUDA attention path
/// materialises [L, L] scores (flash and the reference kernel both stream keys), so attention costs its q, k, v, out.
/// </summary>
public static class ActivationEstimate
{
    /// <summary>
    /// [B, S, D]-sized tensors an MMDiT / FLUX double-stream block allocates in its attention half, counted as if none
    /// were returned before it ends (intermediates nobody disposes go back to the pool only when the GC runs): the
    /// residual stream and the modulated input, the q/k/v projections, the q/k RMS norms, the joint concatenations
    /// of q, k, v (FluxAttention / JointAttention), the attention output and the output projections — 1 + 1 + 3 + 2
    /// + 3 + 1 + 1 = 12, plus RoPE's rotated q and k on FLUX (Sd3 has none; the larger is kept for both: 14).
    /// The FFN half (modulated input, its LayerNorm, the 4D hidden with fused GELU, output) is smaller.
    /// </summary>
    public const int JointBlockUnits = 1 + 1 + 3 + 2 + 3 + 2 + 1 + 1;

    /// <summary>
    /// FLUX single-stream block (FluxSingleTransformerBlock.Forward): residual, modulated input, proj_mlp's 4D output
    /// (GELU fused), the attention's q/k/v projections, q/k norms, rotated q/k and output, the [attention, MLP]
    /// concatenation (5D) and proj_out's output.
    /// </summary>
    public const int FluxSingleBlockUnits = 1 + 1 + 4 + 3 + 2 + 2 + 1 + 5 + 1;

    /// <param name="activationBytes">Bytes per activation element (2: the CUDA backend computes in bf16).</param>
    /// <param name="cfgBatch">Images per forward (2 for batched classifier-free guidance, else 1).</param>
    /// <param name="cacheBatch">Images the SkipSparse caches hold (both CFG branches, batched or two-pass).</param>
    /// <param name="stepGraphs">Captured step graphs alive at once; each beyond the first holds another forward's intermediates.</param>
    public static PhaseActivations Estimate(RealConfig config, IReadOnlyList<PlannedComponent> components, int width, int height,
        int pixelsPerToken, int cfgBatch, int cacheBatch, bool skipSparse, bool sparseFeedForward, int stepGraphs = 1, int activationBytes = 2)
    {
        long imageTokens = (long)(width / pixelsPerToken) * (height / pixelsPerToken);
        long textTokens = config.TextTokens;
        long encode = components.Where(c => c.Encoder is not null).Select(c => EncoderPeak(c.Encoder!, cfgBatch, activationBytes)).DefaultIfEmpty(0).Max();
        long forward = TransformerForward(config, imageTokens, textTokens, cfgBatch, activationBytes);
        long caches = skipSparse ? SparseCacheBytes(config, imageTokens, cacheBatch, sparseFeedForward, activationBytes) : 0;
        long latentElements = (long)cacheBatch * (width / 8) * (height / 8) * 16;
        long textEmbeddings = (long)cacheBatch * textTokens * HiddenWidth(config) * activationBytes;
        // fp32 latents, noise prediction, the two StepCache velocities and the CFG output: 5 latent-sized tensors.
        long state = 5 * latentElements * 4 + textEmbeddings;
        var vae = components.FirstOrDefault(c => c.Vae is not null)?.Vae;
        long decode = vae is null ? 0 : DecodePeak(vae, width, height, activationBytes);
        return new PhaseActivations(encode, forward, caches, state, decode) { GraphPools = (stepGraphs - 1) * forward };
    }

    /// <summary>
    /// One encoder layer at its widest: residual + normed input + q, k, v, attention output (attention), or residual +
    /// normed input + the feed-forward hidden (×2 gated) and its activation/product + output (FFN); T5 adds its
    /// materialised [B, heads, L, L] position bias.
    /// </summary>
    public static long EncoderPeak(TextEncoderShape e, int batch, int activationBytes)
    {
        long attention = 2 * e.Hidden + 4 * e.AttentionWidth;
        long feedForward = 2 * e.Hidden + (e.Gated ? 3 : 2) * e.FeedForward + e.Hidden;
        long bias = e.PositionBias ? e.Heads * e.Tokens : 0;
        return batch * (e.Tokens * Math.Max(attention, feedForward) + bias * e.Tokens) * activationBytes;
    }

    /// <summary>The widest block of one forward over <paramref name="batch"/> images.</summary>
    public static long TransformerForward(RealConfig config, long imageTokens, long textTokens, int batch, int activationBytes)
    {
        if (config.Lumina is { } l)
        {
            // Self-attention over image tokens; q is D wide, k and v KvDim; SwiGLU holds the [.., 2F] gate/up GEMM output and their product.
            long d = l.HiddenSize;
            long widest = Math.Max(2 * d + d + 2 * l.KvDim + d, 2 * d + 3L * l.FfnInnerDim + d);
            return batch * imageTokens * widest * activationBytes;
        }
        long width = HiddenWidth(config), sequence = imageTokens + textTokens;
        int units = config.Flux is not null ? FluxSingleBlockUnits : JointBlockUnits;
        return batch * sequence * width * units * activationBytes;
    }

    /// <summary>
    /// The per-layer caches SparseForward keeps, each [B, N, D] (Lumina's attn1 cache is H·hd = D wide): SD3 "attn"
    /// (+ "attn2" on MMDiT-X blocks) + "ff"; FLUX double "attn" + "ff", single one ("single_delta", or "single_attn"
    /// without sparse_ffn); Lumina "attn1" + "ffn". The "ff"/"ffn" caches exist only with sparse_ffn.
    /// </summary>
    public static long SparseCacheBytes(RealConfig config, long imageTokens, int batch, bool sparseFeedForward, int activationBytes)
    {
        int ff = sparseFeedForward ? 1 : 0;
        long perLayerCaches = config.Sd3 is { } s ? s.NumLayers * (1 + ff) + s.DualAttentionLayers.Length
            : config.Flux is { } f ? f.NumLayers * (1 + ff) + f.NumSingleLayers
            : config.Lumina!.NumLayers * (1 + ff);
        return perLayerCaches * batch * imageTokens * HiddenWidth(config) * activationBytes;
    }

    /// <summary>
    /// The VAE decoder's widest point over its resolutions: the mid block at latent size (residual, group norm, q, k, v,
    /// output) and, per up block, a resnet (input and its group norm at the input width, conv1, norm2, conv2, shortcut
    /// and sum at the output width) and the upsampler (nearest ×2 copy and its conv at 4× the pixels).
    /// </summary>
    public static long DecodePeak(AutoencoderKLConfig vae, int width, int height, int activationBytes)
    {
        int[] channels = vae.BlockOutChannels;
        long pixels = (long)(width / vae.SpatialScale) * (height / vae.SpatialScale);
        long deepest = channels[^1];
        long peak = 6 * deepest * pixels;
        long output = deepest;
        for (int i = 0; i < channels.Length; i++)
        {
            long input = output;
            output = channels[channels.Length - 1 - i];
            peak = Math.Max(peak, (2 * input + 5 * output) * pixels);
            if (i == channels.Length - 1) break;
            pixels *= 4;
            peak = Math.Max(peak, 2 * output * pixels);
        }
        return peak * activationBytes;
    }

    private static long HiddenWidth(RealConfig c) =>
        c.Sd3?.InnerDim ?? c.Lumina?.HiddenSize ?? (long)c.Flux!.NumAttentionHeads * c.Flux.AttentionHeadDim;
}
