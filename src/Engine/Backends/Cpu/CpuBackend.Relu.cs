using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>max(x, 0) elementwise; a NaN stays NaN (only values that compare below 0 are replaced).</summary>
    public Tensor Relu(Tensor x)
    {
        float[] src = C(x).Data;
        var y = New(x.Shape);
        float[] dst = y.Data;
        CpuParallel.ForChunks(src.Length, 1, (start, end) =>
        {
            for (int i = start; i < end; i++) dst[i] = src[i] < 0f ? 0f : src[i];
        });
        return y;
    }
}
