using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Planning;

/// <summary>
/// The parameters the engine's text encoder and VAE code binds for a config (ClipTextModel[WithProjection],
/// T5EncoderModel, GemmaModel, AutoencoderKL's decoder — text-to-image never runs the VAE encoder, so it is not
/// loaded), at 2 bytes per element. Tested equal to the safetensors headers of the tiny models' components.
/// </summary>
public static class ComponentWeightFormulas
{
    public static WeightTally ClipText(ClipTextConfig c, bool withProjection)
    {
        long d = c.HiddenSize, ff = c.IntermediateSize;
        var t = new WeightTally();
        t.Tensor((long)c.VocabSize * d).Tensor((long)c.MaxPositionEmbeddings * d); // token and position embeddings
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            t.Linear(d, d).Linear(d, d).Linear(d, d).Linear(d, d); // q, k, v, out_proj
            t.Tensor(4 * d); // layer_norm1, layer_norm2 (weight + bias)
            t.Linear(d, ff).Linear(ff, d); // fc1, fc2
        }
        t.Tensor(2 * d); // final_layer_norm
        if (withProjection) t.Linear(d, c.ProjectionDim, bias: false);
        return t;
    }

    public static WeightTally T5Encoder(T5Config c)
    {
        long d = c.DModel, inner = c.InnerDim, ff = c.DFf;
        var t = new WeightTally();
        t.Tensor((long)c.VocabSize * d); // shared embedding
        t.Tensor((long)c.RelativeAttentionNumBuckets * c.NumHeads); // block 0's relative_attention_bias
        for (int i = 0; i < c.NumLayers; i++)
        {
            t.Linear(d, inner, false).Linear(d, inner, false).Linear(d, inner, false).Linear(inner, d, false); // q, k, v, o
            if (c.IsGatedAct) t.Linear(d, ff, false).Linear(d, ff, false).Linear(ff, d, false); // wi_0, wi_1, wo
            else t.Linear(d, ff, false).Linear(ff, d, false); // wi, wo
            t.Tensor(2 * d); // the two layer norms (weight only)
        }
        t.Tensor(d); // final_layer_norm
        return t;
    }

    public static WeightTally Gemma(GemmaConfig c)
    {
        long d = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, ff = c.IntermediateSize;
        bool bias = c.AttentionBias;
        var t = new WeightTally();
        t.Tensor((long)c.VocabSize * d); // embed_tokens
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            t.Linear(d, q, bias).Linear(d, kv, bias).Linear(d, kv, bias).Linear(q, d, bias);
            t.Linear(d, ff, false).Linear(d, ff, false).Linear(ff, d, false); // gate, up, down
            t.Tensor(2 * d); // input_layernorm, post_attention_layernorm
        }
        t.Tensor(d); // norm
        return t;
    }

    /// <summary>post_quant_conv and the decoder (convolutions count as plain tensors: fp8 applies to Linear weights).</summary>
    public static WeightTally VaeDecoder(AutoencoderKLConfig c)
    {
        var t = new WeightTally();
        int[] channels = c.BlockOutChannels;
        long deepest = channels[^1], latent = c.LatentChannels;
        if (c.UsePostQuantConv) Conv(t, latent, latent, 1);
        Conv(t, latent, deepest, 3);
        Resnet(t, deepest, deepest);
        if (c.MidBlockAddAttention) t.Tensor(2 * deepest).Linear(deepest, deepest).Linear(deepest, deepest).Linear(deepest, deepest).Linear(deepest, deepest);
        Resnet(t, deepest, deepest);
        long output = deepest;
        for (int i = 0; i < channels.Length; i++)
        {
            long input = output;
            output = channels[channels.Length - 1 - i];
            for (int r = 0; r < c.ResnetsPerUpBlock; r++) Resnet(t, r == 0 ? input : output, output);
            if (i != channels.Length - 1) Conv(t, output, output, 3); // upsamplers.0.conv
        }
        t.Tensor(2L * channels[0]); // conv_norm_out
        Conv(t, channels[0], c.OutChannels, 3);
        return t;
    }

    private static void Resnet(WeightTally t, long input, long output)
    {
        t.Tensor(2 * input);
        Conv(t, input, output, 3);
        t.Tensor(2 * output);
        Conv(t, output, output, 3);
        if (input != output) Conv(t, input, output, 1); // conv_shortcut
    }

    private static void Conv(WeightTally t, long input, long output, int kernel) => t.Tensor(output * input * kernel * kernel + output);
}
