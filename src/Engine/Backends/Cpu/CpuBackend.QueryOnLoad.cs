using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// The reference: <see cref="PrepareQueryKey"/>'s k, and q's LayerNorm statistics per token in fp32 as layernorm computes
    /// them (the mean, then the biased variance of the deviations, rstd = 1/√(var + eps)).
    /// </summary>
    public QueryOnLoadInputs PrepareKeyQueryStatistics(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null)
    {
        var (batch, sequence) = QueryOnLoadOp.CheckPrepare(part, heads, kvHeads, headDim, cos, sin);
        var k = PrepareQueryKey(part, heads, kvHeads, headDim, eps, cos, sin, QkNorm.LayerNormAcrossHeads).K;
        float[] x = C(part.Qkv).Data;
        int width = heads * headDim, rowWidth = (heads + 2 * kvHeads) * headDim;
        var stats = New(new Shape(batch, sequence, 2));
        for (long token = 0; token < (long)batch * sequence; token++)
        {
            var row = x.AsSpan((int)(token * rowWidth), width);
            float sum = 0f;
            foreach (float v in row) sum += v;
            float mean = sum / width;
            float squares = 0f;
            foreach (float v in row) squares += (v - mean) * (v - mean);
            stats.Data[2 * token] = mean;
            stats.Data[2 * token + 1] = 1f / MathF.Sqrt(squares / width + eps);
        }
        var packed = new PackedQkv(part.Qkv, heads, kvHeads, headDim);
        return new QueryOnLoadInputs(new QueryOnLoad(packed, stats, part.NormQ!, part.NormQBias, cos, sin, eps), k);
    }

    /// <summary>The reference materialises q (<see cref="QueryOnLoadOp.Materialise"/>) and runs <see cref="AttentionPackedValue"/>.</summary>
    public Tensor AttentionQueryOnLoad(QueryOnLoadInputs inputs, float scale)
    {
        QueryOnLoadOp.Check(QueryOnLoadOp.AttentionName, inputs.Query);
        return AttentionPackedValue(QueryOnLoadOp.Materialise(this, inputs.Query), inputs.K, inputs.Packed, scale);
    }

    /// <summary>The reference materialises q and runs <see cref="AttentionAddScaledInto"/>.</summary>
    public void AttentionAddScaledIntoQueryOnLoad(Tensor destination, Tensor headScale, QueryOnLoad query, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        QueryOnLoadOp.CheckAccumulate(destination, headScale, query, k, v);
        AttentionAddScaledInto(destination, headScale, QueryOnLoadOp.Materialise(this, query), k, v, scale, keyMask);
    }
}
