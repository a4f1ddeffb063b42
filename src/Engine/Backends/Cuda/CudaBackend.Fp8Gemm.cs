using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    private const int QuantiseThreads = 256, MaxQuantiseBlocks = 1024;

    /// <summary>
    /// Whether a Linear with an fp8 weight tries cuBLASLt's FP8 GEMM (<see cref="CudaBackendOptions.Fp8Gemm"/>): Auto on
    /// compute capability 8.9 and later (sm_89 Ada, sm_90 Hopper, sm_100 / sm_120 Blackwell — the cards with FP8 tensor
    /// cores), On everywhere, never without cuBLASLt. Otherwise the weight is dequantised to bf16 for the bf16 GEMM.
    /// </summary>
    public bool UsesFp8Gemm => _gemm is not null && Options.Fp8Gemm switch
    {
        Fp8GemmMode.Off => false,
        Fp8GemmMode.On => true,
        _ => Device.ComputeCapability.Architecture >= 89,
    };

    /// <summary>FP8 GEMMs cuBLASLt ran so far (tests and diagnostics: which path the fp8 Linears took).</summary>
    public long Fp8GemmCount => _gemm?.Fp8Matmuls ?? 0;

    /// <summary>
    /// y = act(x·Wᵀ + b) with W an fp8 weight, by the FP8 GEMM: x (bf16) quantised per tensor to e4m3 on the device
    /// (fp8.cu: amax, then s_x = amax / 448 and the codes), then D = w_scale[n] · s_x · Σ_k codeW·codeX (+ bias, GELU)
    /// in one cuBLASLt call (<see cref="CublasLtGemm.TryFp8Linear"/>). The activations' rounding to e4m3 (3 mantissa
    /// bits) moves results beyond the bf16 rule; the README states the tolerance. False where the path does not apply
    /// (not enabled, an activation cuBLASLt has no epilogue for) or cuBLASLt cannot run the shape: the caller dequantises.
    /// </summary>
    private bool TryFp8Linear(CudaTensor x, CudaTensor w, CudaTensor? bias, Activation activation, CuDevicePtr y, long ldy, int m, int n, int k, string what)
    {
        if (w.DType != DType.F8E4M3 || !UsesFp8Gemm || activation is not (Activation.None or Activation.GeluTanh))
            return false;
        var epilogue = (activation, bias is null) switch
        {
            (Activation.None, true) => CublasLtEpilogue.Default,
            (Activation.None, false) => CublasLtEpilogue.Bias,
            (_, true) => CublasLtEpilogue.Gelu,
            _ => CublasLtEpilogue.GeluBias,
        };
        var (codes, scale) = QuantiseActivations(Bf16(x), m, k);
        var weight = w.Pointer;
        return _gemm!.TryFp8Linear(GemmMapping.ForLinear(m, n, k, ldy), weight, weight + Fp8WeightLayout.ScalesOffset(w.Shape), codes, scale, y,
            epilogue, PointerOf(bias is null ? null : Bf16(bias)), what);
    }

    /// <summary>
    /// x [m, k] (bf16) as e4m3 codes with one fp32 scale, in a temporary laid out as an fp8 weight [m, k] whose first
    /// scale slot holds s_x (the device scalar cuBLASLt's B scale pointer reads).
    /// </summary>
    private (CuDevicePtr Codes, CuDevicePtr Scale) QuantiseActivations(CudaTensor x, int m, int k)
    {
        var shape = new Shape(m, k);
        ulong count = (ulong)m * (ulong)k;
        uint blocks = (uint)Math.Clamp((long)((count + QuantiseThreads * 8 - 1) / (QuantiseThreads * 8)), 1, MaxQuantiseBlocks);
        var partial = Temporary(new Shape((int)blocks), DType.F32);
        var quantised = Temporary(shape, DType.F8E4M3);
        var scale = quantised.Pointer + Fp8WeightLayout.ScalesOffset(shape);
        Launch("amax_partial_bf16", new Dim3(blocks), QuantiseThreads, 0, x.Pointer, partial.Pointer, count);
        Launch("quantize_e4m3_per_tensor", new Dim3(blocks), QuantiseThreads, 0, x.Pointer, partial.Pointer, blocks, quantised.Pointer, scale, count);
        return (quantised.Pointer, scale);
    }
}
