// layernorm_rope.cuh — the arithmetic of Lumina's q/k LayerNorm across heads and RoPE, shared by qkv.cu (which writes q and
// k) and attention.cu (which applies it to q as the tile lands in shared memory, issue 16 Fusion 15), so that both round
// the same fp32 expressions in the same order: the attention's q tile is bit for bit the q qkv.cu would have written.
#pragma once
#include "common.cuh"

// mean and rstd of one row of `width` bf16 (16-byte aligned, width % 8 == 0), as layernorm_bf16 computes them: the mean,
// then the biased variance of the deviations (two passes), each a block reduction over 8-wide vectors strided by the block.
// Every thread of the block calls it (block reductions).
__device__ __forceinline__ void layernorm_row_statistics(const bf16* x, int width, float eps, float* scratch, float& mean, float& rstd) {
    float acc = 0.0f;
    for (int c = threadIdx.x * 8; c < width; c += blockDim.x * 8) {
        float f[8];
        load_bf16x8(x + c, f);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc += f[e];
    }
    mean = block_reduce_sum(acc, scratch) / width;
    acc = 0.0f;
    for (int c = threadIdx.x * 8; c < width; c += blockDim.x * 8) {
        float f[8];
        load_bf16x8(x + c, f);
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            const float t = f[e] - mean;
            acc += t * t;
        }
    }
    rstd = 1.0f / sqrtf(block_reduce_sum(acc, scratch) / width + eps);
}

// One normalised feature: ((x − mean)·rstd)·w (+ b), rounded in fp32 step by step in this order.
__device__ __forceinline__ float layernorm_feature(float x, float mean, float rstd, float w, bool has_bias, float b) {
    float t = (x - mean) * rstd;
    t *= w;
    if (has_bias) t += b;
    return t;
}

// RoPE of one adjacent pair (a, b) = (x[2i], x[2i+1]) with cos / sin of its position and pair (rotary.cu's pairing 0).
__device__ __forceinline__ void rope_feature_pair(float& a, float& b, float cs, float sn) {
    const float a0 = a, b0 = b;
    a = a0 * cs - b0 * sn;
    b = b0 * cs + a0 * sn;
}
