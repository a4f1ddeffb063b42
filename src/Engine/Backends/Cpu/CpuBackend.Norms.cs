using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public Tensor LayerNorm(Tensor x, float eps, Tensor? weight = null, Tensor? bias = null)
    {
        int d = x.Shape.Last;
        float[]? w = OptionalVector(weight, d, "LayerNorm weight");
        float[]? b = OptionalVector(bias, d, "LayerNorm bias");
        float[] src = C(x).Data;
        var y = New(x.Shape);
        float[] dst = y.Data;
        CpuParallel.ForChunks(x.Shape.Rows, 4L * d, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                ReadOnlySpan<float> row = src.AsSpan(r * d, d);
                Span<float> outRow = dst.AsSpan(r * d, d);
                float mean = TensorPrimitives.Sum(row) / d;
                TensorPrimitives.Subtract(row, mean, outRow);
                float variance = TensorPrimitives.SumOfSquares(outRow) / d;
                TensorPrimitives.Multiply(outRow, 1f / MathF.Sqrt(variance + eps), outRow);
                if (w is not null) TensorPrimitives.Multiply(outRow, w.AsSpan(0, d), outRow);
                if (b is not null) TensorPrimitives.Add(outRow, b.AsSpan(0, d), outRow);
            }
        });
        return y;
    }

    public Tensor RmsNorm(Tensor x, float eps, Tensor? weight = null)
    {
        int d = x.Shape.Last;
        float[]? w = OptionalVector(weight, d, "RmsNorm weight");
        float[] src = C(x).Data;
        var y = New(x.Shape);
        float[] dst = y.Data;
        CpuParallel.ForChunks(x.Shape.Rows, 3L * d, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                ReadOnlySpan<float> row = src.AsSpan(r * d, d);
                Span<float> outRow = dst.AsSpan(r * d, d);
                float meanSquare = TensorPrimitives.SumOfSquares(row) / d;
                TensorPrimitives.Multiply(row, 1f / MathF.Sqrt(meanSquare + eps), outRow);
                if (w is not null) TensorPrimitives.Multiply(outRow, w.AsSpan(0, d), outRow);
            }
        });
        return y;
    }

    public Tensor GroupNorm(Tensor x, int groups, float eps, Tensor weight, Tensor bias)
    {
        if (x.Shape.Rank < 2)
            throw new ArgumentException($"GroupNorm: input {x.Shape} needs [B, C, ...].");
        int batch = x.Shape[0], channels = x.Shape[1];
        if (groups <= 0 || channels % groups != 0)
            throw new ArgumentException($"GroupNorm: {channels} channels cannot be split into {groups} groups.");
        int spatial = x.Shape.Inner(1);
        float[] w = OptionalVector(weight, channels, "GroupNorm weight")!;
        float[] b = OptionalVector(bias, channels, "GroupNorm bias")!;
        float[] src = C(x).Data;
        var y = New(x.Shape);
        float[] dst = y.Data;
        int perGroup = channels / groups;
        int groupSize = perGroup * spatial;
        CpuParallel.For(batch * groups, 4L * groupSize, task =>
        {
            int g = task % groups;
            int offset = task * groupSize; // groups are contiguous: channels g·perGroup … of batch item task / groups
            ReadOnlySpan<float> block = src.AsSpan(offset, groupSize);
            Span<float> outBlock = dst.AsSpan(offset, groupSize);
            float mean = TensorPrimitives.Sum(block) / groupSize;
            TensorPrimitives.Subtract(block, mean, outBlock);
            float rstd = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(outBlock) / groupSize + eps);
            for (int c = 0; c < perGroup; c++)
            {
                int channel = g * perGroup + c;
                Span<float> plane = outBlock.Slice(c * spatial, spatial);
                TensorPrimitives.Multiply(plane, rstd * w[channel], plane);
                TensorPrimitives.Add(plane, b[channel], plane);
            }
        });
        return y;
    }

    public Tensor Modulate(Tensor x, Tensor? scale, Tensor? shift)
    {
        RequireRank(x, 3, "Modulate", "x");
        int batch = x.Shape[0], seq = x.Shape[1], d = x.Shape[2];
        float[]? sc = OptionalPerBatch(scale, batch, d, "Modulate scale");
        float[]? sh = OptionalPerBatch(shift, batch, d, "Modulate shift");
        float[] src = C(x).Data;
        var y = New(x.Shape);
        float[] dst = y.Data;
        float[] onePlusScale = new float[batch * d];
        if (sc is not null) TensorPrimitives.Add(sc.AsSpan(0, batch * d), 1f, onePlusScale);
        else onePlusScale.AsSpan().Fill(1f);
        CpuParallel.ForChunks(batch * seq, 2L * d, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                int b = r / seq;
                Span<float> outRow = dst.AsSpan(r * d, d);
                TensorPrimitives.Multiply(src.AsSpan(r * d, d), onePlusScale.AsSpan(b * d, d), outRow);
                if (sh is not null) TensorPrimitives.Add(outRow, sh.AsSpan(b * d, d), outRow);
            }
        });
        return y;
    }

    public void AddGatedInPlace(Tensor residual, Tensor y, Tensor? gate)
    {
        RequireSameShape(residual, y, "AddGatedInPlace");
        float[] acc = C(residual).Data, src = C(y).Data;
        if (gate is null)
        {
            int n = residual.ElementCount;
            CpuParallel.ForChunks(n, 1, (s, e) => TensorPrimitives.Add(acc.AsSpan(s, e - s), src.AsSpan(s, e - s), acc.AsSpan(s, e - s)));
            return;
        }
        RequireRank(residual, 3, "AddGatedInPlace", "residual");
        int batch = residual.Shape[0], seq = residual.Shape[1], d = residual.Shape[2];
        float[] g = OptionalPerBatch(gate, batch, d, "AddGatedInPlace gate")!;
        CpuParallel.ForChunks(batch * seq, 2L * d, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                Span<float> accRow = acc.AsSpan(r * d, d);
                TensorPrimitives.MultiplyAdd(src.AsSpan(r * d, d), g.AsSpan(r / seq * d, d), accRow, accRow);
            }
        });
    }

    private float[]? OptionalVector(Tensor? t, int length, string what)
    {
        if (t is null) return null;
        if (t.ElementCount != length)
            throw new ArgumentException($"{what} {t.Shape} does not have {length} elements.");
        return C(t).Data;
    }

    private float[]? OptionalPerBatch(Tensor? t, int batch, int d, string what)
    {
        if (t is null) return null;
        if (t.Shape.Rank != 2 || t.Shape[0] != batch || t.Shape[1] != d)
            throw new ArgumentException($"{what} {t.Shape} must be [{batch}, {d}].");
        return C(t).Data;
    }

    /// <summary>The reference: the two ops composed (in fp32 there is nothing to round in between).</summary>
    public Tensor LayerNormModulate(Tensor x, float eps, Tensor? scale, Tensor? shift)
    {
        RequireRank(x, 3, "Modulate", "x");
        return Modulate(LayerNorm(x, eps), scale, shift);
    }

    /// <summary>The reference: the two ops composed.</summary>
    public Tensor RmsNormModulate(Tensor x, float eps, Tensor? weight, Tensor? scale, Tensor? shift)
    {
        RequireRank(x, 3, "Modulate", "x");
        return Modulate(RmsNorm(x, eps, weight), scale, shift);
    }
}
