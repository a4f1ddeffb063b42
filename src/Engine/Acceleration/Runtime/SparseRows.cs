using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Runtime;

/// <summary>
/// The SkipSparse row pattern the blocks share: a row-wise computation over image tokens [B, N, ·] that, on a
/// sparse step, runs on the focus rows only and scatters them into the layer's cache, whose background rows still
/// hold the last fill step's output. On a fill step the full output becomes the cache; otherwise nothing changes.
/// </summary>
public static class SparseRows
{
    /// <summary>
    /// <paramref name="rowwise"/> over the rows of <paramref name="x"/> [B, N, Din] → [B, N, Dout], with the cache
    /// <paramref name="name"/> of <paramref name="layer"/>. The function must treat rows independently
    /// (Linear, FFN, norms over the last dimension).
    /// </summary>
    public static Tensor Apply(SparseForward? sparse, int layer, string name, Tensor x, Func<Tensor, Tensor> rowwise)
    {
        if (sparse is null || !(sparse.IsSparse || sparse.WritesCaches)) return rowwise(x);
        if (sparse.WritesCaches)
        {
            Tensor full = rowwise(x);
            sparse.Store(layer, name, full);
            return full;
        }
        Tensor focus = rowwise(Gather(sparse, x));
        return ScatterIntoCache(sparse, layer, name, focus);
    }

    /// <summary>
    /// <see cref="Apply"/> for a block's feed-forward: with <see cref="SparseForward.SparseFeedForward"/> off
    /// (attention-only sparsity) the FFN runs on every row on every step and no cache is filled or read, so a
    /// background row's FFN output is always that of its current input.
    /// </summary>
    public static Tensor FeedForward(SparseForward? sparse, int layer, string name, Tensor x, Func<Tensor, Tensor> feedForward)
        => sparse is { SparseFeedForward: false } ? feedForward(x) : Apply(sparse, layer, name, x, feedForward);

    /// <summary>The focus rows of x [B, N, D] as [B, nF, D] (batch-major, focus order).</summary>
    public static Tensor Gather(SparseForward sparse, Tensor x)
    {
        int batch = x.Shape[0], n = x.Shape[1], d = x.Shape[2];
        CheckTokens(sparse, n);
        IBackend be = x.Backend;
        return be.GatherRows(x.Reshape(batch * n, d), sparse.FocusRows(be, batch)).Reshape(batch, sparse.FocusCount, d);
    }

    /// <summary>
    /// Writes focus rows [B, nF, D] into the layer's cache [B, N, D] and returns the cache: focus rows fresh,
    /// background rows from the last fill step.
    /// </summary>
    public static Tensor ScatterIntoCache(SparseForward sparse, int layer, string name, Tensor focusRows)
    {
        Tensor cache = sparse.Cached(layer, name);
        int batch = cache.Shape[0], n = cache.Shape[1], d = cache.Shape[2];
        CheckTokens(sparse, n);
        IBackend be = cache.Backend;
        be.ScatterRowsInPlace(cache.Reshape(batch * n, d), sparse.FocusRows(be, batch), focusRows.Reshape(batch * sparse.FocusCount, d));
        return cache;
    }

    /// <summary>On a fill step, stores <paramref name="full"/> as the layer's cache; returns it unchanged.</summary>
    public static Tensor StoreIfFilling(SparseForward? sparse, int layer, string name, Tensor full)
    {
        if (sparse is { WritesCaches: true }) sparse.Store(layer, name, full);
        return full;
    }

    private static void CheckTokens(SparseForward sparse, int n)
    {
        if (n != sparse.ImageTokens)
            throw new InvalidOperationException($"SkipSparse: the focus set is over {sparse.ImageTokens} image tokens, the layer has {n}.");
    }
}
