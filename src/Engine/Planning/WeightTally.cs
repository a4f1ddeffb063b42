namespace AccelAes.Engine.Planning;

/// <summary>How the plan counts weight bytes: as stored (bf16 / fp16 / fp32 per tensor), or with <c>--weights fp8</c>.</summary>
public enum WeightPrecision
{
    /// <summary>Every tensor at its stored width (2 bytes for the published bf16 / fp16 checkpoints).</summary>
    AsStored,

    /// <summary>
    /// Transformer Linear weights at 1 byte per element plus one fp32 scale per output channel (the per-output-channel
    /// quantisation <c>--weights fp8</c> applies at load); biases, norms, embeddings and the other components as stored.
    /// </summary>
    Fp8,
}

/// <summary>
/// The parameter tensors of one module, summarised for the memory plan: all elements and their stored bytes, and
/// separately the Linear weight matrices (elements and output channels), which fp8 quantisation shrinks.
/// </summary>
public sealed class WeightTally
{
    public long Elements { get; private set; }

    public long StoredBytes { get; private set; }

    /// <summary>Elements of the 2-D Linear weight matrices among <see cref="Elements"/>.</summary>
    public long LinearWeightElements { get; private set; }

    /// <summary>Output channels (rows) of those matrices: one fp32 scale each under fp8.</summary>
    public long LinearOutChannels { get; private set; }

    /// <summary>A Linear layer in → out (weight [out, in], optional bias [out]) stored at <paramref name="bytesPerElement"/>.</summary>
    public WeightTally Linear(long inFeatures, long outFeatures, bool bias = true, int bytesPerElement = 2)
    {
        AddLinearWeight(outFeatures, inFeatures, bytesPerElement);
        if (bias) Tensor(outFeatures, bytesPerElement);
        return this;
    }

    /// <summary>A 2-D weight matrix [rows, columns] read by a matmul (a Linear or a 1×1 projection).</summary>
    public WeightTally AddLinearWeight(long rows, long columns, int bytesPerElement = 2)
    {
        Tensor(rows * columns, bytesPerElement);
        LinearWeightElements += rows * columns;
        LinearOutChannels += rows;
        return this;
    }

    /// <summary>Any other tensor (norm weights, biases, embedding tables, convolutions) of <paramref name="elements"/> elements.</summary>
    public WeightTally Tensor(long elements, int bytesPerElement = 2)
    {
        Elements += elements;
        StoredBytes += elements * bytesPerElement;
        return this;
    }

    /// <summary>
    /// A tensor read from a safetensors header: <paramref name="bytes"/> at its stored dtype; <paramref name="linearRows"/>
    /// is its output channels when it is a Linear weight matrix, else null.
    /// </summary>
    public WeightTally AddStored(long elements, long bytes, long? linearRows)
    {
        Elements += elements;
        StoredBytes += bytes;
        if (linearRows is long rows)
        {
            LinearWeightElements += elements;
            LinearOutChannels += rows;
        }
        return this;
    }

    public WeightTally Add(WeightTally other)
    {
        Elements += other.Elements;
        StoredBytes += other.StoredBytes;
        LinearWeightElements += other.LinearWeightElements;
        LinearOutChannels += other.LinearOutChannels;
        return this;
    }

    /// <summary>
    /// Device bytes under <paramref name="precision"/>. Fp8 replaces each Linear weight's stored bytes by 1 byte per
    /// element and adds 4 bytes per output channel; the stored width of those weights is taken as the tally's average
    /// (all weights of a published checkpoint share one dtype).
    /// </summary>
    public long Bytes(WeightPrecision precision)
    {
        if (precision == WeightPrecision.AsStored || Elements == 0) return StoredBytes;
        double storedPerElement = (double)StoredBytes / Elements;
        long linearStored = (long)Math.Round(LinearWeightElements * storedPerElement);
        return StoredBytes - linearStored + LinearWeightElements + 4 * LinearOutChannels;
    }
}
