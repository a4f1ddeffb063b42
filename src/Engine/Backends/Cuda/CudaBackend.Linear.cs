using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// y = act(x·Wᵀ + b) through cuBLASLt (mapping: <see cref="GemmMapping.ForLinear"/>): no activation → BIAS or
    /// DEFAULT epilogue straight to bf16; GeluTanh → GELU_BIAS / GELU epilogue (cuBLASLt's GELU is the tanh
    /// form); any other activation → fp32 GEMM output, then one kernel adds the bias, applies the activation
    /// and rounds once. Without cuBLASLt, or when it has no algorithm for the shape: gemm.cu with the same
    /// single rounding.
    /// </summary>
    /// <remarks>
    /// Why the fp32 output (issue 16 asked): a bf16 GEMM output followed by an in-place activation would round twice
    /// (the accumulator, then the activation of the rounded value), and the harness's bf16 rule and gemm.cu's fallback
    /// both assume one. The big user of the path was Lumina's SwiGLU gate (24 × [8192, 6144] per step, 7.25 GB of
    /// fp32 → bf16 passes): it is now one bf16 GEMM of the concatenated gate and up weights and SiluMul, where the
    /// gate's rounding by the GEMM is what diffusers' bf16 module does too. What remains on this path per step is the
    /// timestep MLPs (M = batch: kilobytes) and, per prompt, the text encoders' activations, so the pass is kept.
    /// </remarks>
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None)
        => LinearCore("Linear", x, weight, bias, activation, reference: false);

    /// <summary>
    /// Y[m×n] (bf16, at <paramref name="y"/>, row stride <paramref name="ldy"/> ≥ n elements) = act(X[m×k]·W[n×k]ᵀ + b);
    /// all operands bf16. A row stride above n writes a column slice of a wider buffer (<see cref="LinearInto(Tensor, int, Tensor, Tensor, Tensor?, Activation)"/>):
    /// cuBLASLt's D leading dimension, gemm.cu's output row stride.
    /// </summary>
    private void LinearTo(CudaTensor x, CudaTensor w, CudaTensor? bias, Activation activation, CuDevicePtr y, long ldy, int m, int n, int k, string what)
    {
        if (_gemm is not null)
        {
            bool done;
            if (activation is Activation.None or Activation.GeluTanh)
            {
                var epilogue = (activation, bias is null) switch
                {
                    (Activation.None, true) => CublasLtEpilogue.Default,
                    (Activation.None, false) => CublasLtEpilogue.Bias,
                    (_, true) => CublasLtEpilogue.Gelu,
                    _ => CublasLtEpilogue.GeluBias,
                };
                done = _gemm.TryMatmul(GemmMapping.ForLinear(m, n, k, ldy), w.Pointer, x.Pointer, y, CudaDataType.R16BF, epilogue, PointerOf(bias), what);
            }
            else
            {
                var acc = Temporary(new Shape(m, n), DType.F32);
                // The fp32 accumulator is a dense [m, n] whatever ldy is.
                done = _gemm.TryMatmul(GemmMapping.ForLinear(m, n, k), w.Pointer, x.Pointer, acc.Pointer, CudaDataType.R32F, CublasLtEpilogue.Default, default, what);
                if (done)
                {
                    ulong count = (ulong)m * (ulong)n;
                    // The activation kernel writes a dense [m, n]; into a column slice it goes through a dense temporary
                    // and one copy2d (no model writes a slice with these activations: FLUX's proj_mlp is GELU-tanh).
                    var dense = ldy == n ? y : Temporary(new Shape(m, n), DType.BF16).Pointer;
                    Elementwise("activate_f32_to_bf16", count, acc.Pointer, PointerOf(bias), dense, count, (ulong)n, (int)activation);
                    if (ldy != n)
                        Copy2d(dense, y, (ulong)m, (ulong)n, (ulong)n, (ulong)ldy, 2);
                }
            }
            if (done)
                return;
        }
        // gemm.cu: A = x [m, k] (row stride k), B = w [n, k] (row stride k), C = y [m, n].
        Gemm(x.Pointer, k, 1, w.Pointer, k, 1, y, ldy, 1, m, n, k, bias, biasPerRow: false, activation, outF32: false);
    }

    /// <summary>
    /// Linear into columns [columnOffset, columnOffset + N) of a bf16 destination: the GEMM writes there directly (D's
    /// leading dimension is the destination's row length), so a concatenation of GEMM outputs costs nothing.
    /// </summary>
    public void LinearInto(Tensor destination, int columnOffset, Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None)
    {
        var cd = Own(destination);
        if (cd.DType != DType.BF16)
            throw new ArgumentException($"LinearInto: destination {destination.Shape} is {cd.DType}; the GEMM writes bf16.");
        var (cx, cw, cb, _, n, k) = CheckLinear(x, weight, bias);
        int m = x.Shape.Rank == 0 ? 1 : x.Shape.ToArray()[..^1].Aggregate(1, (a, b) => a * b); // x's rows, also when K = 0
        ColumnSlice.Check("LinearInto", destination, columnOffset, n, m);
        using var op = Enter("LinearInto", x, weight, bias);
        if ((long)m * n == 0)
            return;
        long ldy = destination.Shape.Last;
        var slice = cd.Pointer + (ulong)columnOffset * 2;
        if (k == 0)
        {
            // K = 0: zeros, as Linear writes (the CPU reference multiplies nothing).
            var zeros = Temporary(new Shape(m, n), DType.BF16);
            CudaDriver.MemsetD8Async(zeros.Pointer, 0, zeros.ByteCount, _stream, "LinearInto");
            Copy2d(zeros.Pointer, slice, (ulong)m, (ulong)n, (ulong)n, (ulong)ldy, 2);
            return;
        }
        if (TryFp8Linear(cx, cw, cb, activation, slice, ldy, m, n, k, "LinearInto"))
            return;
        LinearTo(Bf16(cx), Bf16(cw), cb is null ? null : Bf16(cb), activation, slice, ldy, m, n, k, "LinearInto");
    }

    /// <summary>gemm.cu: C[i, j] = act(Σ_p A[i·sam + p·sak]·B[j·sbn + p·sbk] + bias) for i &lt; m, j &lt; n.</summary>
    private void Gemm(CuDevicePtr a, long sam, long sak, CuDevicePtr b, long sbn, long sbk, CuDevicePtr c, long scm, long scn,
        int m, int n, int k, CudaTensor? bias, bool biasPerRow, Activation activation, bool outF32)
    {
        long tilesM = LaunchConfig.CeilDiv(m, 64), tilesN = LaunchConfig.CeilDiv(n, 64);
        if (tilesM > 65535)
            throw new NotSupportedException($"gemm.cu: {m} rows exceed its grid limit ({65535 * 64}).");
        int biasMode = bias is null ? 0 : biasPerRow ? 2 : 1;
        Launch("gemm_bf16", new Dim3((uint)tilesN, (uint)tilesM), 256, 0,
            a, b, c, PointerOf(bias), m, n, k, sam, sak, sbn, sbk, scm, scn, biasMode, (int)activation, outF32 ? 1 : 0);
    }

    /// <summary>
    /// Linear computed by gemm.cu even when cuBLASLt is present: the selftest's on-device cross-check of
    /// cuBLASLt (same inputs, independent GEMM).
    /// </summary>
    public Tensor LinearReference(Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None)
        => LinearCore("LinearReference", x, weight, bias, activation, reference: true);

    /// <summary>
    /// Linear's checks, output and K = 0 case, then the product: <see cref="LinearInto"/> (cuBLASLt where it has an
    /// algorithm) or, for <paramref name="reference"/>, gemm.cu always.
    /// </summary>
    private Tensor LinearCore(string name, Tensor x, Tensor weight, Tensor? bias, Activation activation, bool reference)
    {
        var (cx, cw, cb, m, n, k) = CheckLinear(x, weight, bias);
        using var op = Enter(name, x, weight, bias);
        int[] dims = x.Shape.ToArray();
        dims[^1] = n;
        var y = New(new Shape(dims), DType.BF16);
        if (y.ElementCount == 0)
            return y;
        if (m == 0)
        {
            // K = 0 (Shape.Rows is 0 then): the CPU reference multiplies nothing and leaves zeros.
            CudaDriver.MemsetD8Async(y.Pointer, 0, y.ByteCount, _stream, name);
            return y;
        }
        if (reference)
            Gemm(Bf16(cx).Pointer, k, 1, Bf16(cw).Pointer, k, 1, y.Pointer, n, 1, m, n, k, cb is null ? null : Bf16(cb), false, activation, false);
        else if (!TryFp8Linear(cx, cw, cb, activation, y.Pointer, n, m, n, k, "Linear"))
            LinearTo(Bf16(cx), Bf16(cw), cb is null ? null : Bf16(cb), activation, y.Pointer, n, m, n, k, "Linear");
        return y;
    }

    /// <summary>Linear's checks, in the CPU reference's words: the operands, the rows m (0 when K = 0), N and K.</summary>
    private (CudaTensor X, CudaTensor W, CudaTensor? Bias, int M, int N, int K) CheckLinear(Tensor x, Tensor weight, Tensor? bias)
    {
        var cx = Float(x, "Linear");
        // An fp8 weight stays fp8 here: the FP8 GEMM reads its codes; Bf16(cw) dequantises it for the other paths.
        var cw = Own(weight) is { DType: DType.F8E4M3 } fp8 ? fp8 : Float(weight, "Linear");
        RequireRank(weight, 2, "Linear", "weight");
        int n = weight.Shape[0], k = weight.Shape[1];
        if (x.Shape.Last != k)
            throw new ArgumentException($"Linear: input {x.Shape} has {x.Shape.Last} features, weight {weight.Shape} expects {k}.");
        if (bias is not null && (bias.Shape.Rank != 1 || bias.Shape[0] != n))
            throw new ArgumentException($"Linear: bias {bias.Shape} does not match {n} outputs.");
        var cb = bias is null ? null : Float(bias, "Linear");
        return (cx, cw, cb, x.Shape.Rows, n, k);
    }

    internal static void RequireSameShape(Tensor a, Tensor b, string op)
    {
        if (a.Shape != b.Shape)
            throw new ArgumentException($"{op}: shapes {a.Shape} and {b.Shape} differ.");
    }

    internal static void RequireRank(Tensor t, int rank, string op, string what)
    {
        if (t.Shape.Rank != rank)
            throw new ArgumentException($"{op}: {what} must have rank {rank}, got {t.Shape}.");
    }
}
