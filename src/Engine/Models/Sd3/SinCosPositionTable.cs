namespace AccelAes.Engine.Models.Sd3;

/// <summary>
/// diffusers <c>get_2d_sincos_pos_embed(dim, grid, base_size, interpolation_scale=1)</c>: the table SD3 stores
/// as the buffer <c>pos_embed.pos_embed</c> [1, grid², dim]. Used only when a checkpoint lacks the buffer;
/// a stored table is always preferred (it is what the model was trained with).
/// </summary>
public static class SinCosPositionTable
{
    /// <summary>Row-major over the (row h, column w) grid; the first dim/2 features encode w, the last dim/2 encode h.</summary>
    public static float[] Create(int dim, int gridSize, int baseSize)
    {
        if (dim % 4 != 0) throw new ArgumentException($"Sin-cos position embedding needs a width divisible by 4, got {dim}.");
        var table = new float[gridSize * gridSize * dim];
        int quarter = dim / 4;
        var omega = new double[quarter];
        // Each half is a 1-D embedding of width dim/2 with dim/4 frequencies ω_k = 10000^(−k/(dim/4)).
        for (int k = 0; k < quarter; k++) omega[k] = 1.0 / Math.Pow(10000.0, k / (double)quarter);
        // torch computes the grid coordinates in float32: arange(G) / (G / base_size).
        float step = gridSize / (float)baseSize;
        for (int h = 0; h < gridSize; h++)
            for (int w = 0; w < gridSize; w++)
            {
                int o = (h * gridSize + w) * dim;
                Fill(table.AsSpan(o, dim / 2), w / step, omega);
                Fill(table.AsSpan(o + dim / 2, dim / 2), h / step, omega);
            }
        return table;
    }

    private static void Fill(Span<float> half, float position, double[] omega)
    {
        int quarter = omega.Length;
        for (int k = 0; k < quarter; k++)
        {
            double a = position * omega[k];
            half[k] = (float)Math.Sin(a);
            half[quarter + k] = (float)Math.Cos(a);
        }
    }
}
