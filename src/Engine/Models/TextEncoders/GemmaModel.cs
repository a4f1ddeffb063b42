using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Kernels;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>GemmaModel</c> used as a text encoder (Lumina-Next): embeddings scaled by √hidden_size, the
/// decoder layers under a causal mask combined with the padding mask, the final norm. Positions are
/// 0 … L−1 in every row whatever the padding, as GemmaModel's default <c>position_ids</c> are.
/// </summary>
public sealed class GemmaModel
{
    private readonly Tensor _embedTokens;
    private readonly GemmaDecoderLayer[] _layers;
    private readonly GemmaRmsNorm _norm;
    private readonly GemmaRotaryEmbedding _rotaryEmbedding;

    /// <param name="w">The reader at the model's root: <see cref="ModelScope"/> finds it in a causal-LM checkpoint.</param>
    public GemmaModel(WeightReader w, GemmaConfig config)
    {
        Config = config;
        _embedTokens = w.Get("embed_tokens.weight", config.VocabSize, config.HiddenSize);
        _layers = new GemmaDecoderLayer[config.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = new GemmaDecoderLayer(w.Scope($"layers.{i}"), config);
        _norm = new GemmaRmsNorm(w.Scope("norm"), config.HiddenSize, config.RmsNormEps);
        _rotaryEmbedding = new GemmaRotaryEmbedding(config.HeadDim, config.RopeTheta);
    }

    public GemmaConfig Config { get; }

    /// <summary>
    /// Where a GemmaModel's tensors live in a checkpoint: at the root for a saved <c>GemmaModel</c>, under
    /// <c>model.</c> for a <c>GemmaForCausalLM</c> (whose <c>lm_head</c> a text encoder does not use).
    /// </summary>
    public static WeightReader ModelScope(WeightReader root)
        => !root.Has("embed_tokens.weight") && root.Has("model.embed_tokens.weight") ? root.Scope("model") : root;

    /// <summary>
    /// The full forward. <c>hidden_states</c>: <c>[embeddings·√hidden, out(layer 0), …, out(layer N−2),
    /// norm(out(layer N−1))]</c>, so <c>hidden_states[-2]</c> (what Lumina takes) is the raw output of layer N−2
    /// and <c>hidden_states[-1]</c> equals <c>last_hidden_state</c>.
    /// </summary>
    public TextEncoderOutput Forward(TokenGrid inputIds, TokenGrid? attentionMask = null)
    {
        List<Tensor> hiddenStates = Run(inputIds, attentionMask, _layers.Length);
        return new TextEncoderOutput(hiddenStates[^1], hiddenStates);
    }

    /// <summary>
    /// <c>hidden_states[index]</c> (Python indexing) running only the layers it depends on: Lumina's
    /// <c>hidden_states[-2]</c> skips the last layer and the final norm.
    /// </summary>
    public Tensor HiddenState(TokenGrid inputIds, TokenGrid? attentionMask, int index)
    {
        int resolved = HiddenStateIndex.Resolve(index, _layers.Length + 1);
        return Run(inputIds, attentionMask, resolved)[resolved];
    }

    private List<Tensor> Run(TokenGrid inputIds, TokenGrid? attentionMask, int layers)
    {
        IBackend be = _embedTokens.Backend;
        inputIds.RequireIdsBelow(Config.VocabSize);
        attentionMask?.RequireMaskFor(inputIds);
        AttentionMaskArgs mask = Masks(be, inputIds, attentionMask);
        (Tensor cos, Tensor sin) = _rotaryEmbedding.Tables(be, inputIds.Length);

        Tensor x = be.Scale(be.GatherRows(_embedTokens, inputIds.UploadIndices(be)), Normalizer(be.ActivationType, Config.HiddenSize));
        var hiddenStates = new List<Tensor>(layers + 1) { x };
        for (int i = 0; i < layers; i++)
        {
            x = _layers[i].Forward(x, cos, sin, mask);
            hiddenStates.Add(i == _layers.Length - 1 ? _norm.Forward(x) : x);
        }
        return hiddenStates;
    }

    /// <summary>
    /// √hidden_size as <c>torch.tensor(hidden_size**0.5, dtype=hidden_states.dtype)</c> makes it: rounded to the
    /// activation type (sqrt(3072) = 55.4256 becomes 55.5 in bf16, and transformers multiplies by that).
    /// </summary>
    public static float Normalizer(DType activationType, int hiddenSize)
    {
        float normalizer = (float)Math.Sqrt(hiddenSize);
        return activationType switch
        {
            DType.BF16 => BFloat16Bits.Round(normalizer),
            DType.F16 => (float)(Half)normalizer,
            _ => normalizer,
        };
    }

    private AttentionMaskArgs Masks(IBackend be, TokenGrid inputIds, TokenGrid? attentionMask)
    {
        if (!AttentionMaskArgs.HasFullyMaskedRow(attentionMask, causal: true))
            return new AttentionMaskArgs(AttentionMaskArgs.KeyMaskOf(be, attentionMask), true, null);
        // Left padding: reproduce _prepare_4d_causal_attention_mask_with_cache_position, min wherever the key
        // is in the future or padding (one fill, never a sum).
        int batch = inputIds.Batch, length = inputIds.Length;
        var additive = new float[batch * length * length];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < length; i++)
                for (int j = 0; j < length; j++)
                    additive[(b * length + i) * length + j] =
                        j > i || attentionMask![b, j] == 0 ? AttentionMaskArgs.MaskedScore : 0f;
        return AttentionMaskArgs.FromAdditive(be, additive, batch, length, length, Config.NumAttentionHeads);
    }
}
