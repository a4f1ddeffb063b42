using System.Buffers;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Query rows processed together: bounds the score buffer to QueryBlock × Sk floats per task.</summary>
    private const int QueryBlock = 64;

    public Tensor Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null, bool causal = false, Tensor? bias = null)
        => AttentionCore(q, k, v, scale, keyMask, causal, bias, keyWeights: null, out _);

    public (Tensor Output, Tensor Affinity) AttentionWithAffinity(Tensor q, Tensor k, Tensor v, float scale, Tensor keyWeights, Tensor? keyMask = null)
    {
        Tensor o = AttentionCore(q, k, v, scale, keyMask, causal: false, bias: null, keyWeights, out Tensor? affinity);
        return (o, affinity!);
    }

    private Tensor AttentionCore(Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask, bool causal, Tensor? bias,
        Tensor? keyWeights, out Tensor? affinity)
    {
        RequireRank(q, 4, "Attention", "q");
        RequireRank(k, 4, "Attention", "k");
        RequireRank(v, 4, "Attention", "v");
        int batch = q.Shape[0], sq = q.Shape[1], hq = q.Shape[2], d = q.Shape[3];
        int sk = k.Shape[1], hkv = k.Shape[2], dv = v.Shape[3];
        if (k.Shape[0] != batch || v.Shape[0] != batch || k.Shape[3] != d || v.Shape[1] != sk || v.Shape[2] != hkv)
            throw new ArgumentException($"Attention: incompatible q {q.Shape}, k {k.Shape}, v {v.Shape}.");
        if (hkv == 0 || hq % hkv != 0)
            throw new ArgumentException($"Attention: {hq} query heads are not a multiple of {hkv} key/value heads.");
        if (keyMask is not null && (keyMask.Shape.Rank != 2 || keyMask.Shape[0] != batch || keyMask.Shape[1] != sk))
            throw new ArgumentException($"Attention: key mask {keyMask.Shape} must be [{batch}, {sk}].");

        bool perBatchBias = bias is not null && bias.Shape.Rank == 4;
        if (bias is not null && !(bias.Shape == new Shape(hq, sq, sk) || bias.Shape == new Shape(batch, hq, sq, sk)))
            throw new ArgumentException($"Attention: bias {bias.Shape} must be [{hq}, {sq}, {sk}] or [{batch}, {hq}, {sq}, {sk}].");
        float[]? bd = bias is null ? null : C(bias).Data;
        float[] qd = C(q).Data, kd = C(k).Data, vd = C(v).Data;
        float[]? md = keyMask is null ? null : C(keyMask).Data;
        if (keyWeights is not null && (keyWeights.Shape.Rank != 2 || keyWeights.Shape[0] != batch || keyWeights.Shape[1] != sk))
            throw new ArgumentException($"Attention: key weights {keyWeights.Shape} must be [{batch}, {sk}].");
        float[]? wd = keyWeights is null ? null : C(keyWeights).Data;
        CpuTensor? aff = keyWeights is null ? null : New(new Shape(batch, hq, sq));
        float[]? ad = aff?.Data;
        affinity = aff;
        var o = New(new Shape(batch, sq, hq, dv));
        float[] od = o.Data;
        int group = hq / hkv;
        int qBlocks = (sq + QueryBlock - 1) / QueryBlock;

        CpuParallel.For(batch * hq * qBlocks, (long)QueryBlock * sk * (d + dv), task =>
        {
            int qb = task % qBlocks;
            int h = task / qBlocks % hq;
            int b = task / qBlocks / hq;
            int kh = h / group;
            int q0 = qb * QueryBlock;
            int rows = Math.Min(QueryBlock, sq - q0);
            float[] scores = ArrayPool<float>.Shared.Rent(rows * sk);
            try
            {
                Span<float> s = scores.AsSpan(0, rows * sk);
                CpuGemm.MatMulTransposedB(rows, sk, d,
                    qd.AsSpan(((b * sq + q0) * hq + h) * d), hq * d,
                    kd.AsSpan((b * sk * hkv + kh) * d), hkv * d,
                    s, sk, alpha: scale, parallel: false);
                for (int r = 0; r < rows; r++)
                {
                    Span<float> row = s.Slice(r * sk, sk);
                    if (bd is not null)
                    {
                        int biasRow = ((perBatchBias ? b * hq : 0) + h) * sq + q0 + r;
                        TensorPrimitives.Add(row, bd.AsSpan(biasRow * sk, sk), row);
                    }
                    if (md is not null)
                        for (int j = 0; j < sk; j++)
                            if (md[b * sk + j] == 0f) row[j] = float.NegativeInfinity;
                    if (causal)
                        for (int j = Math.Max(0, q0 + r + (sk - sq) + 1); j < sk; j++)
                            row[j] = float.NegativeInfinity;
                    SoftmaxRow(row);
                    if (wd is not null)
                        ad![(b * hq + h) * sq + q0 + r] = TensorPrimitives.Dot(row, wd.AsSpan(b * sk, sk));
                }
                CpuGemm.MatMul(rows, dv, sk, s, sk,
                    vd.AsSpan(b * sk * hkv * dv + kh * dv), hkv * dv,
                    od.AsSpan(((b * sq + q0) * hq + h) * dv), hq * dv, parallel: false);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scores);
            }
        });
        return o;
    }

    /// <summary>In-place softmax of one row; a fully masked row (all −∞) becomes zeros instead of NaN.</summary>
    internal static void SoftmaxRow(Span<float> row)
    {
        if (row.IsEmpty) return;
        float max = TensorPrimitives.Max(row);
        if (float.IsNegativeInfinity(max))
        {
            row.Clear();
            return;
        }
        TensorPrimitives.Subtract(row, max, row);
        TensorPrimitives.Exp(row, row);
        float sum = TensorPrimitives.Sum(row);
        TensorPrimitives.Divide(row, sum, row);
    }
}
