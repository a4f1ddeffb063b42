using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public Tensor Activate(Tensor x, Activation activation)
    {
        var y = New(x.Shape);
        ApplyActivation(C(x).Span, y.Span, activation);
        return y;
    }

    public Tensor Add(Tensor a, Tensor b)
    {
        int inner = RequireTrailing(a, b, "Add");
        float[] ad = C(a).Data, bd = C(b).Data;
        var y = New(a.Shape);
        float[] yd = y.Data;
        int outer = inner == 0 ? 0 : a.ElementCount / inner;
        CpuParallel.For(outer, inner, o =>
            TensorPrimitives.Add(ad.AsSpan(o * inner, inner), bd.AsSpan(0, inner), yd.AsSpan(o * inner, inner)));
        return y;
    }

    public Tensor Multiply(Tensor a, Tensor b)
    {
        int inner = RequireTrailing(a, b, "Multiply");
        float[] ad = C(a).Data, bd = C(b).Data;
        var y = New(a.Shape);
        float[] yd = y.Data;
        int outer = inner == 0 ? 0 : a.ElementCount / inner;
        CpuParallel.For(outer, inner, o =>
            TensorPrimitives.Multiply(ad.AsSpan(o * inner, inner), bd.AsSpan(0, inner), yd.AsSpan(o * inner, inner)));
        return y;
    }

    /// <summary>Checks that b's shape is a trailing part of a's and returns b's element count.</summary>
    private static int RequireTrailing(Tensor a, Tensor b, string op)
    {
        if (b.Shape.Rank > a.Shape.Rank || !a.Shape.Dims[(a.Shape.Rank - b.Shape.Rank)..].SequenceEqual(b.Shape.Dims))
            throw new ArgumentException($"{op}: {b.Shape} is not a trailing part of {a.Shape}.");
        return b.ElementCount;
    }

    public Tensor Scale(Tensor x, float s)
    {
        var y = New(x.Shape);
        TensorPrimitives.Multiply(C(x).Span, s, y.Span);
        return y;
    }

    public Tensor Softmax(Tensor x)
    {
        int d = x.Shape.Last;
        var y = New(x.Shape);
        C(x).Span.CopyTo(y.Span);
        float[] yd = y.Data;
        CpuParallel.For(x.Shape.Rows, 3L * d, r => SoftmaxRow(yd.AsSpan(r * d, d)));
        return y;
    }

    /// <summary>Applies an activation elementwise; <paramref name="src"/> and <paramref name="dst"/> may alias.</summary>
    internal static void ApplyActivation(ReadOnlySpan<float> src, Span<float> dst, Activation activation)
    {
        switch (activation)
        {
            case Activation.None:
                src.CopyTo(dst);
                break;
            case Activation.Silu:
                for (int i = 0; i < src.Length; i++) { float v = src[i]; dst[i] = v / (1f + MathF.Exp(-v)); }
                break;
            case Activation.GeluTanh:
                const float c = 0.7978845608028654f; // √(2/π)
                for (int i = 0; i < src.Length; i++)
                {
                    float v = src[i];
                    dst[i] = 0.5f * v * (1f + MathF.Tanh(c * (v + 0.044715f * v * v * v)));
                }
                break;
            case Activation.Gelu:
                for (int i = 0; i < src.Length; i++)
                {
                    double v = src[i];
                    dst[i] = (float)(0.5 * v * (1.0 + Erf(v / Math.Sqrt(2.0))));
                }
                break;
            case Activation.QuickGelu:
                for (int i = 0; i < src.Length; i++) { float v = src[i]; dst[i] = v / (1f + MathF.Exp(-1.702f * v)); }
                break;
            case Activation.Tanh:
                TensorPrimitives.Tanh(src, dst);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, null);
        }
    }

    /// <summary>
    /// erf(x) to double precision (Abramowitz–Stegun 7.1.26 is not accurate enough for a reference backend,
    /// so this uses the series for small |x| and the continued fraction of erfc for large |x|).
    /// </summary>
    internal static double Erf(double x)
    {
        double ax = Math.Abs(x);
        double r;
        if (ax < 2.5)
        {
            // Maclaurin series: erf x = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1))
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 60; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            r = 2.0 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc x = e^(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))) (Lentz-free backward evaluation)
            double f = ax;
            for (int n = 60; n >= 1; n--) f = ax + n / 2.0 / f;
            r = 1.0 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        }
        return x < 0 ? -r : r;
    }
}
