using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Layers;

/// <summary>
/// Linears that read the same input joined into one (issue 16): their weights (and biases) are concatenated by rows once,
/// when they load, so a step runs one GEMM whose output columns are the parts' outputs side by side, in order. Each output
/// column is the same dot product as before, so the values are the separate Linears'; the weight bytes are the same.
/// Under <c>--offload sequential</c> a join of one block's weights happens on the host, into one streamed weight
/// (<c>BlockWeightStream.TryJoin</c>, reached through the backend's Concat); under <c>--weights fp8</c> each part keeps
/// its own per-output-channel scales, which is exactly quantising the joined matrix by rows.
/// </summary>
public static class JoinedLinear
{
    /// <summary>Joins loaded Linears of one input width (all with a bias or none); their tensors are disposed, the joined layer replaces them.</summary>
    public static LinearLayer ByRows(IBackend be, params LinearLayer[] parts)
    {
        if (parts.Length == 0) throw new ArgumentException("Nothing to join.", nameof(parts));
        bool bias = parts[0].Bias is not null;
        if (parts.Any(p => p.InFeatures != parts[0].InFeatures || (p.Bias is not null) != bias))
            throw new ArgumentException("Joined Linears must share their input width and all have a bias or none.", nameof(parts));
        Tensor weight = be.Concat(0, parts.Select(p => p.Weight).ToArray());
        Tensor? joinedBias = bias ? be.Concat(0, parts.Select(p => p.Bias!).ToArray()) : null;
        foreach (var p in parts)
        {
            p.Weight.Dispose(); // the joined copy replaces them: the parts' memory goes back at once
            p.Bias?.Dispose();
        }
        return LinearLayer.FromTensors(weight, joinedBias);
    }
}
