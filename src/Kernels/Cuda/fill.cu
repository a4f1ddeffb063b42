// fill.cu — set every element of a buffer to one value.
//
// Computes: out[i] = value for i in [0, n), contiguous.
//   fill_f32   f32 storage
//   fill_bf16  bf16 storage; `value` is given as f32 and rounded on the device with the same RNE as
//              everywhere else, so the host need not convert.
// Shape: grid-stride, one element per thread per iteration. cuMemsetD32/D16 do the same for a bit
// pattern and are usually preferable outside kernels; these exist for poisoning outputs with NaN in tests
// and for fills that must be kernels (inside captured graphs next to other kernels, fused later).
#include "common.cuh"

extern "C" __global__ void fill_f32(float* __restrict__ out, float value, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) { out[i] = value; }
}

extern "C" __global__ void fill_bf16(bf16* __restrict__ out, float value, u64 n) {
    const bf16 v = f32_to_bf16(value);
    ACCELAES_GRID_STRIDE(i, n) { out[i] = v; }
}
