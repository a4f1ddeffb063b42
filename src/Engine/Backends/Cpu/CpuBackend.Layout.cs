using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public Tensor Concat(int axis, params Tensor[] parts)
    {
        var (shape, ax) = OpShapes.Concat(axis, parts);
        Shape first = parts[0].Shape;
        var y = New(shape);
        int outer = first.Outer(ax), inner = first.Inner(ax);
        float[] dst = y.Data;
        int offset = 0;
        foreach (var p in parts)
        {
            float[] src = C(p).Data;
            int block = p.Shape[ax] * inner;
            for (int o = 0; o < outer; o++)
                Array.Copy(src, o * block, dst, (o * shape[ax] + offset) * inner, block);
            offset += p.Shape[ax];
        }
        return y;
    }

    public Tensor GatherRows(Tensor table, Tensor indices)
    {
        RequireRank(table, 2, "GatherRows", "table");
        int rows = table.Shape[0], d = table.Shape[1];
        int[] idx = I(indices).Data;
        float[] src = C(table).Data;
        int[] dims = [.. indices.Shape.Dims, d];
        var y = New(new Shape(dims));
        for (int i = 0; i < indices.ElementCount; i++)
        {
            int r = idx[i];
            if ((uint)r >= (uint)rows)
                throw new ArgumentOutOfRangeException(nameof(indices), $"GatherRows: index {r} at position {i} is outside the table's {rows} rows.");
            Array.Copy(src, (long)r * d, y.Data, (long)i * d, d);
        }
        return y;
    }

    public Tensor Slice(Tensor x, int axis, int start, int length)
    {
        int ax = x.Shape.Axis(axis);
        if (start < 0 || length < 0 || start + length > x.Shape[ax])
            throw new ArgumentOutOfRangeException(nameof(start), $"Slice [{start}, {start + length}) is outside axis {ax} of {x.Shape}.");
        var y = New(x.Shape.With(ax, length));
        int outer = x.Shape.Outer(ax), inner = x.Shape.Inner(ax), size = x.Shape[ax];
        float[] src = C(x).Data, dst = y.Data;
        for (int o = 0; o < outer; o++)
            Array.Copy(src, (o * size + start) * inner, dst, o * length * inner, length * inner);
        return y;
    }

    public Tensor TransposeLast2(Tensor x)
    {
        if (x.Shape.Rank < 2) throw new ArgumentException($"TransposeLast2: {x.Shape} has fewer than 2 dimensions.");
        int m = x.Shape[-2], n = x.Shape[-1];
        int[] dims = x.Shape.ToArray();
        (dims[^2], dims[^1]) = (n, m);
        var y = New(new Shape(dims));
        float[] src = C(x).Data, dst = y.Data;
        int matrices = m * n == 0 ? 0 : x.ElementCount / (m * n);
        CpuParallel.For(matrices, (long)m * n, b =>
        {
            int o = b * m * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    dst[o + j * m + i] = src[o + i * n + j];
        });
        return y;
    }

    public Tensor Patchify(Tensor x, int patch, PatchLayout layout)
    {
        RequireRank(x, 4, "Patchify", "x");
        int batch = x.Shape[0], channels = x.Shape[1], height = x.Shape[2], width = x.Shape[3];
        if (patch <= 0 || height % patch != 0 || width % patch != 0)
            throw new ArgumentException($"Patchify: {height}×{width} is not divisible into {patch}×{patch} patches.");
        int gh = height / patch, gw = width / patch, features = channels * patch * patch;
        var y = New(new Shape(batch, gh * gw, features));
        float[] src = C(x).Data, dst = y.Data;
        ForEachPatchElement(batch, channels, gh, gw, patch, layout, (pixel, token) => dst[token] = src[pixel]);
        return y;
    }

    public Tensor Unpatchify(Tensor tokens, int channels, int height, int width, int patch, PatchLayout layout)
    {
        RequireRank(tokens, 3, "Unpatchify", "tokens");
        if (patch <= 0 || height % patch != 0 || width % patch != 0)
            throw new ArgumentException($"Unpatchify: {height}×{width} is not divisible into {patch}×{patch} patches.");
        int batch = tokens.Shape[0], gh = height / patch, gw = width / patch;
        if (tokens.Shape[1] != gh * gw || tokens.Shape[2] != channels * patch * patch)
            throw new ArgumentException($"Unpatchify: tokens {tokens.Shape} do not match [{batch}, {gh * gw}, {channels * patch * patch}].");
        var y = New(new Shape(batch, channels, height, width));
        float[] src = C(tokens).Data, dst = y.Data;
        ForEachPatchElement(batch, channels, gh, gw, patch, layout, (pixel, token) => dst[pixel] = src[token]);
        return y;
    }

    /// <summary>Visits every (pixel index in [B,C,H,W], index in the token tensor) pair of a patch layout.</summary>
    private static void ForEachPatchElement(int batch, int channels, int gh, int gw, int patch, PatchLayout layout, Action<int, int> visit)
    {
        int height = gh * patch, width = gw * patch, features = channels * patch * patch;
        for (int b = 0; b < batch; b++)
            for (int r = 0; r < gh; r++)
                for (int c = 0; c < gw; c++)
                {
                    int tokenBase = ((b * gh + r) * gw + c) * features;
                    for (int ch = 0; ch < channels; ch++)
                        for (int ph = 0; ph < patch; ph++)
                            for (int pw = 0; pw < patch; pw++)
                            {
                                int feature = layout == PatchLayout.ChannelMajor
                                    ? (ch * patch + ph) * patch + pw
                                    : (ph * patch + pw) * channels + ch;
                                int pixel = ((b * channels + ch) * height + r * patch + ph) * width + c * patch + pw;
                                visit(pixel, tokenBase + feature);
                            }
                }
    }
}
