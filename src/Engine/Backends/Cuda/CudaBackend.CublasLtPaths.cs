namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// FP8 Linear shapes cuBLASLt was asked to plan, and those it offered no usable FP8 algorithm for (they run dequantised,
    /// each reported once as an "FP8 GEMM fallback" warning). (0, 0) without cuBLASLt or before an FP8 GEMM was tried.
    /// </summary>
    public (int Planned, int WithoutAlgorithm) Fp8GemmPlans => _gemm is null ? (0, 0) : (_gemm.Fp8ShapesPlanned, _gemm.Fp8ShapesWithoutAlgorithm);

    /// <summary>
    /// Gated-residual shapes planned for cuBLASLt's alpha-vector epilogue, and those it did not accept (they run as GEMM +
    /// add_gated_bf16: <see cref="GatedResidualFallbacks"/> counts those calls). (0, 0) without cuBLASLt.
    /// </summary>
    public (int Planned, int WithoutAlgorithm) GatedResidualPlans =>
        _gemm is null ? (0, 0) : (_gemm.GatedShapesPlanned, _gemm.GatedShapesWithoutAlgorithm);
}
