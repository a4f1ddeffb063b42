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
    {
        int width = emb.Shape[1] / chunks;
        _chunks = new Tensor[chunks];
        for (int i = 0; i < chunks; i++) _chunks[i] = emb.Backend.Slice(emb, 1, i * width, width);
    }

    public Tensor this[int index] => _chunks[index];
}
