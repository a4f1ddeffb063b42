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

// Eight consecutive features f of one head (8 | d: a vector never straddles two heads), in place: LayerNormed with the row's
// mean / rstd and the weight w / bias (null: none) at these columns when w is given, then RoPE at position s on the pairs
// first_pair … first_pair + 3 below `pairs` when the tables are given. qkv.cu applies it to the rows it writes, attention.cu to
// the raw q tile it has loaded: the same code, so the same bits.
__device__ __forceinline__ void layernorm_rope_vector(float (&f)[8], const bf16* w, const bf16* bias, float mean, float rstd,
                                                      const float* cos_t, const float* sin_t, int pairs, int s, int first_pair) {
    if (w != nullptr) {
        float wf[8], bf[8];
        load_bf16x8(w, wf);
        if (bias != nullptr) load_bf16x8(bias, bf);
#pragma unroll
        for (int e = 0; e < 8; ++e) f[e] = layernorm_feature(f[e], mean, rstd, wf[e], bias != nullptr, bias != nullptr ? bf[e] : 0.0f);
    }
    if (cos_t != nullptr) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int pair = first_pair + i;
            if (pair < pairs) rope_feature_pair(f[2 * i], f[2 * i + 1], cos_t[s * pairs + pair], sin_t[s * pairs + pair]);
        }
    }
}
