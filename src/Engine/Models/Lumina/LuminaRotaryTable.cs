namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// diffusers <c>get_2d_rotary_pos_embed_lumina(head_dim, len_h, len_w, linear_factor, ntk_factor)</c> as cos/sin
/// tables for <see cref="Tensors.IBackend.Rotary"/> with adjacent pairing.
///
/// Entry (r, c) holds head_dim/2 complex numbers that <b>interleave</b> row and column frequencies pair by pair
/// (architectures.md pitfall 9): pair 2j rotates by r·ω_j, pair 2j+1 by c·ω_j, with
/// ω_j = 1 / (10000·ntk_factor)^(2j/(head_dim/2)) / linear_factor, j &lt; head_dim/4. Every step is done in
/// float32 as torch does (arange/dim, pow, reciprocal, division by the factor, the outer product with the integer
/// positions), so the table matches diffusers' complex64 table to a rounding of cos/sin.
///
/// The pipeline builds a 384×384 table and the patch embedder crops its top-left Ht×Wt corner; every entry only
/// depends on (r, c), so building just the grid's corner gives the same numbers. <see cref="Cos"/>/<see cref="Sin"/>
/// are [Height·Width, head_dim/2], row-major over the grid (the token order of <c>LuminaPatchEmbed</c>).
/// </summary>
public sealed class LuminaRotaryTable
{
    /// <summary>Side of the table LuminaText2ImgPipeline builds (<c>get_2d_rotary_pos_embed_lumina(hd, 384, 384)</c>).</summary>
    public const int PipelineTableSize = 384;

    private LuminaRotaryTable(int headDim, int height, int width, float[] cos, float[] sin)
    {
        HeadDim = headDim;
        Height = height;
        Width = width;
        Cos = cos;
        Sin = sin;
    }

    public int HeadDim { get; }

    /// <summary>Rows of the token grid the table covers.</summary>
    public int Height { get; }

    /// <summary>Columns of the token grid the table covers.</summary>
    public int Width { get; }

    /// <summary>Complex pairs per token: head_dim / 2.</summary>
    public int Pairs => HeadDim / 2;

    /// <summary>Real parts, [Height·Width, Pairs].</summary>
    public float[] Cos { get; }

    /// <summary>Imaginary parts, [Height·Width, Pairs].</summary>
    public float[] Sin { get; }

    /// <summary>The table for an <paramref name="height"/>×<paramref name="width"/> token grid.</summary>
    public static LuminaRotaryTable Create(int headDim, int height, int width, double linearFactor = 1.0, double ntkFactor = 1.0)
    {
        if (headDim <= 0 || headDim % 4 != 0)
            throw new AccelAesException($"Lumina RoPE needs a head dimension divisible by 4, got {headDim}.");
        if (height <= 0 || width <= 0)
            throw new AccelAesException($"Lumina RoPE needs a non-empty token grid, got {height}×{width}.");
        if (!(linearFactor > 0) || !(ntkFactor > 0))
            throw new AccelAesException($"Lumina RoPE factors must be positive (linear_factor {linearFactor}, ntk_factor {ntkFactor}).");

        float[] frequencies = Frequencies(headDim, linearFactor, ntkFactor);
        int quarter = headDim / 4, pairs = headDim / 2;
        var cos = new float[height * width * pairs];
        var sin = new float[cos.Length];
        for (int r = 0; r < height; r++)
            for (int c = 0; c < width; c++)
            {
                int o = (r * width + c) * pairs;
                for (int j = 0; j < quarter; j++)
                {
                    // torch.outer(int64 positions, float32 freqs) promotes to float32: one rounding of pos·ω.
                    float rowAngle = r * frequencies[j], colAngle = c * frequencies[j];
                    cos[o + 2 * j] = (float)Math.Cos(rowAngle);
                    sin[o + 2 * j] = (float)Math.Sin(rowAngle);
                    cos[o + 2 * j + 1] = (float)Math.Cos(colAngle);
                    sin[o + 2 * j + 1] = (float)Math.Sin(colAngle);
                }
            }
        return new LuminaRotaryTable(headDim, height, width, cos, sin);
    }

    /// <summary>
    /// A table given as its real and imaginary parts [height, width, head_dim/2] (e.g. diffusers'
    /// <c>image_rotary_emb</c> cropped to the grid, as the conformance goldens store it).
    /// </summary>
    public static LuminaRotaryTable FromParts(int headDim, int height, int width, float[] real, float[] imaginary)
    {
        int expected = height * width * (headDim / 2);
        if (real.Length != expected || imaginary.Length != expected)
            throw new AccelAesException(
                $"A Lumina RoPE table for a {height}×{width} grid and head_dim {headDim} has {expected} entries per part; got {real.Length} and {imaginary.Length}.");
        return new LuminaRotaryTable(headDim, height, width, (float[])real.Clone(), (float[])imaginary.Clone());
    }

    /// <summary>The top-left <paramref name="height"/>×<paramref name="width"/> corner, as <c>LuminaPatchEmbed</c> crops it.</summary>
    public LuminaRotaryTable Crop(int height, int width)
    {
        if (height > Height || width > Width)
            throw new AccelAesException(
                $"A {height}×{width} token grid is larger than the {Height}×{Width} RoPE table.");
        if (height == Height && width == Width) return this;
        int pairs = Pairs;
        var cos = new float[height * width * pairs];
        var sin = new float[cos.Length];
        for (int r = 0; r < height; r++)
        {
            Array.Copy(Cos, r * Width * pairs, cos, r * width * pairs, width * pairs);
            Array.Copy(Sin, r * Width * pairs, sin, r * width * pairs, width * pairs);
        }
        return new LuminaRotaryTable(HeadDim, height, width, cos, sin);
    }

    /// <summary>
    /// ω_j for j &lt; head_dim/4, as <c>get_1d_rotary_pos_embed(head_dim/2, …)</c> computes them in float32:
    /// <c>1.0 / (θ ** (arange(0, dim, 2) / dim)) / linear_factor</c> with θ = 10000·ntk_factor.
    /// </summary>
    internal static float[] Frequencies(int headDim, double linearFactor, double ntkFactor)
    {
        int dim = headDim / 2;
        float theta = (float)(10000.0 * ntkFactor); // Python float, cast to the tensor's float32 by pow
        float linear = (float)linearFactor;
        var f = new float[dim / 2];
        for (int j = 0; j < f.Length; j++)
        {
            float exponent = 2 * j / (float)dim;
            f[j] = 1f / MathF.Pow(theta, exponent) / linear;
        }
        return f;
    }
}
