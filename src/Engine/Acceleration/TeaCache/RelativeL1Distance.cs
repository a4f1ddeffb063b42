using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.TeaCache;

/// <summary>
/// TeaCache's distance <c>(current − previous).abs().mean() / previous.abs().mean()</c>: two means over every element
/// of the batch (one decision for the whole batch), divided in float32 and read back as one scalar pair. The backend's
/// <see cref="IBackend.AbsDifferenceSums"/> gives both sums in one op (one reduction kernel pair on CUDA, fp64
/// accumulation rounded to fp32 once, deterministic), so a threshold decision never depends on summation order or on
/// bf16-rounded partial sums. The two sums are the only values downloaded per step.
/// </summary>
public sealed class RelativeL1Distance
{
    public float Compute(Tensor current, Tensor previous)
    {
        if (current.Shape != previous.Shape)
            throw new ArgumentException($"TeaCache compares tensors of one shape; got {current.Shape} and {previous.Shape}.");
        IBackend be = current.Backend;
        using Tensor sumsTensor = be.AbsDifferenceSums(current, previous);
        float[] sums = be.Download(sumsTensor);
        int count = current.Shape.ElementCount;
        // torch: each mean is a float32 value, and so is their ratio; .item() widens it to float64.
        float meanDifference = sums[0] / count, meanPrevious = sums[1] / count;
        return meanDifference / meanPrevious;
    }
}
