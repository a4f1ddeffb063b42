// convert.cu — dtype conversions between f32, bf16 and f16 storage.
//
// Computes: out[i] = convert(in[i]) for i in [0, n), contiguous 1-D buffers (any tensor, flattened).
//   convert_f32_to_bf16  f32  → bf16, round to nearest even, NaN stays NaN (loading fp32 weights, uploads)
//   convert_bf16_to_f32  bf16 → f32, exact                     (reading results back, fp32 reference checks)
//   convert_f16_to_bf16  f16  → bf16 via f32 (exact), one rounding (fp16 checkpoints)
// Shape: one element per thread per iteration of a grid-stride loop. These run once per weight or per
// read-back, are purely bandwidth-bound and already coalesced; vectorised 16-byte loads would only pay
// on buffers large enough to measure, which is a later, measured change (the results would not move).
// Bit-exact against AccelAes.Kernels.BFloat16Bits on the host.
#include "common.cuh"

extern "C" __global__ void convert_f32_to_bf16(const float* __restrict__ in, bf16* __restrict__ out, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) { out[i] = f32_to_bf16(in[i]); }
}

extern "C" __global__ void convert_bf16_to_f32(const bf16* __restrict__ in, float* __restrict__ out, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) { out[i] = bf16_to_f32(in[i]); }
}

extern "C" __global__ void convert_f16_to_bf16(const f16* __restrict__ in, bf16* __restrict__ out, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) { out[i] = f32_to_bf16(f16_to_f32(in[i])); }
}
