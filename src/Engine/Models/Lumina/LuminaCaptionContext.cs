using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>One layer's caption keys and values for attn2: norm1_context → to_k → norm_k (across heads), and to_v.</summary>
/// <param name="Key">[B, L, Hkv, hd], normed across heads, no RoPE (text keys carry no position).</param>
/// <param name="Value">[B, L, Hkv, hd].</param>
/// <param name="Mask">[B, L] caption key mask (0 = padding), the context's own.</param>
public sealed record LuminaCaptionKeyValues(Tensor Key, Tensor Value, Tensor Mask);

/// <summary>
/// What every step of one Lumina generation reads from its caption and nothing else (issue 16): temb's caption half
/// (time_caption_embed's caption_embedder over the masked mean) and every layer's attn2 keys and values. None of it depends
/// on the timestep or the latents, so <see cref="LuminaNextDiT2DModel.PrepareCaptions"/> computes it once and each step
/// passes it on, instead of every step pooling the caption again and every layer of every step recomputing norm1_context,
/// to_k, norm_k and to_v.
/// </summary>
/// <remarks>
/// Stale values are ruled out by construction, not by a cache key: the context is immutable, holds the captions it was
/// computed from (a step pools exactly those), belongs to one model (a block only takes its own layer's entry), and is made
/// by whoever owns the conditioning (the denoiser of one generation, which builds a new one for each call). It is computed
/// eagerly, before any step runs, so a CUDA graph captured from a step reads its tensors as fixed inputs; the owner keeps it
/// alive while the graphs replay and disposes it after them.
/// <para>A deferred context (<see cref="IsDeferred"/>, for backends that capture no step graphs: block weights streamed under
/// <c>--offload sequential</c>) computes each layer's entry when that layer first runs, inside the first step, where its streamed
/// block is resident anyway; computed eagerly it would stream every block once more per generation. The values are the same
/// (the same ops on the same inputs), each computed once; asking for a missing entry while a graph is being captured throws.</para>
/// </remarks>
public sealed class LuminaCaptionContext : IDisposable
{
    private readonly LuminaNextDiTBlock[] _blocks;
    private readonly LuminaCaptionKeyValues?[] _layers;
    private bool _disposed;

    internal LuminaCaptionContext(LuminaNextDiT2DModel model, Tensor captions, Tensor mask, Tensor captionEmbedding, LuminaNextDiTBlock[] blocks,
        bool deferred)
    {
        Model = model;
        Captions = captions;
        Mask = mask;
        CaptionEmbedding = captionEmbedding;
        _blocks = blocks;
        _layers = new LuminaCaptionKeyValues?[blocks.Length];
        IsDeferred = deferred;
        if (deferred) return;
        IBackend be = captions.Backend;
        for (int i = 0; i < blocks.Length; i++)
            using (be.Range($"layer {i} caption keys"))
                _layers[i] = blocks[i].CaptionKeyValues(captions, mask);
    }

    /// <summary>Each layer's entry is computed at its first use instead of when the context is made.</summary>
    public bool IsDeferred { get; }

    /// <summary>The model whose layers computed the keys and values.</summary>
    public LuminaNextDiT2DModel Model { get; }

    /// <summary>Raw caption features [B, L, cross_attention_dim] the context was computed from.</summary>
    public Tensor Captions { get; }

    /// <summary>temb's caption half [B, min(D, 1024)]: caption_embedder(masked mean of <see cref="Captions"/>), computed when the
    /// context is made (its weights are not a block's, so it is never deferred).</summary>
    public Tensor CaptionEmbedding { get; }

    /// <summary>[B, L] caption mask, 1 = token.</summary>
    public Tensor Mask { get; }

    /// <summary>Batch items (one per caption row).</summary>
    public int Batch => Captions.Shape[0];

    /// <summary>Caption tokens L.</summary>
    public int TextTokens => Captions.Shape[1];

    /// <summary>Layers holding keys and values (the model's layer count).</summary>
    public int LayerCount => _layers.Length;

    /// <summary>Layer <paramref name="layer"/>'s keys and values; <paramref name="block"/> must be that layer of <see cref="Model"/>.</summary>
    internal LuminaCaptionKeyValues For(LuminaNextDiTBlock block, int layer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)layer >= (uint)_layers.Length || !ReferenceEquals(_blocks[layer], block))
            throw new InvalidOperationException($"The caption context holds layer {layer} of another model (or no such layer); prepare it with the model that runs it.");
        if (_layers[layer] is { } ready) return ready;
        // Only a deferred context has missing entries. Computed inside a capture, they would be the graph's own memory, written
        // only when it replays: refused (the step graph then runs eagerly and says why).
        if (Captions.Backend is IGraphCapableBackend { IsCapturing: true })
            throw new InvalidOperationException($"Layer {layer}'s caption keys and values are computed while a step graph is captured; a context for graph capture is prepared eagerly.");
        return _layers[layer] = block.CaptionKeyValues(Captions, Mask);
    }

    /// <summary>Frees the caption embedding, keys and values (the captions and mask belong to the caller).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        CaptionEmbedding.Dispose();
        foreach (var kv in _layers)
        {
            kv?.Key.Dispose();
            kv?.Value.Dispose();
        }
    }
}
