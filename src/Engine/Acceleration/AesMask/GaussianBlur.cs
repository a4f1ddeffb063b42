namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>
/// The Gaussian blur that turns AesMask's binary mask into the soft mask, exactly as the reference code's
/// <c>SemanticMaskBuilder._gaussian_blur</c> and <c>boundary_ops.gaussian_blur</c> do it (identical code):
/// <c>k = int(6σ + 1)</c>, made odd; float32 taps <c>exp(−½(x/σ)²)</c> for <c>x = −k/2 … k/2</c>, normalised;
/// the 2-D kernel is the float32 outer product of the taps; the input is padded by <c>k/2</c> on every side
/// with <b>reflect</b> padding (mirror without repeating the edge: <c>[3 2 1 | 0 1 2 …]</c>); a correlation
/// (the kernel is symmetric); the result is clamped to [0, 1].
/// </summary>
/// <remarks>
/// <para>Taps: computed in float32 the way torch does (argument in float32, <c>exp</c> of it rounded to float32,
/// sequential float32 sum, float32 divide). For σ = 1.0 and σ = 1.5 that reproduces the golden tap bits
/// (conformance/aesmask/blur/taps.safetensors) exactly; the tests check it. torch's vectorised <c>exp</c> is not
/// guaranteed correctly rounded, so for other σ a tap may differ from torch's by one ulp.</para>
/// <para>Sums: each output is accumulated in float64 over the k×k window and rounded once, so it is within
/// one float32 rounding of the exact correlation; torch's summation order differs, so outputs agree with torch
/// to ~1e-7, not bitwise (the goldens' float64 re-check differs from torch by up to 2.7e-7).</para>
/// <para>Reflect padding needs <c>k/2 &lt; rows</c> and <c>k/2 &lt; cols</c> (torch raises otherwise): grids must be at
/// least 4 × 4 for σ = 1 and 6 × 6 for σ = 1.5; smaller grids get an <see cref="AccelAesException"/> naming the grid.</para>
/// </remarks>
public static class GaussianBlur
{
    /// <summary><c>int(6σ + 1)</c>, plus one if even.</summary>
    public static int KernelSize(double sigma)
    {
        ValidateSigma(sigma);
        int k = (int)(6 * sigma + 1);
        return k % 2 == 0 ? k + 1 : k;
    }

    /// <summary>The smallest grid side the blur of σ = <paramref name="sigma"/> can pad by reflection (half its taps, plus one).</summary>
    public static int MinimumGridSide(double sigma) => KernelSize(sigma) / 2 + 1;

    /// <summary>The normalised float32 1-D taps (length <see cref="KernelSize"/>).</summary>
    public static float[] Taps(double sigma)
    {
        int k = KernelSize(sigma);
        float s = (float)sigma; // torch: float32 tensor / Python float → the scalar enters as float32
        var taps = new float[k];
        for (int i = 0; i < k; i++)
        {
            float x = i - k / 2;
            float r = x / s;
            float arg = -0.5f * (r * r);
            taps[i] = (float)Math.Exp(arg);
        }

        // The float32 sum rounded once (accumulated exactly in float64): torch's vectorised reduction gives this for
        // σ = 1.5, where a left-to-right float32 sum is one ulp lower and shifts 7 of the 11 taps.
        double exact = 0;
        foreach (float t in taps) exact += t;
        float sum = (float)exact;
        for (int i = 0; i < k; i++) taps[i] /= sum;
        return taps;
    }

    /// <summary>The float32 outer product <c>K[i, j] = taps[i] · taps[j]</c>, row-major k × k.</summary>
    public static float[] Kernel2D(ReadOnlySpan<float> taps)
    {
        int k = taps.Length;
        var kernel = new float[k * k];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                kernel[i * k + j] = taps[i] * taps[j];
        return kernel;
    }

    /// <summary>
    /// Reflect padding by <paramref name="pad"/> on every side (torch <c>F.pad(mode="reflect")</c>): an
    /// <c>(rows + 2·pad) × (cols + 2·pad)</c> row-major grid.
    /// </summary>
    public static float[] ReflectPad(ReadOnlySpan<float> input, int rows, int cols, int pad)
    {
        CheckGrid(input.Length, rows, cols);
        if (pad < 0) throw new ArgumentOutOfRangeException(nameof(pad), pad, "padding must not be negative");
        if (pad >= rows || pad >= cols)
        {
            throw new AccelAesException(
                $"Reflect padding of {pad} needs a grid of more than {pad} rows and columns, but the grid is {rows} × {cols} (rows × columns).");
        }

        int pr = rows + 2 * pad, pc = cols + 2 * pad;
        var padded = new float[pr * pc];
        for (int y = 0; y < pr; y++)
        {
            int sy = Reflect(y - pad, rows);
            for (int x = 0; x < pc; x++) padded[y * pc + x] = input[sy * cols + Reflect(x - pad, cols)];
        }

        return padded;
    }

    /// <summary>Blurs a row-major <paramref name="rows"/> × <paramref name="cols"/> grid and clamps to [0, 1].</summary>
    public static float[] Blur(ReadOnlySpan<float> input, int rows, int cols, double sigma) =>
        Blur(input, rows, cols, Taps(sigma), sigma);

    /// <summary>Blurs with the given float32 taps (odd length) and clamps to [0, 1].</summary>
    public static float[] Blur(ReadOnlySpan<float> input, int rows, int cols, ReadOnlySpan<float> taps) =>
        Blur(input, rows, cols, taps, double.NaN);

    private static float[] Blur(ReadOnlySpan<float> input, int rows, int cols, ReadOnlySpan<float> taps, double sigma)
    {
        CheckGrid(input.Length, rows, cols);
        int k = taps.Length;
        if (k % 2 == 0) throw new ArgumentException($"Gaussian taps must have odd length, got {k}.", nameof(taps));
        int pad = k / 2;
        if (pad >= rows || pad >= cols)
        {
            string what = double.IsNaN(sigma) ? $"{k} taps" : $"σ = {sigma} ({k} taps)";
            throw new AccelAesException(
                $"The Gaussian blur with {what} needs reflect padding of {pad}, which requires a grid of at least " +
                $"{pad + 1} × {pad + 1}, but the mask grid is {rows} × {cols} (rows × columns).");
        }

        float[] padded = ReflectPad(input, rows, cols, pad);
        float[] kernel = Kernel2D(taps);
        int pc = cols + 2 * pad;
        var output = new float[rows * cols];
        for (int y = 0; y < rows; y++)
        {
            for (int x = 0; x < cols; x++)
            {
                double acc = 0;
                for (int i = 0; i < k; i++)
                {
                    int row = (y + i) * pc + x;
                    for (int j = 0; j < k; j++) acc += (double)padded[row + j] * kernel[i * k + j];
                }

                float v = (float)acc;
                output[y * cols + x] = v < 0f ? 0f : v > 1f ? 1f : v;
            }
        }

        return output;
    }

    private static int Reflect(int i, int n) => i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;

    private static void ValidateSigma(double sigma)
    {
        if (!(sigma > 0) || double.IsInfinity(sigma))
            throw new AccelAesException($"The Gaussian blur σ must be a positive finite number, got {sigma}.");
    }

    private static void CheckGrid(int length, int rows, int cols)
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentException($"Grid {rows} × {cols} must have positive sides.");
        if (length != rows * cols)
            throw new ArgumentException($"The grid is {rows} × {cols} = {rows * cols} values, but {length} were given.");
    }
}
