namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>
/// Streams image→text attention of the capture layers into AesMask's heat map without materialising the
/// (layers × heads × N × L) probabilities:
/// <c>heat[p] = mean_layers( mean_heads( Σ_j P[h, p, j] · w[j] ) )</c>, which by linearity equals the reference's
/// <c>Σ_j (mean_l mean_h P[l, h, p, j]) · w[j]</c> (heads averaged first, then layers, equal layer weight;
/// <c>build_mask_from_cross_attention</c>). <c>w</c> is the token importance (0 on padding, specials and stop words).
/// </summary>
/// <remarks>
/// <para>Feed one call per capture layer (its index, so a layer cannot be added twice), cond branch only (the CFG
/// batch entry of the conditional prompt), in any order. An attention kernel reduces inside itself and passes per-(head, token) weighted sums
/// (<see cref="AddWeightedRowSums"/>) or per-(token, text key) head sums (<see cref="AddHeadSums"/>); the CPU path can pass probabilities (<see cref="AddProbabilities"/>) or
/// queries/keys (<see cref="AddCrossAttention"/>, <see cref="AddJointAttention"/>). Accumulation is float64 on
/// the host; the result is rounded to float32 once.</para>
/// <para>What P is: Lumina — the softmax over the L text keys of attn2 (padding masked to −inf, so padded columns
/// are 0; GQA: KV head h / (H/H_kv) serves query head h; RoPE on q only). MMDiT (SD3, FLUX; DESIGN §5) — the
/// image-query × text-key block of the <b>joint</b> softmax over all image + text keys; its rows do not sum to 1
/// and text padding is not masked there (SD3/FLUX attend to padding), so padding is excluded by weight 0. The
/// reference instead captures pre-softmax logits <c>q·k/√d</c> averaged uniformly over all text columns including
/// padding (<see cref="AttentionAffinity.ReferencePreSoftmaxLogits"/>): feed <see cref="AddJointLogits"/> with
/// <see cref="UniformWeights"/> to reproduce it.</para>
/// </remarks>
public sealed class HeatMapAccumulator
{
    private readonly float[] _weights;
    private readonly double[] _sum;
    private readonly SortedSet<int> _layers = [];

    /// <param name="imageTokens">N: image tokens (query rows), the token grid size.</param>
    /// <param name="textWeights">w[L]: per text key; the token importance.</param>
    public HeatMapAccumulator(int imageTokens, ReadOnlySpan<float> textWeights)
    {
        if (imageTokens < 1) throw new ArgumentOutOfRangeException(nameof(imageTokens), imageTokens, "at least one image token");
        if (textWeights.IsEmpty) throw new ArgumentException("The text weights are empty.", nameof(textWeights));
        foreach (float w in textWeights)
            if (!float.IsFinite(w)) throw new AccelAesException("The token importance holds a non-finite weight.");
        _weights = textWeights.ToArray();
        _sum = new double[imageTokens];
        ImageTokens = imageTokens;
    }

    /// <summary>N.</summary>
    public int ImageTokens { get; }

    /// <summary>L.</summary>
    public int TextTokens => _weights.Length;

    /// <summary>The text-key weights.</summary>
    public ReadOnlySpan<float> Weights => _weights;

    /// <summary>Number of layers added so far.</summary>
    public int Layers => _layers.Count;

    /// <summary>The indices of the layers added so far, ascending.</summary>
    public IReadOnlyCollection<int> AddedLayers => _layers;

    /// <summary>The reference's <c>importance=None</c>: <c>1/L</c> for every column (float32).</summary>
    public static float[] UniformWeights(int textTokens)
    {
        if (textTokens < 1) throw new ArgumentOutOfRangeException(nameof(textTokens));
        var w = new float[textTokens];
        Array.Fill(w, 1f / textTokens);
        return w;
    }

    /// <summary>
    /// One layer's per-(head, image token) reductions <c>r[h, p] = Σ_j P[h, p, j] · w[j]</c>, layout (heads, N).
    /// What a fused attention kernel emits.
    /// </summary>
    public void AddWeightedRowSums(int layer, ReadOnlySpan<float> rowSums, int heads)
    {
        CheckHeads(heads);
        CheckLayer(layer);
        if (rowSums.Length != heads * ImageTokens)
            throw new AccelAesException($"Heat-map capture: {rowSums.Length} row sums given, expected heads {heads} × N {ImageTokens}.");
        for (int h = 0; h < heads; h++)
        {
            ReadOnlySpan<float> row = rowSums.Slice(h * ImageTokens, ImageTokens);
            for (int p = 0; p < ImageTokens; p++) _sum[p] += (double)row[p] / heads;
        }

        _layers.Add(layer);
    }

    /// <summary>
    /// One layer's head-summed attention <c>S[p, j] = Σ_h P[h, p, j]</c>, layout (N, L), over <paramref name="heads"/> heads
    /// (for a kernel that reduces heads but not text keys).
    /// </summary>
    public void AddHeadSums(int layer, ReadOnlySpan<float> headSums, int heads)
    {
        CheckHeads(heads);
        CheckLayer(layer);
        int l = TextTokens;
        if (headSums.Length != ImageTokens * l)
            throw new AccelAesException($"Heat-map capture: {headSums.Length} head sums given, expected N {ImageTokens} × L {l}.");
        for (int p = 0; p < ImageTokens; p++)
        {
            ReadOnlySpan<float> row = headSums.Slice(p * l, l);
            double acc = 0;
            for (int j = 0; j < l; j++) acc += (double)row[j] * _weights[j];
            _sum[p] += acc / heads;
        }

        _layers.Add(layer);
    }

    /// <summary>One layer's image→text attention <c>P</c>, layout (heads, N, L), as the reference's capture stores it.</summary>
    public void AddProbabilities(int layer, ReadOnlySpan<float> probabilities, int heads)
    {
        CheckHeads(heads);
        CheckLayer(layer);
        int l = TextTokens;
        if (probabilities.Length != heads * ImageTokens * l)
            throw new AccelAesException($"Heat-map capture: {probabilities.Length} attention values given, expected heads {heads} × N {ImageTokens} × L {l}.");
        for (int h = 0; h < heads; h++)
        {
            for (int p = 0; p < ImageTokens; p++)
            {
                ReadOnlySpan<float> row = probabilities.Slice((h * ImageTokens + p) * l, l);
                double acc = 0;
                for (int j = 0; j < l; j++) acc += (double)row[j] * _weights[j];
                _sum[p] += acc / heads;
            }
        }

        _layers.Add(layer);
    }

    /// <summary>
    /// One Lumina-style cross-attention layer from its queries and text keys: softmax over the valid text keys of
    /// <c>q·k·scale</c>. <paramref name="queries"/>: (N, heads, d) token-major; <paramref name="keys"/>: (L, kvHeads, d);
    /// <paramref name="textMask"/>: L entries, 0 = padding (masked out). GQA: query head h uses KV head
    /// <c>h / (heads / kvHeads)</c>.
    /// </summary>
    public void AddCrossAttention(int layer, ReadOnlySpan<float> queries, int heads, int headDim, ReadOnlySpan<float> keys, int kvHeads,
        ReadOnlySpan<int> textMask, float scale)
    {
        CheckLayer(layer);
        float[] rowSums = AttentionProbabilities.CrossAttentionRowSums(queries, heads, ImageTokens, headDim, keys, kvHeads, TextTokens, textMask, scale, _weights);
        AddWeightedRowSums(layer, rowSums, heads);
    }

    /// <summary>
    /// One MMDiT joint-attention layer: image queries (N, heads, d) token-major against all joint keys (S, heads, d),
    /// the text keys being rows <c>[textStart, textStart + L)</c>; the softmax runs over all S keys and only the
    /// image-query × text-key block is reduced. Pass post-RoPE queries and keys where the model applies RoPE (FLUX).
    /// </summary>
    public void AddJointAttention(int layer, ReadOnlySpan<float> imageQueries, int heads, int headDim, ReadOnlySpan<float> jointKeys, int jointTokens,
        int textStart, float scale)
    {
        CheckLayer(layer);
        float[] rowSums = AttentionProbabilities.JointRowSums(imageQueries, heads, ImageTokens, headDim, jointKeys, jointTokens, textStart, TextTokens, scale, _weights, softmax: true);
        AddWeightedRowSums(layer, rowSums, heads);
    }

    /// <summary>The reference's SD3/FLUX capture: pre-softmax logits <c>q·k·scale</c> of the image-query × text-key block, weighted by w.</summary>
    public void AddJointLogits(int layer, ReadOnlySpan<float> imageQueries, int heads, int headDim, ReadOnlySpan<float> jointKeys, int jointTokens,
        int textStart, float scale)
    {
        CheckLayer(layer);
        float[] rowSums = AttentionProbabilities.JointRowSums(imageQueries, heads, ImageTokens, headDim, jointKeys, jointTokens, textStart, TextTokens, scale, _weights, softmax: false);
        AddWeightedRowSums(layer, rowSums, heads);
    }

    /// <summary>The heat map (N values, row-major token grid): the mean over the layers added.</summary>
    /// <exception cref="InvalidOperationException">No layer was added.</exception>
    public float[] Result()
    {
        if (Layers == 0) throw new InvalidOperationException("The AesMask heat map has no captured layer.");
        var heat = new float[ImageTokens];
        for (int p = 0; p < heat.Length; p++) heat[p] = (float)(_sum[p] / Layers);
        return heat;
    }

    private void CheckLayer(int layer)
    {
        if (layer < 0) throw new ArgumentOutOfRangeException(nameof(layer), layer, "layer indices are not negative");
        if (_layers.Contains(layer)) throw new InvalidOperationException($"The AesMask heat map already holds layer {layer}; each capture layer adds once.");
    }

    private static void CheckHeads(int heads)
    {
        if (heads < 1) throw new ArgumentOutOfRangeException(nameof(heads), heads, "at least one head");
    }
}

/// <summary>
/// Host reference of the attention probabilities AesMask reduces (for the CPU path and for checking the fused
/// capture kernels). Softmax: max-subtracted, exponentials and sums in float64.
/// </summary>
public static class AttentionProbabilities
{
    /// <summary>
    /// Lumina cross-attention probabilities, layout (heads, N, L): <c>softmax_j(q_{h,p} · k_{h/g, j} · scale)</c> over
    /// the keys with <paramref name="textMask"/> ≠ 0; masked columns are 0. Queries (N, heads, d), keys (L, kvHeads, d).
    /// </summary>
    public static float[] CrossAttention(ReadOnlySpan<float> queries, int heads, int imageTokens, int headDim, ReadOnlySpan<float> keys,
        int kvHeads, int textTokens, ReadOnlySpan<int> textMask, float scale)
    {
        var probs = new float[heads * imageTokens * textTokens];
        CrossAttentionCore(queries, heads, imageTokens, headDim, keys, kvHeads, textTokens, textMask, scale, probs, null, null);
        return probs;
    }

    /// <summary>Per-(head, token) <c>Σ_j P · w_j</c> of <see cref="CrossAttention"/>, layout (heads, N).</summary>
    public static float[] CrossAttentionRowSums(ReadOnlySpan<float> queries, int heads, int imageTokens, int headDim, ReadOnlySpan<float> keys,
        int kvHeads, int textTokens, ReadOnlySpan<int> textMask, float scale, ReadOnlySpan<float> weights)
    {
        var sums = new float[heads * imageTokens];
        CrossAttentionCore(queries, heads, imageTokens, headDim, keys, kvHeads, textTokens, textMask, scale, null, sums, weights.ToArray());
        return sums;
    }

    /// <summary>
    /// The image-query × text-key block of a joint softmax, layout (heads, N, L): image queries (N, heads, d) against
    /// all joint keys (S, heads, d) with text keys at rows <c>[textStart, textStart + L)</c>.
    /// </summary>
    public static float[] JointImageToText(ReadOnlySpan<float> imageQueries, int heads, int imageTokens, int headDim, ReadOnlySpan<float> jointKeys,
        int jointTokens, int textStart, int textTokens, float scale)
    {
        var probs = new float[heads * imageTokens * textTokens];
        JointCore(imageQueries, heads, imageTokens, headDim, jointKeys, jointTokens, textStart, textTokens, scale, softmax: true, probs, null, null);
        return probs;
    }

    /// <summary>The same block as pre-softmax logits <c>q·k·scale</c> (the reference's SD3/FLUX capture).</summary>
    public static float[] JointImageToTextLogits(ReadOnlySpan<float> imageQueries, int heads, int imageTokens, int headDim, ReadOnlySpan<float> jointKeys,
        int jointTokens, int textStart, int textTokens, float scale)
    {
        var logits = new float[heads * imageTokens * textTokens];
        JointCore(imageQueries, heads, imageTokens, headDim, jointKeys, jointTokens, textStart, textTokens, scale, softmax: false, logits, null, null);
        return logits;
    }

    internal static float[] JointRowSums(ReadOnlySpan<float> imageQueries, int heads, int imageTokens, int headDim, ReadOnlySpan<float> jointKeys,
        int jointTokens, int textStart, int textTokens, float scale, float[] weights, bool softmax)
    {
        var sums = new float[heads * imageTokens];
        JointCore(imageQueries, heads, imageTokens, headDim, jointKeys, jointTokens, textStart, textTokens, scale, softmax, null, sums, weights);
        return sums;
    }

    private static void CrossAttentionCore(ReadOnlySpan<float> q, int heads, int n, int d, ReadOnlySpan<float> k, int kvHeads, int l,
        ReadOnlySpan<int> mask, float scale, float[]? probs, float[]? sums, float[]? weights)
    {
        CheckShape(q.Length, n * heads * d, "queries", $"N {n} × heads {heads} × d {d}");
        CheckShape(k.Length, l * kvHeads * d, "text keys", $"L {l} × kvHeads {kvHeads} × d {d}");
        CheckShape(mask.Length, l, "text mask", $"L {l}");
        if (kvHeads < 1 || heads % kvHeads != 0) throw new AccelAesException($"{heads} query heads cannot share {kvHeads} KV heads.");
        int group = heads / kvHeads;
        var logits = new double[l];
        for (int h = 0; h < heads; h++)
        {
            int kh = h / group;
            for (int p = 0; p < n; p++)
            {
                ReadOnlySpan<float> qr = q.Slice((p * heads + h) * d, d);
                double max = double.NegativeInfinity;
                for (int j = 0; j < l; j++)
                {
                    if (mask[j] == 0) { logits[j] = double.NegativeInfinity; continue; }
                    logits[j] = Dot(qr, k.Slice((j * kvHeads + kh) * d, d)) * scale;
                    max = Math.Max(max, logits[j]);
                }

                Finish(logits, max, l, softmax: true, probs, (h * n + p) * l, sums, h * n + p, weights);
            }
        }
    }

    private static void JointCore(ReadOnlySpan<float> q, int heads, int n, int d, ReadOnlySpan<float> keys, int s, int textStart, int l,
        float scale, bool softmax, float[]? output, float[]? sums, float[]? weights)
    {
        CheckShape(q.Length, n * heads * d, "image queries", $"N {n} × heads {heads} × d {d}");
        CheckShape(keys.Length, s * heads * d, "joint keys", $"S {s} × heads {heads} × d {d}");
        if (textStart < 0 || textStart + l > s) throw new AccelAesException($"Text keys [{textStart}, {textStart + l}) lie outside the {s} joint keys.");
        var all = new double[s];
        var text = new double[l];
        for (int h = 0; h < heads; h++)
        {
            for (int p = 0; p < n; p++)
            {
                ReadOnlySpan<float> qr = q.Slice((p * heads + h) * d, d);
                double max = double.NegativeInfinity, total = 0;
                if (softmax)
                {
                    for (int j = 0; j < s; j++)
                    {
                        all[j] = Dot(qr, keys.Slice((j * heads + h) * d, d)) * scale;
                        max = Math.Max(max, all[j]);
                    }

                    for (int j = 0; j < s; j++) total += Math.Exp(all[j] - max);
                    for (int j = 0; j < l; j++) text[j] = Math.Exp(all[textStart + j] - max) / total;
                }
                else
                {
                    for (int j = 0; j < l; j++) text[j] = Dot(qr, keys.Slice(((textStart + j) * heads + h) * d, d)) * scale;
                }

                Finish(text, 0, l, softmax: false, output, (h * n + p) * l, sums, h * n + p, weights);
            }
        }
    }

    /// <summary>Softmax (optional) of a row of logits, then either store it or reduce it with the weights.</summary>
    private static void Finish(double[] row, double max, int l, bool softmax, float[]? output, int outputOffset, float[]? sums, int sumIndex, float[]? weights)
    {
        if (softmax)
        {
            double total = 0;
            for (int j = 0; j < l; j++) total += row[j] = double.IsNegativeInfinity(row[j]) ? 0 : Math.Exp(row[j] - max);
            if (total == 0) throw new AccelAesException("Every text key of a cross-attention row is masked; the prompt has no tokens.");
            for (int j = 0; j < l; j++) row[j] /= total;
        }

        if (output is not null)
            for (int j = 0; j < l; j++) output[outputOffset + j] = (float)row[j];
        if (sums is not null)
        {
            double acc = 0;
            for (int j = 0; j < l; j++) acc += row[j] * weights![j];
            sums[sumIndex] = (float)acc;
        }
    }

    private static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double acc = 0;
        for (int i = 0; i < a.Length; i++) acc += (double)a[i] * b[i];
        return acc;
    }

    private static void CheckShape(int actual, int expected, string what, string shape)
    {
        if (actual != expected) throw new AccelAesException($"AesMask capture: {what} have {actual} values, expected {shape} = {expected}.");
    }
}
