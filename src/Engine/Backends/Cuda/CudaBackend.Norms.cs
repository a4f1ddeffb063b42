using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    public Tensor LayerNorm(Tensor x, float eps, Tensor? weight = null, Tensor? bias = null)
    {
        int d = x.Shape.Last;
        var w = OptionalVector(weight, d, "LayerNorm weight");
        var b = OptionalVector(bias, d, "LayerNorm bias");
        var cx = Float(x, "LayerNorm");
        using var op = Enter("LayerNorm", x, weight, bias);
        var y = New(x.Shape, DType.BF16);
        ulong rows = (ulong)x.Shape.Rows;
        bool vec = d % 8 == 0;
        Launch("layernorm_bf16", LaunchConfig.RowGrid(rows), (uint)LaunchConfig.RowBlock(d, vec ? 8 : 1), 0,
            Bf16(cx).Pointer, PointerOf(w is null ? null : Bf16(w)), PointerOf(b is null ? null : Bf16(b)), y.Pointer, rows, d, eps, vec);
        return y;
    }

    public Tensor RmsNorm(Tensor x, float eps, Tensor? weight = null)
    {
        int d = x.Shape.Last;
        var w = OptionalVector(weight, d, "RmsNorm weight");
        var cx = Float(x, "RmsNorm");
        using var op = Enter("RmsNorm", x, weight);
        var y = New(x.Shape, DType.BF16);
        ulong rows = (ulong)x.Shape.Rows;
        bool vec = d % 8 == 0;
        Launch("rmsnorm_bf16", LaunchConfig.RowGrid(rows), (uint)LaunchConfig.RowBlock(d, vec ? 8 : 1), 0,
            Bf16(cx).Pointer, PointerOf(w is null ? null : Bf16(w)), y.Pointer, rows, d, eps, vec);
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
        var w = OptionalVector(weight, channels, "GroupNorm weight")!;
        var b = OptionalVector(bias, channels, "GroupNorm bias")!;
        var cx = Float(x, "GroupNorm");
        using var op = Enter("GroupNorm", x, weight, bias);
        var y = New(x.Shape, DType.BF16);
        Launch("groupnorm_bf16", (uint)(batch * groups), 512, 0,
            Bf16(cx).Pointer, Bf16(w).Pointer, Bf16(b).Pointer, y.Pointer, groups, channels / groups, (ulong)spatial, eps);
        return y;
    }

    public Tensor Modulate(Tensor x, Tensor? scale, Tensor? shift)
    {
        RequireRank(x, 3, "Modulate", "x");
        int batch = x.Shape[0], seq = x.Shape[1], d = x.Shape[2];
        var sc = OptionalPerBatch(scale, batch, d, "Modulate scale");
        var sh = OptionalPerBatch(shift, batch, d, "Modulate shift");
        var cx = Float(x, "Modulate");
        using var op = Enter("Modulate", x, scale, shift);
        var y = New(x.Shape, DType.BF16);
        ulong n = (ulong)x.ElementCount;
        Elementwise("modulate_bf16", n, Bf16(cx).Pointer, PointerOf(sc is null ? null : Bf16(sc)), PointerOf(sh is null ? null : Bf16(sh)),
            y.Pointer, n, (ulong)seq * (ulong)d, d);
        return y;
    }

    /// <summary>
    /// layernorm_modulate_bf16: LayerNorm (no affine) and adaLN modulation in one pass; the normalised row stays in
    /// registers (fp32) instead of being written as bf16 and read back by modulate_bf16.
    /// </summary>
    public Tensor LayerNormModulate(Tensor x, float eps, Tensor? scale, Tensor? shift)
    {
        RequireRank(x, 3, "Modulate", "x");
        int batch = x.Shape[0], seq = x.Shape[1], d = x.Shape[2];
        var sc = OptionalPerBatch(scale, batch, d, "Modulate scale");
        var sh = OptionalPerBatch(shift, batch, d, "Modulate shift");
        var cx = Float(x, "LayerNormModulate");
        using var op = Enter("LayerNormModulate", x, scale, shift);
        var y = New(x.Shape, DType.BF16);
        ulong rows = (ulong)x.Shape.Rows;
        if (rows == 0)
            return y;
        bool vec = d % 8 == 0;
        Launch("layernorm_modulate_bf16", LaunchConfig.RowGrid(rows), (uint)LaunchConfig.RowBlock(d, vec ? 8 : 1), 0,
            Bf16(cx).Pointer, PointerOf(sc is null ? null : Bf16(sc)), PointerOf(sh is null ? null : Bf16(sh)), y.Pointer, rows,
            (ulong)seq, d, eps, vec);
        return y;
    }

    /// <summary>rmsnorm_modulate_bf16: RMSNorm (optional weight) and adaLN modulation in one pass, as <see cref="LayerNormModulate"/>.</summary>
    public Tensor RmsNormModulate(Tensor x, float eps, Tensor? weight, Tensor? scale, Tensor? shift)
    {
        RequireRank(x, 3, "Modulate", "x");
        int batch = x.Shape[0], seq = x.Shape[1], d = x.Shape[2];
        var w = OptionalVector(weight, d, "RmsNorm weight");
        var sc = OptionalPerBatch(scale, batch, d, "Modulate scale");
        var sh = OptionalPerBatch(shift, batch, d, "Modulate shift");
        var cx = Float(x, "RmsNormModulate");
        using var op = Enter("RmsNormModulate", x, weight, scale);
        var y = New(x.Shape, DType.BF16);
        ulong rows = (ulong)x.Shape.Rows;
        if (rows == 0)
            return y;
        bool vec = d % 8 == 0;
        Launch("rmsnorm_modulate_bf16", LaunchConfig.RowGrid(rows), (uint)LaunchConfig.RowBlock(d, vec ? 8 : 1), 0,
            Bf16(cx).Pointer, PointerOf(w is null ? null : Bf16(w)), PointerOf(sc is null ? null : Bf16(sc)), PointerOf(sh is null ? null : Bf16(sh)),
            y.Pointer, rows, (ulong)seq, d, eps, vec);
        return y;
    }

    public void AddGatedInPlace(Tensor residual, Tensor y, Tensor? gate)
    {
        RequireSameShape(residual, y, "AddGatedInPlace");
        var cr = Float(residual, "AddGatedInPlace");
        var cy = Float(y, "AddGatedInPlace");
        CudaTensor? g = null;
        int seq = 1, d = 1;
        if (gate is not null)
        {
            RequireRank(residual, 3, "AddGatedInPlace", "residual");
            int batch = residual.Shape[0];
            seq = residual.Shape[1];
            d = residual.Shape[2];
            g = OptionalPerBatch(gate, batch, d, "AddGatedInPlace gate")!;
        }
        using var op = Enter("AddGatedInPlace", residual, y, gate);
        ulong n = (ulong)residual.ElementCount;
        Elementwise(cr.DType == DType.F32 ? "add_gated_f32" : "add_gated_bf16", n,
            cr.Pointer, Bf16(cy).Pointer, PointerOf(g is null ? null : Bf16(g)), n, (ulong)seq * (ulong)d, d);
    }

    private CudaTensor? OptionalVector(Tensor? t, int length, string what)
    {
        if (t is null) return null;
        if (t.ElementCount != length)
            throw new ArgumentException($"{what} {t.Shape} does not have {length} elements.");
        return Float(t, what);
    }

    private CudaTensor? OptionalPerBatch(Tensor? t, int batch, int d, string what)
    {
        if (t is null) return null;
        if (t.Shape.Rank != 2 || t.Shape[0] != batch || t.Shape[1] != d)
            throw new ArgumentException($"{what} {t.Shape} must be [{batch}, {d}].");
        return Float(t, what);
    }
}
