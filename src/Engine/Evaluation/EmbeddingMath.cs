namespace AccelAes.Engine.Evaluation;

/// <summary>
/// The last steps of the embedding metrics, on the host in float64: a few hundred numbers per image, where doing
/// them on the device would only add bf16 roundings (the CUDA backend stores activations in bf16).
/// </summary>
public static class EmbeddingMath
{
    /// <summary>
    /// Each row of <paramref name="values"/> (rows of <paramref name="dim"/>) divided by its L2 norm, as the LAION
    /// predictor's <c>normalized()</c> does: a zero row stays zero (its norm is replaced by 1) instead of becoming NaN.
    /// </summary>
    public static float[] NormalizedRows(ReadOnlySpan<float> values, int dim)
    {
        if (dim <= 0 || values.Length % dim != 0)
            throw new ArgumentException($"{values.Length} values are not rows of {dim}.");
        var result = new float[values.Length];
        for (int start = 0; start < values.Length; start += dim)
        {
            double sum = 0;
            for (int i = start; i < start + dim; i++) sum += (double)values[i] * values[i];
            double norm = sum == 0 ? 1 : Math.Sqrt(sum);
            for (int i = start; i < start + dim; i++) result[i] = (float)(values[i] / norm);
        }
        return result;
    }

    /// <summary>The cosine of two embeddings: a·b / (‖a‖ ‖b‖); NaN when either is zero.</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Embeddings of {a.Length} and {b.Length} values cannot be compared.");
        double dot = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            aa += (double)a[i] * a[i];
            bb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(aa * bb);
    }
}
