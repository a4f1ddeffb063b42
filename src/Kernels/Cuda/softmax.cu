// softmax.cu — softmax over the last dimension, bf16 in/out, fp32 arithmetic.
//
// Computes, per row of d elements: m = max x; y = exp(x − m) / Σ exp(x − m), as the CPU reference does
// (subtract, exp, sum, divide). A row whose maximum is −∞ (every entry masked) becomes zeros, not NaN.
// Shape: one block per row (block-stride loop over rows), three passes over the row (max, sum, write);
// the row is re-read from L1/L2 each pass. expf is the accurate library exp (no fast math): this op is
// checked elementwise against the fp32 reference, and attention probabilities feed AesMask's statistics.
#include "common.cuh"

extern "C" __global__ void softmax_bf16(const bf16* __restrict__ x, bf16* __restrict__ y, u64 rows, int d) {
    __shared__ float scratch[32];
    for (u64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const bf16* xr = x + r * d;
        bf16* yr = y + r * d;
        float m = -ACCELAES_INF;
        for (int c = threadIdx.x; c < d; c += blockDim.x) m = fmaxf(m, bf16_to_f32(xr[c]));
        m = block_reduce_max(m, scratch);
        if (m == -ACCELAES_INF) {  // uniform across the block
            for (int c = threadIdx.x; c < d; c += blockDim.x) yr[c].bits = 0;
            continue;
        }
        float sum = 0.0f;
        for (int c = threadIdx.x; c < d; c += blockDim.x) sum += expf(bf16_to_f32(xr[c]) - m);
        sum = block_reduce_sum(sum, scratch);
        for (int c = threadIdx.x; c < d; c += blockDim.x) yr[c] = f32_to_bf16(expf(bf16_to_f32(xr[c]) - m) / sum);
    }
}
