using AccelAes.Engine.Models;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>SD3's transformer text inputs: <c>prompt_embeds</c> [B, 77 + T, joint_attention_dim], <c>pooled_prompt_embeds</c> [B, dL + dG].</summary>
public sealed record Sd3PromptEmbeds(Tensor PromptEmbeds, Tensor PooledPromptEmbeds);

/// <summary>FLUX's transformer text inputs: <c>prompt_embeds</c> [B, T, 4096], <c>pooled_prompt_embeds</c> [B, 768], <c>text_ids</c> zeros [T, 3].</summary>
public sealed record FluxPromptEmbeds(Tensor PromptEmbeds, Tensor PooledPromptEmbeds, Tensor TextIds);

/// <summary>Lumina-Next's transformer text inputs: <c>prompt_embeds</c> [B, L, 2048] and the tokenizer's <c>prompt_attention_mask</c> [B, L] (1 / 0, fp32).</summary>
public sealed record LuminaPromptEmbeds(Tensor PromptEmbeds, Tensor PromptAttentionMask);

/// <summary>
/// How each diffusers pipeline turns text-encoder outputs into transformer inputs, as pure functions of those
/// outputs (tokenizing and running the encoders is the caller's job). Line numbers refer to the diffusers
/// mirror at 58eb52c (pipeline_stable_diffusion_3.py, pipeline_flux.py, lumina/pipeline_lumina.py).
/// Negative prompts go through the same functions.
/// </summary>
public static class PromptConditioning
{
    /// <summary>What SD3 uses for <c>max_sequence_length</c> by default (the T5 token count).</summary>
    public const int Sd3DefaultMaxSequenceLength = 256;

    /// <summary>
    /// <c>StableDiffusion3Pipeline.encode_prompt</c>:
    /// <list type="bullet">
    /// <item>each CLIP is called with <c>output_hidden_states=True</c> and gives <c>hidden_states[-2]</c>
    /// (<c>hidden_states[-(clip_skip + 2)]</c> with clip_skip) as prompt embeddings and <c>out[0]</c>, its
    /// <c>text_embeds</c>, as pooled embeddings (L324–330);</item>
    /// <item>CLIP-L and CLIP-G embeddings are concatenated along features (L450) and padded with zeros on the
    /// right up to T5's width (L459; <c>F.pad</c> with a negative amount crops, and so does this);</item>
    /// <item>then concatenated along the sequence before T5's <c>last_hidden_state</c> (L463). T5 runs
    /// without an attention mask (L276). Without <c>text_encoder_3</c>, T5's part is zeros
    /// [B, max_sequence_length, joint_attention_dim] (L247–256);</item>
    /// <item>pooled = cat(CLIP-L text_embeds, CLIP-G text_embeds) along features (L464).</item>
    /// </list>
    /// </summary>
    /// <param name="clipL"><c>text_encoder</c> (CLIPTextModelWithProjection) output.</param>
    /// <param name="clipG"><c>text_encoder_2</c> (CLIPTextModelWithProjection) output.</param>
    /// <param name="t5"><c>text_encoder_3</c> (T5EncoderModel) output, or null when the pipeline has none.</param>
    /// <param name="jointAttentionDim">The transformer's <c>joint_attention_dim</c> (width of the zeros when T5 is absent).</param>
    /// <param name="maxSequenceLength">T5 token count of the zeros when T5 is absent.</param>
    /// <param name="clipSkip">diffusers' <c>clip_skip</c>: null takes hidden_states[-2].</param>
    /// <param name="numImagesPerPrompt">Each prompt's rows repeated this many times, consecutively (L284–285, L336–340).</param>
    public static Sd3PromptEmbeds Sd3(TextEncoderOutput clipL, TextEncoderOutput clipG, TextEncoderOutput? t5, int jointAttentionDim,
        int maxSequenceLength = Sd3DefaultMaxSequenceLength, int? clipSkip = null, int numImagesPerPrompt = 1)
    {
        Tensor clipLHidden = clipL.HiddenState(-((clipSkip ?? 0) + 2));
        Tensor clipGHidden = clipG.HiddenState(-((clipSkip ?? 0) + 2));
        Tensor pooledL = clipL.TextEmbeds ?? throw NoTextEmbeds("text_encoder");
        Tensor pooledG = clipG.TextEmbeds ?? throw NoTextEmbeds("text_encoder_2");
        int batch = clipLHidden.Shape[0];
        RequireBatch(clipGHidden, batch, "text_encoder_2 hidden states");
        if (clipGHidden.Shape[1] != clipLHidden.Shape[1])
            throw new AccelAesException(
                $"SD3 concatenates the two CLIP hidden states along features, so both need the same token count; " +
                $"text_encoder gave {clipLHidden.Shape[1]}, text_encoder_2 {clipGHidden.Shape[1]}.");
        IBackend be = clipLHidden.Backend;

        Tensor t5Embeds;
        if (t5 is null)
            t5Embeds = be.Zeros(new Shape(batch, maxSequenceLength, jointAttentionDim));
        else
        {
            t5Embeds = t5.LastHiddenState;
            RequireBatch(t5Embeds, batch, "text_encoder_3 last_hidden_state");
        }

        Tensor clipEmbeds = be.Concat(-1, clipLHidden, clipGHidden);
        clipEmbeds = PadFeatures(clipEmbeds, t5Embeds.Shape[-1]);
        Tensor promptEmbeds = be.Concat(1, clipEmbeds, t5Embeds);
        RequireBatch(pooledL, batch, "text_encoder text_embeds");
        RequireBatch(pooledG, batch, "text_encoder_2 text_embeds");
        Tensor pooled = be.Concat(-1, pooledL, pooledG);
        return new Sd3PromptEmbeds(RepeatPerPrompt(promptEmbeds, numImagesPerPrompt), RepeatPerPrompt(pooled, numImagesPerPrompt));
    }

    /// <summary>
    /// <c>FluxPipeline.encode_prompt</c>: prompt embeddings = T5's <c>last_hidden_state</c>, called without an
    /// attention mask (L253); pooled = CLIPTextModel's <c>pooler_output</c>, the final-LN state at the EOS token
    /// without projection (L301); <c>text_ids</c> = zeros [T, 3] (L385).
    /// </summary>
    /// <param name="clip"><c>text_encoder</c> (CLIPTextModel) output.</param>
    /// <param name="t5"><c>text_encoder_2</c> (T5EncoderModel) output.</param>
    /// <param name="numImagesPerPrompt">Each prompt's rows repeated this many times, consecutively (L261–262, L305–306).</param>
    public static FluxPromptEmbeds Flux(TextEncoderOutput clip, TextEncoderOutput t5, int numImagesPerPrompt = 1)
    {
        Tensor pooled = clip.PoolerOutput ?? throw new AccelAesException(
            "FLUX takes the pooler_output of a CLIPTextModel as text_encoder; this output has none " +
            "(a CLIPTextModelWithProjection returns text_embeds instead).");
        Tensor promptEmbeds = t5.LastHiddenState;
        RequireBatch(pooled, promptEmbeds.Shape[0], "text_encoder pooler_output");
        Tensor textIds = promptEmbeds.Backend.Zeros(new Shape(promptEmbeds.Shape[1], 3));
        return new FluxPromptEmbeds(RepeatPerPrompt(promptEmbeds, numImagesPerPrompt), RepeatPerPrompt(pooled, numImagesPerPrompt), textIds);
    }

    /// <summary>
    /// <c>LuminaText2ImgPipeline._get_gemma_prompt_embeds</c>: Gemma is called with the tokenizer's attention
    /// mask and <c>output_hidden_states=True</c> (L238–240); the prompt embeddings are <c>hidden_states[-2]</c>
    /// (L241) and the caption mask is the tokenizer's attention mask itself (L237), used by the transformer for
    /// its masked-mean pool and as the cross-attention key mask.
    /// </summary>
    /// <param name="gemma">The Gemma output (from a forward given <paramref name="attentionMask"/>).</param>
    /// <param name="attentionMask">The tokenizer's attention mask, [B, L].</param>
    /// <param name="numImagesPerPrompt">Each prompt's embedding rows repeated this many times, consecutively (L254–255).</param>
    /// <param name="tileMaskLikeDiffusers">
    /// diffusers repeats the mask with <c>mask.repeat(n, 1)</c> (L256), which tiles the whole batch (m0, m1, m0, m1)
    /// while the embeddings are repeated row by row (e0, e0, e1, e1): with several prompts and n &gt; 1 rows get
    /// another prompt's mask. By default each row keeps its own mask; true reproduces diffusers.
    /// </param>
    public static LuminaPromptEmbeds Lumina(TextEncoderOutput gemma, TokenGrid attentionMask, int numImagesPerPrompt = 1,
        bool tileMaskLikeDiffusers = false)
        => Lumina(gemma.HiddenState(-2), attentionMask, numImagesPerPrompt, tileMaskLikeDiffusers);

    /// <summary><see cref="Lumina(TextEncoderOutput, TokenGrid, int, bool)"/> from <c>hidden_states[-2]</c> alone (see <see cref="GemmaModel.HiddenState"/>).</summary>
    public static LuminaPromptEmbeds Lumina(Tensor penultimateHiddenState, TokenGrid attentionMask, int numImagesPerPrompt = 1,
        bool tileMaskLikeDiffusers = false)
    {
        Shape s = penultimateHiddenState.Shape;
        if (s.Rank != 3 || s[0] != attentionMask.Batch || s[1] != attentionMask.Length)
            throw new ModelInputException(attentionMask.Name,
                $"Input '{attentionMask.Name}' has shape [{attentionMask.Batch}, {attentionMask.Length}]; the Gemma hidden states are {s}, " +
                "so the mask must be [B, L] of the same prompts.");
        IBackend be = penultimateHiddenState.Backend;
        Tensor mask = attentionMask.UploadAsFloat(be);
        Tensor repeatedMask = tileMaskLikeDiffusers ? TileBatch(mask, numImagesPerPrompt) : RepeatPerPrompt(mask, numImagesPerPrompt);
        return new LuminaPromptEmbeds(RepeatPerPrompt(penultimateHiddenState, numImagesPerPrompt), repeatedMask);
    }

    /// <summary>
    /// diffusers' <c>x.repeat(1, n, …).view(B·n, …)</c>: [B, …] → [B·n, …] with each row repeated n times in a
    /// row (prompt 0's n images first).
    /// </summary>
    public static Tensor RepeatPerPrompt(Tensor x, int n)
    {
        if (n < 1) throw new AccelAesException($"num_images_per_prompt must be at least 1, not {n}.");
        if (n == 1) return x;
        int batch = x.Shape[0];
        var rows = new int[batch * n];
        for (int i = 0; i < rows.Length; i++) rows[i] = i / n;
        return GatherBatchRows(x, rows);
    }

    /// <summary>diffusers' <c>x.repeat(n, 1)</c>: [B, …] → [n·B, …], the whole batch repeated n times.</summary>
    public static Tensor TileBatch(Tensor x, int n)
    {
        if (n < 1) throw new AccelAesException($"num_images_per_prompt must be at least 1, not {n}.");
        if (n == 1) return x;
        int batch = x.Shape[0];
        var rows = new int[batch * n];
        for (int i = 0; i < rows.Length; i++) rows[i] = i % batch;
        return GatherBatchRows(x, rows);
    }

    /// <summary>Zero-pads (or, for a negative amount, crops) the last dimension to <paramref name="width"/>, as <c>F.pad(x, (0, width − w))</c>.</summary>
    public static Tensor PadFeatures(Tensor x, int width)
    {
        IBackend be = x.Backend;
        int current = x.Shape[-1];
        if (width == current) return x;
        if (width < current) return be.Slice(x, -1, 0, width);
        return be.Concat(-1, x, be.Zeros(x.Shape.With(-1, width - current)));
    }

    private static Tensor GatherBatchRows(Tensor x, int[] rows)
    {
        IBackend be = x.Backend;
        int batch = x.Shape[0], rowSize = x.ElementCount / batch;
        Tensor gathered = be.GatherRows(x.Reshape(batch, rowSize), be.UploadIndices(rows, new Shape(rows.Length)));
        return gathered.Reshape([.. x.Shape.Dims.ToArray().Select((d, i) => i == 0 ? rows.Length : d)]);
    }

    private static void RequireBatch(Tensor t, int batch, string what)
    {
        if (t.Shape[0] != batch)
            throw new AccelAesException($"{what} has batch {t.Shape[0]}, but the other encoder outputs have batch {batch}; encode the same prompts with every encoder.");
    }

    private static AccelAesException NoTextEmbeds(string component)
        => new($"SD3 takes the text_embeds of a CLIPTextModelWithProjection as {component}; this output has none " +
               "(a CLIPTextModel returns pooler_output without the projection).");
}
