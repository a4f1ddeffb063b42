using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>CLIPTextTransformer</c> (the <c>text_model</c> module): embeddings, the encoder under a causal
/// mask (plus a padding mask when <c>attention_mask</c> is given; SD3 and FLUX pass none), <c>final_layer_norm</c>,
/// and the pooled output at the end-of-text token.
/// </summary>
public sealed class ClipTextTransformer
{
    private readonly ClipTextEmbeddings _embeddings;
    private readonly ClipEncoder _encoder;
    private readonly Tensor _finalLayerNormWeight, _finalLayerNormBias;

    public ClipTextTransformer(WeightReader w, ClipTextConfig config)
    {
        Config = config;
        _embeddings = new ClipTextEmbeddings(w.Scope("embeddings"), config);
        _encoder = new ClipEncoder(w.Scope("encoder"), config);
        _finalLayerNormWeight = w.Get("final_layer_norm.weight", config.HiddenSize);
        _finalLayerNormBias = w.Get("final_layer_norm.bias", config.HiddenSize);
    }

    public ClipTextConfig Config { get; }

    /// <summary>The full forward: <c>last_hidden_state</c>, <c>pooler_output</c>, <c>hidden_states</c> (num_hidden_layers + 1 entries).</summary>
    public TextEncoderOutput Forward(TokenGrid inputIds, TokenGrid? attentionMask = null)
    {
        AttentionMaskArgs mask = Prepare(inputIds, attentionMask);
        IBackend be = _finalLayerNormWeight.Backend;
        List<Tensor> hiddenStates = _encoder.Forward(_embeddings.Forward(inputIds), mask, _encoder.NumLayers);
        Tensor last = be.LayerNorm(hiddenStates[^1], (float)Config.LayerNormEps, _finalLayerNormWeight, _finalLayerNormBias);
        int[] poolIndices = PoolIndices(inputIds, Config.EosTokenId);
        return new TextEncoderOutput(last, hiddenStates)
        {
            PoolerOutput = GatherPositions(last, poolIndices),
            PoolIndices = poolIndices,
        };
    }

    /// <summary>
    /// <c>hidden_states[index]</c> (Python indexing) computing only the layers it depends on: SD3's
    /// <c>hidden_states[-2]</c> skips the last layer. No final norm is applied to any hidden state.
    /// </summary>
    public Tensor HiddenState(TokenGrid inputIds, TokenGrid? attentionMask, int index)
    {
        int resolved = HiddenStateIndex.Resolve(index, _encoder.NumLayers + 1);
        AttentionMaskArgs mask = Prepare(inputIds, attentionMask);
        return _encoder.Forward(_embeddings.Forward(inputIds), mask, resolved)[resolved];
    }

    /// <summary>
    /// The pooled position per row, as <c>CLIPTextTransformer.forward</c> picks it: when <c>eos_token_id == 2</c>
    /// (configs saved before transformers PR #24773, kept for backward compatibility) the first maximum of the
    /// ids (CLIP's end-of-text id is its largest regular id); otherwise the first occurrence of
    /// <c>eos_token_id</c>, or 0 when a row has none (argmax of an all-zero row).
    /// </summary>
    public static int[] PoolIndices(TokenGrid inputIds, int eosTokenId)
    {
        var indices = new int[inputIds.Batch];
        for (int b = 0; b < inputIds.Batch; b++)
        {
            ReadOnlySpan<int> row = inputIds.Row(b);
            if (eosTokenId == 2)
            {
                int best = 0;
                for (int i = 1; i < row.Length; i++)
                    if (row[i] > row[best]) best = i;
                indices[b] = best;
            }
            else
                indices[b] = Math.Max(0, row.IndexOf(eosTokenId));
        }
        return indices;
    }

    private AttentionMaskArgs Prepare(TokenGrid inputIds, TokenGrid? attentionMask)
    {
        inputIds.RequireIdsBelow(Config.VocabSize);
        if (inputIds.Length > _embeddings.MaxPositions)
            throw new ModelInputException(inputIds.Name,
                $"Input '{inputIds.Name}' has {inputIds.Length} tokens per row, more than the {_embeddings.MaxPositions} " +
                "positions of the model (max_position_embeddings); truncate the prompt.");
        attentionMask?.RequireMaskFor(inputIds);
        IBackend be = _finalLayerNormWeight.Backend;
        if (!AttentionMaskArgs.HasFullyMaskedRow(attentionMask, causal: true))
            return new AttentionMaskArgs(AttentionMaskArgs.KeyMaskOf(be, attentionMask), true, null);
        return AttentionMaskArgs.FromAdditive(be, AdditiveMask(attentionMask!), inputIds.Batch, inputIds.Length,
            inputIds.Length, Config.NumAttentionHeads);
    }

    /// <summary>
    /// CLIPAttention's eager masks, summed as it sums them: <c>_create_4d_causal_attention_mask</c> (min above the
    /// diagonal) plus <c>_prepare_4d_attention_mask</c> (min at padded keys). Where both apply transformers' sum
    /// overflows to −∞ and here it is 2 × <see cref="AttentionMaskArgs.MaskedScore"/>: either way such keys get
    /// no weight, and a fully masked query spreads its weight evenly over the keys masked only once.
    /// </summary>
    private static float[] AdditiveMask(TokenGrid attentionMask)
    {
        int batch = attentionMask.Batch, length = attentionMask.Length;
        var additive = new float[batch * length * length];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < length; i++)
                for (int j = 0; j < length; j++)
                {
                    float causal = j > i ? AttentionMaskArgs.MaskedScore : 0f;
                    float padding = attentionMask[b, j] == 1 ? 0f : AttentionMaskArgs.MaskedScore;
                    additive[(b * length + i) * length + j] = causal + padding;
                }
        return additive;
    }

    /// <summary>x [B, L, D] → x[b, positions[b]] as [B, D].</summary>
    internal static Tensor GatherPositions(Tensor x, int[] positions)
    {
        IBackend be = x.Backend;
        int batch = x.Shape[0], length = x.Shape[1], d = x.Shape[2];
        var rows = new int[batch];
        for (int b = 0; b < batch; b++) rows[b] = b * length + positions[b];
        return be.GatherRows(x.Reshape(batch * length, d), be.UploadIndices(rows, new Shape(batch)));
    }
}
