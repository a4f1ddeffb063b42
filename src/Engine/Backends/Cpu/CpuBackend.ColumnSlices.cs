using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Zeros: the reference has no uninitialised memory, and nothing may depend on what Allocate leaves.</summary>
    public Tensor Allocate(Shape shape) => New(shape);

    /// <summary>The reference: Linear's output, copied into the column slice (the values are Linear's by construction).</summary>
    public void LinearInto(Tensor destination, int columnOffset, Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None)
    {
        var d = C(destination);
        var y = C(Linear(x, weight, bias, activation));
        ColumnSlice.Check("LinearInto", destination, columnOffset, y.Shape.Last, y.Shape.Rows);
        CopyIntoColumns(y, d, columnOffset);
    }

    /// <summary>The reference: Attention's output, [B, Sq, Hq·Dv], copied into the column slice.</summary>
    public void AttentionInto(Tensor destination, int columnOffset, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        var d = C(destination);
        RequireRank(destination, 3, "AttentionInto", "destination");
        var heads = Attention(q, k, v, scale, keyMask);
        var o = C(heads.Reshape(heads.Shape[0], heads.Shape[1], heads.Shape[2] * heads.Shape[3]));
        ColumnSlice.Check("AttentionInto", destination, columnOffset, o.Shape.Last, o.Shape.Rows);
        CopyIntoColumns(o, d, columnOffset);
    }

    /// <summary>Row r of <paramref name="source"/> (its last dimension wide) → destination row r from column <paramref name="columnOffset"/>.</summary>
    private static void CopyIntoColumns(CpuTensor source, CpuTensor destination, int columnOffset)
    {
        int width = source.Shape.Last, stride = destination.Shape.Last;
        long rows = width == 0 ? 0 : source.ElementCount / width;
        for (long r = 0; r < rows; r++)
            Array.Copy(source.Data, r * width, destination.Data, r * stride + columnOffset, width);
    }
}
