using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Runtime;

/// <summary>
/// AesMask's capture during the forward of the mask step: capture layers call their attention with
/// <see cref="IBackend.AttentionWithAffinity"/> using <see cref="KeyWeights"/> (the token importance on the text
/// keys, zero elsewhere) and hand the per-(head, query) sums to <see cref="Add"/>, which keeps the conditional
/// branch's image queries. No [N × L] probability map is materialised.
/// </summary>
public sealed class AffinityCapture
{
    private readonly AesMaskBuilder _builder;
    private readonly float[] _textWeights;
    private readonly Dictionary<(int Batch, int Before, int After), Tensor> _keyWeights = new();

    public AffinityCapture(AesMaskBuilder builder, float[] textWeights)
    {
        _builder = builder;
        _textWeights = textWeights;
    }

    /// <summary>Batch index of the conditional branch in the current forward; null when the forward holds none (two-pass uncond).</summary>
    public int? CondBatchIndex { get; internal set; }

    public int TextTokens => _textWeights.Length;

    public AesMaskBuilder Builder => _builder;

    /// <summary>True when <paramref name="layer"/> should capture in the current forward.</summary>
    public bool Captures(int layer) => CondBatchIndex is not null && _builder.Captures(layer);

    /// <summary>
    /// Key weights [batch, before + L + after]: the text weights on the L text keys, zero on the
    /// <paramref name="before"/> keys preceding them and the <paramref name="after"/> keys following them.
    /// </summary>
    public Tensor KeyWeights(IBackend backend, int batch, int before, int after)
    {
        if (_keyWeights.TryGetValue((batch, before, after), out var cached)) return cached;
        int total = before + _textWeights.Length + after;
        var values = new float[batch * total];
        for (int b = 0; b < batch; b++) _textWeights.CopyTo(values, b * total + before);
        Tensor t = backend.Upload(values, new Shape(batch, total));
        _keyWeights[(batch, before, after)] = t;
        return t;
    }

    /// <summary>
    /// Adds one layer's affinity [B, H, Sq]: the conditional batch row, image query rows
    /// [<paramref name="imageStart"/>, +N).
    /// </summary>
    public void Add(int layer, Tensor affinity, int imageStart)
    {
        int cond = CondBatchIndex ?? throw new InvalidOperationException("No conditional branch in this forward.");
        int heads = affinity.Shape[1], queries = affinity.Shape[2], n = _builder.GridHeight * _builder.GridWidth;
        if (imageStart + n > queries)
            throw new InvalidOperationException($"Affinity capture: {queries} query rows cannot hold {n} image tokens from row {imageStart}.");
        float[] all = affinity.Backend.Download(affinity);
        var rowSums = new float[heads * n];
        for (int h = 0; h < heads; h++)
            Array.Copy(all, (cond * heads + h) * queries + imageStart, rowSums, h * n, n);
        _builder.Accumulator.AddWeightedRowSums(layer, rowSums, heads);
    }
}
