using AccelAes.Engine.Backends.Cuda;

namespace AccelAes.Engine.Diagnostics;

/// <summary>
/// Which cuBLASLt paths a CUDA backend could take after a run: whether cuBLASLt offered an FP8 algorithm for the fp8
/// Linears (per-row alpha vector + B scale pointer), and whether it accepted the gated-residual epilogue (alpha vector,
/// β = 1). Only a real cuBLASLt answers these (the emulator's fake implements the documented semantics), so `selftest`
/// prints these lines and writes them into its JSON: the facts a first run on a GPU is for.
/// </summary>
/// <param name="Fp8Enabled">Whether fp8 Linears try the FP8 GEMM at all (<see cref="CudaBackend.UsesFp8Gemm"/>).</param>
/// <param name="Fp8NotEnabledReason">Why not, when not.</param>
public sealed record CublasLtPathReport(bool Fp8Enabled, string? Fp8NotEnabledReason, int Fp8Shapes, int Fp8FallbackShapes, long Fp8Matmuls,
    int GatedShapes, int GatedFallbackShapes, int GatedFallbackCalls)
{
    public static CublasLtPathReport Of(CudaBackend cuda)
    {
        var (fp8Shapes, fp8Fallbacks) = cuda.Fp8GemmPlans;
        var (gatedShapes, gatedFallbacks) = cuda.GatedResidualPlans;
        string? reason = cuda.UsesFp8Gemm ? null
            : cuda.GemmEngine.StartsWith("gemm.cu", StringComparison.Ordinal) ? $"no cuBLASLt (GEMM: {cuda.GemmEngine})"
            : cuda.Options.Fp8Gemm == Fp8GemmMode.Off ? "--fp8-gemm off"
            : $"compute capability {cuda.Device.ComputeCapability} is below 8.9 (--fp8-gemm auto)";
        return new CublasLtPathReport(cuda.UsesFp8Gemm, reason, fp8Shapes, fp8Fallbacks, cuda.Fp8GemmCount, gatedShapes, gatedFallbacks,
            cuda.GatedResidualFallbacks);
    }

    /// <summary>Whether cuBLASLt offered an FP8 algorithm for every fp8 Linear shape it was asked (null: none was asked).</summary>
    public bool? Fp8Offered => Fp8Shapes == 0 ? null : Fp8FallbackShapes == 0;

    /// <summary>Whether cuBLASLt accepted the gated-residual epilogue for every shape (null: none was planned).</summary>
    public bool? GatedEpilogueAccepted => GatedShapes == 0 ? null : GatedFallbackShapes == 0;

    /// <summary>"FP8 GEMM: …": cuBLASLt offered an FP8 algorithm, fell back (the warnings name the shapes), or was not tried.</summary>
    public string Fp8Line => (Fp8Enabled, Fp8Shapes, Fp8FallbackShapes) switch
    {
        (false, _, _) => $"FP8 GEMM: not tried ({Fp8NotEnabledReason}); fp8 Linears ran dequantised",
        (true, 0, _) => "FP8 GEMM: enabled, but no fp8 Linear ran",
        (true, _, 0) => $"FP8 GEMM: cuBLASLt offered an FP8 algorithm for all {Fp8Shapes} shapes ({Fp8Matmuls} FP8 matmuls ran)",
        _ => $"FP8 GEMM: cuBLASLt offered no usable FP8 algorithm for {Fp8FallbackShapes} of {Fp8Shapes} shapes (they fell back to the " +
             $"dequantise path; the FP8 GEMM fallback warnings name them); {Fp8Matmuls} FP8 matmuls ran",
    };

    /// <summary>"gated-residual epilogue: …": accepted by cuBLASLt, or fell back to GEMM + add_gated_bf16.</summary>
    public string GatedLine => (GatedShapes, GatedFallbackShapes) switch
    {
        (0, _) => "gated-residual epilogue (cuBLASLt alpha vector): not planned (no cuBLASLt, or no gated Linear ran)",
        (_, 0) => $"gated-residual epilogue (cuBLASLt alpha vector): accepted for all {GatedShapes} shapes",
        _ => $"gated-residual epilogue (cuBLASLt alpha vector): not accepted for {GatedFallbackShapes} of {GatedShapes} shapes; " +
             $"{GatedFallbackCalls} calls ran as GEMM + add_gated_bf16",
    };
}
