using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

/// <summary>The counting rule of SwiGLU's gate-and-up projection (CudaBackend.SwiGlu.cs, gemm_swiglu.cu).</summary>
public sealed partial class CountingBackend
{
    /// <summary>
    /// The path <see cref="LinearSwiGlu"/> counts (<c>--swiglu-gemm</c>). <see cref="SwiGluGemm.Auto"/> is counted as the
    /// fused kernel: the CUDA backend decides per shape on the card, which a count cannot (bench says so in one line).
    /// </summary>
    public SwiGluGemm SwiGluGemm { get; init; } = SwiGluGemm.Auto;

    /// <summary>
    /// Fused (gemm_swiglu_bf16): one GEMM of N = 2F — x and the [2F, K] weight read once, 2·M·2F·K FLOPs — whose output is
    /// [M, F] (2 bytes per element), no memory-bound pass. Split, and the fused path's refusals (K not a multiple of 8): the
    /// GEMM of N = 2F writing [M, 2F], then silu_mul, counted as <see cref="Linear"/> and <see cref="SiluMul"/> count them
    /// (under this op's name, as the CUDA backend runs them inside it).
    /// </summary>
    public Tensor LinearSwiGlu(Tensor x, Tensor gateUpWeight)
    {
        const string op = "LinearSwiGlu";
        CpuBackend.RequireSwiGluWeight(gateUpWeight, op);
        var cx = C(x, op);
        var cw = C(gateUpWeight, op);
        long n = gateUpWeight.Shape[0], k = gateUpWeight.Shape[1], f = n / 2;
        if (x.Shape.Rank == 0 || x.Shape.Last != k)
            throw new ArgumentException($"{op}: input {x.Shape} does not fit weight {gateUpWeight.Shape}.");
        long m = x.Shape.Rows;
        int[] dims = x.Shape.ToArray();
        dims[^1] = (int)f;
        var y = New(new Shape(dims), DType.BF16, op);
        if (y.ElementCount == 0) return y;
        if (m == 0)
        {
            // K = 0: Linear's zeros (a memset of the [.., 2F] temporary), then silu_mul of them.
            DeviceCopy(op, "memset", 0, 2 * y.ElementCount * 2);
            Kernel(op, "silu_mul_bf16", y.ElementCount, 2 * 2 * y.ElementCount, 2 * y.ElementCount);
            return y;
        }
        if (SwiGluGemm == SwiGluGemm.Split || k % 8 != 0)
        {
            CountGemm(op, cx, cw, null, Activation.None, m, n, k, slice: false);
            Kernel(op, "silu_mul_bf16", m * f, 2 * m * n, 2 * m * f);
            return y;
        }
        ToBf16(op, cx);
        ToBf16(op, cw);
        Ledger.Add(op, "gemm_swiglu_bf16", TrafficKind.Gemm, 2 * m * k + 2 * n * k, 2 * m * f, 2.0 * m * n * k, 1);
        return y;
    }
}
