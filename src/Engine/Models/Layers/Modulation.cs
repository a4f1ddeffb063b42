using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Layers;

/// <summary>
/// The output of an adaLN modulation linear, [B, k·D], split into its k chunks of [B, D] in diffusers'
/// <c>emb.chunk(k, dim=1)</c> order.
/// </summary>
public sealed class Modulation
{
    private readonly Tensor[] _chunks;

    public Modulation(Tensor emb, int chunks)
        : this(emb, chunks, first: 0, count: chunks)
    {
    }

    // Chunks [first, first + count) of emb split into `total` chunks.
    private Modulation(Tensor emb, int total, int first, int count)
    {
        int width = emb.Shape[1] / total;
        _chunks = new Tensor[count];
        for (int i = 0; i < count; i++) _chunks[i] = emb.Backend.Slice(emb, 1, (first + i) * width, width);
    }

    /// <summary>
    /// The output of joined modulation linears (<see cref="JoinedLinear"/>), [B, parts·k·D]: one modulation of k chunks per
    /// part, in the order the parts were joined.
    /// </summary>
    public static Modulation[] SplitJoined(Tensor emb, int chunksEach, int parts)
        => Enumerable.Range(0, parts).Select(p => new Modulation(emb, chunksEach * parts, p * chunksEach, chunksEach)).ToArray();

    public Tensor this[int index] => _chunks[index];
}
