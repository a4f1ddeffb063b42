using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>Small random-weight text encoders for property tests (conformance against transformers is separate).</summary>
internal static class TextEncoderTestModels
{
    public static readonly CpuBackend Cpu = new();

    public static ClipTextConfig Clip(int eosTokenId = 2, string act = "quick_gelu") => new()
    {
        VocabSize = 60, HiddenSize = 16, IntermediateSize = 32, ProjectionDim = 12, NumHiddenLayers = 2,
        NumAttentionHeads = 2, MaxPositionEmbeddings = 12, HiddenAct = act, EosTokenId = eosTokenId,
    };

    public static T5Config T5(bool gated = true, string act = "gelu_new") => new()
    {
        VocabSize = 50, DModel = 16, DKv = 6, DFf = 24, NumLayers = 2, NumHeads = 3,
        RelativeAttentionNumBuckets = 16, RelativeAttentionMaxDistance = 20,
        FeedForwardProj = gated ? "gated-" + act : act, DenseActFn = act, IsGatedAct = gated,
    };

    public static GemmaConfig Gemma(int kvHeads = 1) => new()
    {
        VocabSize = 70, HiddenSize = 24, IntermediateSize = 40, NumHiddenLayers = 3, NumAttentionHeads = 4,
        NumKeyValueHeads = kvHeads, HeadDim = 8, MaxPositionEmbeddings = 64,
    };

    public static WeightReader RandomWeights(int seed) => new(new RandomWeightSource(seed), Cpu);

    public static TokenGrid RandomIds(int batch, int length, int vocab, int seed)
    {
        var rng = new Random(seed);
        var ids = new int[batch * length];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(vocab);
        return new TokenGrid(batch, length, ids);
    }

    public static TokenGrid Mask(params int[][] rows) => TokenGrid.FromRows(rows, "attention_mask");

    /// <summary>Row <paramref name="b"/> of a [B, ...] grid as its own batch of one.</summary>
    public static TokenGrid RowOf(TokenGrid grid, int b) => new(1, grid.Length, grid.Row(b).ToArray(), grid.Name);

    public static float[] Row(Tensor t, int b)
    {
        float[] all = Cpu.Download(t);
        int size = all.Length / t.Shape[0];
        return all.AsSpan(b * size, size).ToArray();
    }
}
