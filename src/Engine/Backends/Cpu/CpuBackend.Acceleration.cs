using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// Ops of the acceleration methods: row scatter for SkipSparse caches, spatial guidance, StepCache extrapolation,
/// TeaCache's distance sums.
/// </summary>
public sealed partial class CpuBackend
{
    public void ScatterRowsInPlace(Tensor destination, Tensor indices, Tensor source)
    {
        RequireRank(destination, 2, "ScatterRowsInPlace", "destination");
        RequireRank(source, 2, "ScatterRowsInPlace", "source");
        int rows = destination.Shape[0], d = destination.Shape[1];
        int[] idx = I(indices).Data;
        if (source.Shape[1] != d || source.Shape[0] != indices.ElementCount)
            throw new ArgumentException($"ScatterRowsInPlace: source {source.Shape} does not match {indices.ElementCount} indices of rows of width {d}.");
        float[] dst = C(destination).Data, src = C(source).Data;
        for (int i = 0; i < idx.Length; i++)
        {
            int r = idx[i];
            if ((uint)r >= (uint)rows)
                throw new ArgumentOutOfRangeException(nameof(indices), $"ScatterRowsInPlace: index {r} at position {i} is outside the destination's {rows} rows.");
            Array.Copy(src, (long)i * d, dst, (long)r * d, d);
        }
    }

    public Tensor Copy(Tensor x) => x is CpuIndexTensor ids
        ? new CpuIndexTensor(this, x.Shape, (int[])ids.Data.Clone())
        : Upload(C(x).Span, x.Shape);

    public Tensor GuidanceCombine(Tensor uncond, Tensor cond, Tensor scale)
    {
        RequireSameShape(uncond, cond, "GuidanceCombine");
        int inner = RequireTrailing(cond, scale, "GuidanceCombine");
        float[] u = C(uncond).Data, c = C(cond).Data, s = C(scale).Data;
        var y = New(cond.Shape);
        float[] yd = y.Data;
        int outer = inner == 0 ? 0 : cond.ElementCount / inner;
        CpuParallel.For(outer, inner, o =>
        {
            int b = o * inner;
            for (int i = 0; i < inner; i++)
            {
                float diff = c[b + i] - u[b + i];
                float scaled = s[i] * diff;
                yd[b + i] = u[b + i] + scaled;
            }
        });
        return y;
    }

    public Tensor Extrapolate(Tensor latest, Tensor previous, float coefficient)
    {
        RequireSameShape(latest, previous, "Extrapolate");
        var y = New(latest.Shape);
        StepCacheArithmetic(C(latest).Span, C(previous).Span, coefficient, y.Span);
        return y;
    }

    /// <summary>
    /// Σ|a − b| and Σ|b| as a [2] F32 tensor: each difference rounded to fp32, summed in fp64 in index order (the
    /// reference the CUDA kernel is held to), rounded to fp32 once.
    /// </summary>
    public Tensor AbsDifferenceSums(Tensor a, Tensor b)
    {
        RequireSameShape(a, b, "AbsDifferenceSums");
        ReadOnlySpan<float> x = C(a).Span, y = C(b).Span;
        double difference = 0, magnitude = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float d = x[i] - y[i];
            difference += Math.Abs(d);
            magnitude += Math.Abs(y[i]);
        }
        return Upload([(float)difference, (float)magnitude], new Shape(2));
    }

    /// <summary>latest + c·(latest − previous) as <see cref="Acceleration.StepCacheMath.Extrapolate"/> defines it.</summary>
    private static void StepCacheArithmetic(ReadOnlySpan<float> latest, ReadOnlySpan<float> previous, float c, Span<float> y)
        => Acceleration.StepCacheMath.Extrapolate(latest, previous, c, y);
}
