using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Flux;

/// <summary>The rotary table of one forward: cos and sin [S, head_dim / 2], one column per rotated pair.</summary>
public sealed record FluxRotaryTable(Tensor Cos, Tensor Sin);

/// <summary>
/// diffusers <c>FluxPosEmbed(theta=10000, axes_dim)</c>: multi-axis RoPE from per-token position ids [S, n_axes].
/// Axis a owns d_a/2 consecutive pairs; pair j of axis a turns by pos_a·θ^(−2j/d_a). As in diffusers
/// (<c>get_1d_rotary_pos_embed(..., freqs_dtype=float64)</c>), the fp32 positions are promoted to float64, the
/// angles and their cos/sin are computed in float64, and only the result is rounded to fp32.
/// diffusers returns [S, head_dim] tables with each value repeated for both members of a pair
/// (<c>repeat_interleave_real=True</c>); the op set's <see cref="IBackend.Rotary"/> takes one value per pair,
/// which is the same rotation of adjacent features (2i, 2i+1) (architectures.md §0.9).
/// </summary>
public sealed class FluxPosEmbed
{
    private readonly double _theta;
    private readonly int[] _axesDim;

    public FluxPosEmbed(int theta, IReadOnlyList<int> axesDim)
    {
        _theta = theta;
        _axesDim = axesDim.ToArray();
    }

    public int Axes => _axesDim.Length;

    /// <summary>Rotated pairs per token: Σ d_a / 2.</summary>
    public int Pairs => _axesDim.Sum() / 2;

    /// <summary>ids [S, n_axes] (fp32, as the pipeline builds them) → cos, sin [S, pairs].</summary>
    public FluxRotaryTable Forward(Tensor ids)
    {
        if (ids.Shape.Rank != 2 || ids.Shape[1] != Axes)
            throw new ArgumentException($"FluxPosEmbed: ids {ids.Shape} must be [S, {Axes}].");
        float[] positions = ids.Backend.Download(ids);
        var (cos, sin) = Compute(positions, ids.Shape[0]);
        var shape = new Shape(ids.Shape[0], Pairs);
        return new FluxRotaryTable(ids.Backend.Upload(cos, shape), ids.Backend.Upload(sin, shape));
    }

    /// <summary>The host-side table: <paramref name="ids"/> row-major [rows, n_axes] → cos, sin row-major [rows, pairs].</summary>
    public (float[] Cos, float[] Sin) Compute(ReadOnlySpan<float> ids, int rows)
    {
        if (ids.Length != rows * Axes)
            throw new ArgumentException($"FluxPosEmbed: {ids.Length} id values do not form [{rows}, {Axes}].");
        int pairs = Pairs;
        var cos = new float[rows * pairs];
        var sin = new float[rows * pairs];
        // ω_j = 1 / θ^(2j / d) per axis, float64 as torch computes `1.0 / (theta ** (arange(0, d, 2) / d))`.
        var omega = new double[pairs];
        for (int a = 0, p = 0; a < Axes; a++)
            for (int j = 0; j < _axesDim[a] / 2; j++, p++)
                omega[p] = 1.0 / Math.Pow(_theta, 2.0 * j / _axesDim[a]);
        for (int s = 0; s < rows; s++)
        {
            for (int a = 0, p = 0; a < Axes; a++)
            {
                double position = ids[s * Axes + a];
                for (int j = 0; j < _axesDim[a] / 2; j++, p++)
                {
                    double angle = position * omega[p];
                    cos[s * pairs + p] = (float)Math.Cos(angle);
                    sin[s * pairs + p] = (float)Math.Sin(angle);
                }
            }
        }
        return (cos, sin);
    }
}
