using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.TeaCache;

/// <summary>
/// TeaCache's distance <c>(current − previous).abs().mean() / previous.abs().mean()</c>: two means over every element
/// of the batch (one decision for the whole batch), divided in float32 and read back as one scalar pair. Built from
/// existing backend ops, so both backends run it without a kernel of its own: |x| = relu(x) + relu(−x), and a sum is
/// a Linear against a row of ones (over the features, then over the rows). The two sums are the only values
/// downloaded per step.
/// </summary>
public sealed class RelativeL1Distance
{
    private readonly Dictionary<int, Tensor> _ones = [];

    public float Compute(Tensor current, Tensor previous)
    {
        if (current.Shape != previous.Shape)
            throw new ArgumentException($"TeaCache compares tensors of one shape; got {current.Shape} and {previous.Shape}.");
        IBackend be = current.Backend;
        Tensor difference = be.Add(current, be.Scale(previous, -1f));
        float[] sums = be.Download(be.Concat(0, Sum(Abs(difference)), Sum(Abs(previous))));
        int count = current.Shape.ElementCount;
        // torch: each mean is a float32 value, and so is their ratio; .item() widens it to float64.
        float meanDifference = sums[0] / count, meanPrevious = sums[1] / count;
        return meanDifference / meanPrevious;
    }

    private static Tensor Abs(Tensor x)
    {
        IBackend be = x.Backend;
        return be.Add(be.Relu(x), be.Relu(be.Scale(x, -1f)));
    }

    /// <summary>The sum of every element, as a [1, 1] tensor.</summary>
    private Tensor Sum(Tensor x)
    {
        IBackend be = x.Backend;
        int features = x.Shape.Last;
        int rows = x.Shape.Rows;
        Tensor perRow = be.Linear(x.Reshape(rows, features), Ones(be, features), null); // [rows, 1]
        return be.Linear(perRow.Reshape(1, rows), Ones(be, rows), null);        // [1, 1]
    }

    private Tensor Ones(IBackend be, int length)
    {
        if (!_ones.TryGetValue(length, out var ones))
        {
            var values = new float[length];
            Array.Fill(values, 1f);
            _ones[length] = ones = be.Upload(values, new Shape(1, length));
        }
        return ones;
    }
}
