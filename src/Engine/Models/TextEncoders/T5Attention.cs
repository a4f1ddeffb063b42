using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>T5Attention</c> as the encoder uses it (self-attention, no cache): q/k/v/o without biases,
/// scores <c>q·kᵀ + position_bias</c> with <b>no</b> 1/√d scaling (Mesh TensorFlow folds it into the init).
/// Only the first block owns <c>relative_attention_bias</c> [num_buckets, heads]; the bias it computes is added
/// in every block.
/// </summary>
public sealed class T5Attention
{
    private readonly int _heads, _dKv;
    private readonly int _numBuckets, _maxDistance;
    private readonly LinearLayer _q, _k, _v, _o;
    private readonly Tensor? _relativeAttentionBias;

    public T5Attention(WeightReader w, T5Config config, bool hasRelativeAttentionBias)
    {
        _heads = config.NumHeads;
        _dKv = config.DKv;
        _numBuckets = config.RelativeAttentionNumBuckets;
        _maxDistance = config.RelativeAttentionMaxDistance;
        _q = LinearLayer.Load(w, "q", config.DModel, config.InnerDim, bias: false);
        _k = LinearLayer.Load(w, "k", config.DModel, config.InnerDim, bias: false);
        _v = LinearLayer.Load(w, "v", config.DModel, config.InnerDim, bias: false);
        _o = LinearLayer.Load(w, "o", config.InnerDim, config.DModel, bias: false);
        if (hasRelativeAttentionBias)
            _relativeAttentionBias = w.Get("relative_attention_bias.weight", _numBuckets, _heads);
    }

    public bool HasRelativeAttentionBias => _relativeAttentionBias is not null;

    /// <summary>
    /// <c>T5Attention._relative_position_bucket</c> for one relative position (key − query). Half the buckets
    /// per direction when bidirectional (positive distances get the upper half); within a direction, distances
    /// below <c>max_exact = buckets/2</c> are exact and the rest log-spaced up to <c>max_distance</c>. The log
    /// bucket is computed in float32, operation by operation, as torch computes it, so boundary distances
    /// truncate the same way.
    /// </summary>
    public static int RelativePositionBucket(int relativePosition, bool bidirectional, int numBuckets, int maxDistance)
    {
        int bucket = 0;
        int distance;
        if (bidirectional)
        {
            numBuckets /= 2;
            if (relativePosition > 0) bucket += numBuckets;
            distance = Math.Abs(relativePosition);
        }
        else
            distance = -Math.Min(relativePosition, 0);

        int maxExact = numBuckets / 2;
        if (distance < maxExact) return bucket + distance;
        float logRatio = MathF.Log((float)distance / maxExact);
        float logRange = (float)Math.Log((double)maxDistance / maxExact);
        int large = maxExact + (int)(logRatio / logRange * (numBuckets - maxExact));
        return bucket + Math.Min(large, numBuckets - 1);
    }

    /// <summary>The buckets of the encoder's (bidirectional) position pairs, [queries, keys] row-major.</summary>
    public int[] PositionBuckets(int queryLength, int keyLength)
    {
        var buckets = new int[queryLength * keyLength];
        for (int i = 0; i < queryLength; i++)
            for (int j = 0; j < keyLength; j++)
                buckets[i * keyLength + j] = RelativePositionBucket(j - i, bidirectional: true, _numBuckets, _maxDistance);
        return buckets;
    }

    /// <summary><c>compute_bias</c>: relative_attention_bias[bucket(j − i), h] as [heads, queries, keys].</summary>
    public Tensor ComputeBias(int queryLength, int keyLength)
    {
        Tensor table = _relativeAttentionBias
            ?? throw new InvalidOperationException("Only the first T5 block has relative_attention_bias.");
        IBackend be = table.Backend;
        Tensor buckets = be.UploadIndices(PositionBuckets(queryLength, keyLength), new Shape(queryLength * keyLength));
        // [q·k, heads] → [heads, q·k], the permute([2, 0, 1]) of compute_bias.
        return be.TransposeLast2(be.GatherRows(table, buckets)).Reshape(_heads, queryLength, keyLength);
    }

    /// <summary>x [B, L, d_model] (normalised) → [B, L, d_model]; <paramref name="mask"/> carries the position bias.</summary>
    public Tensor Forward(Tensor x, AttentionMaskArgs mask)
    {
        int batch = x.Shape[0], length = x.Shape[1];
        Tensor q = _q.Forward(x).Reshape(batch, length, _heads, _dKv);
        Tensor k = _k.Forward(x).Reshape(batch, length, _heads, _dKv);
        Tensor v = _v.Forward(x).Reshape(batch, length, _heads, _dKv);
        Tensor o = x.Backend.Attention(q, k, v, 1f, mask.KeyMask, mask.Causal, mask.Bias);
        return _o.Forward(o.Reshape(batch, length, _heads * _dKv));
    }
}
