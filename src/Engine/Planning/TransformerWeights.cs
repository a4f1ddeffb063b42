using AccelAes.Engine.Benchmarks;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Planning;

/// <summary>
/// A transformer's parameters split the way the <c>sequential</c> policy would stream them: one tally per block
/// (in forward order) and the rest (embedders, final norm and projection), which stays resident.
/// </summary>
public sealed record TransformerWeights(IReadOnlyList<WeightTally> Blocks, WeightTally Rest)
{
    public WeightTally Total
    {
        get
        {
            var total = new WeightTally().Add(Rest);
            foreach (var b in Blocks) total.Add(b);
            return total;
        }
    }

    /// <summary>Bytes of the largest block under <paramref name="precision"/> (0 when there are none).</summary>
    public long LargestBlockBytes(WeightPrecision precision) => Blocks.Count == 0 ? 0 : Blocks.Max(b => b.Bytes(precision));

    /// <summary>
    /// The tensors the model code binds for <paramref name="config"/> (SD3 / FLUX / Lumina-Next constructors:
    /// Sd3Transformer2DModel, FluxTransformer2DModel, LuminaNextDiT2DModel and their blocks), at 2 bytes per element
    /// (the published checkpoints are bf16 / fp16). Tested equal to the safetensors headers of the tiny models.
    /// </summary>
    public static TransformerWeights FromConfig(RealConfig config) =>
        config.Sd3 is { } sd3 ? Sd3(sd3) : config.Flux is { } flux ? Flux(flux) : Lumina(config.Lumina!);

    private static TransformerWeights Sd3(Sd3TransformerConfig c)
    {
        long d = c.InnerDim, headDim = c.AttentionHeadDim;
        bool qkNorm = c.QkNorm is not null;
        var rest = new WeightTally();
        // pos_embed: the patch conv [D, C, p, p] and its bias (a 4-D tensor: fp8 keeps convolutions), and the stored
        // sin-cos table of the published checkpoints.
        rest.Tensor(d * c.InChannels * c.PatchSize * c.PatchSize).Tensor(d);
        rest.Tensor((long)c.PosEmbedMaxSize * c.PosEmbedMaxSize * d);
        rest.Linear(256, d).Linear(d, d); // time_text_embed.timestep_embedder
        rest.Linear(c.PooledProjectionDim, d).Linear(d, d); // time_text_embed.text_embedder
        rest.Linear(c.JointAttentionDim, c.CaptionProjectionDim);
        rest.Linear(d, 2 * d); // norm_out
        rest.Linear(d, (long)c.PatchSize * c.PatchSize * c.OutChannels);
        var blocks = new List<WeightTally>();
        for (int i = 0; i < c.NumLayers; i++)
        {
            bool preOnly = i == c.NumLayers - 1, dual = c.DualAttentionLayers.Contains(i);
            var b = new WeightTally();
            b.Linear(d, (dual ? 9 : 6) * d); // norm1 (AdaLayerNormZero; MMDiT-X has 9 chunks)
            b.Linear(d, (preOnly ? 2 : 6) * d); // norm1_context (AdaLayerNormContinuous on the last block)
            JointAttention(b, d, headDim, qkNorm, joint: true, preOnly);
            if (dual) JointAttention(b, d, headDim, qkNorm, joint: false, preOnly: false);
            b.Linear(d, 4 * d).Linear(4 * d, d); // ff
            if (!preOnly) b.Linear(d, 4 * d).Linear(4 * d, d); // ff_context
            blocks.Add(b);
        }
        return new TransformerWeights(blocks, rest);
    }

    private static void JointAttention(WeightTally b, long d, long headDim, bool qkNorm, bool joint, bool preOnly)
    {
        b.Linear(d, d).Linear(d, d).Linear(d, d).Linear(d, d); // to_q, to_k, to_v, to_out.0
        if (qkNorm) b.Tensor(2 * headDim);
        if (!joint) return;
        b.Linear(d, d).Linear(d, d).Linear(d, d); // add_q_proj, add_k_proj, add_v_proj
        if (!preOnly) b.Linear(d, d); // to_add_out
        if (qkNorm) b.Tensor(2 * headDim);
    }

    private static TransformerWeights Flux(FluxTransformerConfig c)
    {
        long d = (long)c.NumAttentionHeads * c.AttentionHeadDim, headDim = c.AttentionHeadDim;
        var rest = new WeightTally();
        rest.Linear(256, d).Linear(d, d); // timestep_embedder
        if (c.GuidanceEmbeds) rest.Linear(256, d).Linear(d, d);
        rest.Linear(c.PooledProjectionDim, d).Linear(d, d); // text_embedder
        rest.Linear(c.JointAttentionDim, d).Linear(c.InChannels, d); // context_embedder, x_embedder
        rest.Linear(d, 2 * d).Linear(d, c.OutputTokenWidth); // norm_out, proj_out
        var blocks = new List<WeightTally>();
        for (int i = 0; i < c.NumLayers; i++)
        {
            var b = new WeightTally();
            b.Linear(d, 6 * d).Linear(d, 6 * d); // norm1, norm1_context
            b.Tensor(4 * headDim); // norm_q, norm_k, norm_added_q, norm_added_k
            for (int p = 0; p < 8; p++) b.Linear(d, d); // to_q/k/v, to_out.0, add_q/k/v_proj, to_add_out
            b.Linear(d, 4 * d).Linear(4 * d, d).Linear(d, 4 * d).Linear(4 * d, d); // ff, ff_context
            blocks.Add(b);
        }
        long mlp = 4 * d; // FluxSingleTransformerBlock's mlp_ratio 4
        for (int i = 0; i < c.NumSingleLayers; i++)
        {
            var b = new WeightTally();
            b.Linear(d, 3 * d).Linear(d, mlp); // norm.linear, proj_mlp
            b.Tensor(2 * headDim).Linear(d, d).Linear(d, d).Linear(d, d); // attn: norms, to_q/k/v (no to_out)
            b.Linear(d + mlp, d); // proj_out
            blocks.Add(b);
        }
        return new TransformerWeights(blocks, rest);
    }

    private static TransformerWeights Lumina(LuminaNextDiTConfig c)
    {
        long d = c.HiddenSize, cond = c.ConditioningDim, cross = c.CrossAttentionDim, kv = c.KvDim, heads = c.NumAttentionHeads;
        var rest = new WeightTally();
        rest.Linear((long)c.PatchSize * c.PatchSize * c.InChannels, d); // patch_embedder.proj
        rest.Tensor(d); // pad_token
        rest.Linear(256, cond).Linear(cond, cond); // time_caption_embed.timestep_embedder (256 frequencies)
        rest.Tensor(2 * cross).Linear(cross, cond); // caption_embedder: LayerNorm, Linear
        rest.Linear(cond, d).Linear(d, (long)c.PatchSize * c.PatchSize * c.OutChannels); // norm_out linear_1, linear_2
        var blocks = new List<WeightTally>();
        for (int i = 0; i < c.NumLayers; i++)
        {
            var b = new WeightTally();
            b.Tensor(heads); // gate
            b.Linear(d, d, bias: false).Linear(d, kv, bias: false).Linear(d, kv, bias: false); // attn1 (no to_out)
            b.Linear(d, d, bias: false).Linear(cross, kv, bias: false).Linear(cross, kv, bias: false).Linear(d, d, bias: false); // attn2
            if (c.QkNorm) b.Tensor(2 * (d + kv)).Tensor(2 * (d + kv)); // norm_q, norm_k weight + bias, both attentions
            long ffn = c.FfnInnerDim;
            b.Linear(d, ffn, bias: false).Linear(ffn, d, bias: false).Linear(d, ffn, bias: false);
            b.Linear(cond, 4 * d).Tensor(d); // norm1 (RMSNormZero: linear, norm weight)
            b.Tensor(3 * d).Tensor(cross); // ffn_norm1, norm2, ffn_norm2, norm1_context
            blocks.Add(b);
        }
        return new TransformerWeights(blocks, rest);
    }
}
