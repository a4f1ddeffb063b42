using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Layers;

/// <summary>
/// One stream's q, k and v projections as a single Linear (issue 16): the three checkpoint weights (and biases) are
/// concatenated by rows once, when they load, into [W_q; W_k; W_v] [(Hq + 2·Hkv)·hd, in], so a step runs one GEMM with
/// N = (Hq + 2·Hkv)·hd (fewer launches, better wave quantisation) whose output rows are [q | k | v], the layout
/// <see cref="IBackend.PrepareAttentionInputs"/> reads. The values are the three Linears' (each output column is the same
/// dot product); the weight bytes are the same as before. Under <c>--weights fp8</c> each source matrix is quantised
/// with its own per-output-channel scales before the join, which is exactly quantising the joined matrix by rows.
/// </summary>
public static class FusedQkvProjection
{
    public static LinearLayer Load(WeightReader w, string q, string k, string v, int inFeatures, int queryFeatures, int keyValueFeatures,
        bool bias = true)
    {
        var parts = new[]
        {
            LinearLayer.Load(w, q, inFeatures, queryFeatures, bias),
            LinearLayer.Load(w, k, inFeatures, keyValueFeatures, bias),
            LinearLayer.Load(w, v, inFeatures, keyValueFeatures, bias),
        };
        return Join(w.Backend, parts[0], parts[1], parts[2]);
    }

    /// <summary>Joins three loaded projections (all with a bias or none); their tensors are disposed, the joined layer replaces them.</summary>
    public static LinearLayer Join(IBackend be, LinearLayer q, LinearLayer k, LinearLayer v) => JoinedLinear.ByRows(be, q, k, v);
}
