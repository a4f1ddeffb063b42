using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>T5Stack</c> as the encoder (<c>encoder.</c>): token embeddings (tied to <c>shared</c>), the
/// blocks, <c>final_layer_norm</c>. The position bias is computed once, by block 0, and added in every block
/// together with the padding mask. SD3 and FLUX call the encoder without <c>attention_mask</c>, so padding
/// tokens are attended to like any other token.
/// </summary>
public sealed class T5Stack
{
    private readonly Tensor _embedTokens;
    private readonly T5Block[] _blocks;
    private readonly T5LayerNorm _finalLayerNorm;

    /// <param name="embedTokens">The shared embedding table [vocab_size, d_model].</param>
    public T5Stack(WeightReader w, T5Config config, Tensor embedTokens)
    {
        Config = config;
        _embedTokens = embedTokens;
        _blocks = new T5Block[config.NumLayers];
        for (int i = 0; i < _blocks.Length; i++)
            _blocks[i] = new T5Block(w.Scope($"block.{i}"), config, hasRelativeAttentionBias: i == 0);
        _finalLayerNorm = new T5LayerNorm(w.Scope("final_layer_norm"), config.DModel, config.LayerNormEpsilon);
    }

    public T5Config Config { get; }

    /// <summary>Block 0's attention, which owns the relative position bias.</summary>
    public T5Attention PositionBiasOwner => _blocks[0].SelfAttentionLayer.SelfAttention;

    /// <summary>
    /// Runs <paramref name="blocks"/> blocks, and the final norm when all of them run. Hidden states:
    /// <c>[embeddings, out(block 0), …, out(block N−2), final_layer_norm(out(block N−1))]</c> as transformers
    /// collects them (the last entry is normalised, the others are not).
    /// </summary>
    public List<Tensor> Forward(TokenGrid inputIds, TokenGrid? attentionMask, int blocks)
    {
        IBackend be = _embedTokens.Backend;
        inputIds.RequireIdsBelow(Config.VocabSize);
        attentionMask?.RequireMaskFor(inputIds);
        AttentionMaskArgs mask = Masks(inputIds, attentionMask);

        Tensor x = be.GatherRows(_embedTokens, inputIds.UploadIndices(be));
        var hiddenStates = new List<Tensor>(blocks + 1) { x };
        for (int i = 0; i < blocks; i++)
        {
            x = _blocks[i].Forward(x, mask);
            hiddenStates.Add(i == _blocks.Length - 1 ? _finalLayerNorm.Forward(x) : x);
        }
        return hiddenStates;
    }

    private AttentionMaskArgs Masks(TokenGrid inputIds, TokenGrid? attentionMask)
    {
        IBackend be = _embedTokens.Backend;
        int length = inputIds.Length;
        Tensor positionBias = PositionBiasOwner.ComputeBias(length, length);
        if (!AttentionMaskArgs.HasFullyMaskedRow(attentionMask, causal: false))
            return new AttentionMaskArgs(AttentionMaskArgs.KeyMaskOf(be, attentionMask), false, positionBias);
        // An all-padding row: reproduce get_extended_attention_mask, (1 − mask)·min added to the position bias.
        var additive = new float[inputIds.Batch * length * length];
        for (int b = 0; b < inputIds.Batch; b++)
            for (int i = 0; i < length; i++)
                for (int j = 0; j < length; j++)
                    additive[(b * length + i) * length + j] = attentionMask![b, j] == 1 ? 0f : AttentionMaskArgs.MaskedScore;
        return AttentionMaskArgs.FromAdditive(be, additive, inputIds.Batch, length, length, Config.NumHeads, positionBias);
    }
}
