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

    /// <summary>
    /// True when the MMDiT capture reduces pre-softmax logits (<see cref="AttentionAffinity.ReferencePreSoftmaxLogits"/>,
    /// knob <c>affinity=logits</c>) through <see cref="AddLogits"/> instead of the fused kernel's probabilities.
    /// </summary>
    public bool CapturesLogits => _builder.Options.Affinity == AttentionAffinity.ReferencePreSoftmaxLogits;

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

    /// <summary>
    /// Adds one layer's pre-softmax image→text logits reduced by the text weights (the reference's SD3/FLUX capture):
    /// <c>r[h, p] = Σ_j w_j · (q_{h,p} · k_{h,j}) · scale = scale · q_{h,p} · k̄_h</c> with <c>k̄_h = Σ_j w_j k_{h,j}</c>, so
    /// each layer costs one weighted key sum and one dot product per (head, image token) instead of an N × L logit
    /// map. <paramref name="queries"/> and <paramref name="keys"/> are [B, S, H, d]; the image queries are rows
    /// [<paramref name="imageStart"/>, +N), the text keys rows [<paramref name="textStart"/>, +L), conditional batch row only.
    /// </summary>
    public void AddLogits(int layer, Tensor queries, int imageStart, Tensor keys, int textStart, float scale)
    {
        int cond = CondBatchIndex ?? throw new InvalidOperationException("No conditional branch in this forward.");
        int n = _builder.GridHeight * _builder.GridWidth, l = _textWeights.Length;
        int sq = queries.Shape[1], heads = queries.Shape[2], d = queries.Shape[3], sk = keys.Shape[1];
        if (keys.Shape[2] != heads || keys.Shape[3] != d)
            throw new InvalidOperationException($"Logit capture: keys {keys.Shape} do not match queries {queries.Shape} in heads and head size.");
        if (imageStart + n > sq || textStart + l > sk)
            throw new InvalidOperationException($"Logit capture: {n} image queries from row {imageStart} of {sq}, {l} text keys from row {textStart} of {sk}.");
        float[] q = queries.Backend.Download(queries), k = keys.Backend.Download(keys);
        var weightedKey = new double[heads * d];
        for (int j = 0; j < l; j++)
        {
            double w = _textWeights[j];
            if (w == 0) continue;
            int row = ((cond * sk) + textStart + j) * heads * d;
            for (int i = 0; i < heads * d; i++) weightedKey[i] += w * k[row + i];
        }

        var rowSums = new float[heads * n];
        for (int p = 0; p < n; p++)
        {
            int row = ((cond * sq) + imageStart + p) * heads * d;
            for (int h = 0; h < heads; h++)
            {
                double acc = 0;
                for (int i = 0; i < d; i++) acc += q[row + h * d + i] * weightedKey[h * d + i];
                rowSums[h * n + p] = (float)(acc * scale);
            }
        }
        _builder.Accumulator.AddWeightedRowSums(layer, rowSums, heads);
    }
}
