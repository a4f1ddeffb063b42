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

// What normalises and rotates eight consecutive features of one head (8 | d: a vector never straddles two heads): the
// weight and bias at those columns, the row's mean and rstd, cos / sin of its position for the pairs first_pair … + 3.
struct LayerNormRopeParams {
    uint4 w, b;  // 8 bf16 each, as loaded (widened to fp32 exactly when applied: half the registers while they wait)
    float cs[4], sn[4];
    float mean, rstd;
    bool norm, has_bias, rotate[4];
};

// Loads them (w null: no norm; cos_t null: no rotation; pairs past `pairs` are not rotated). Separate from the arithmetic so
// that attention.cu can issue these loads before its Q tile has landed.
__device__ __forceinline__ LayerNormRopeParams layernorm_rope_params(const bf16* w, const bf16* bias, float mean, float rstd,
                                                                    const float* cos_t, const float* sin_t, int pairs, int s, int first_pair) {
    LayerNormRopeParams p;
    p.w = p.b = make_uint4(0u, 0u, 0u, 0u);
    p.norm = w != nullptr;
    p.has_bias = bias != nullptr;
    p.mean = mean;
    p.rstd = rstd;
    if (p.norm) p.w = *reinterpret_cast<const uint4*>(w);
    if (p.has_bias) p.b = *reinterpret_cast<const uint4*>(bias);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int pair = first_pair + i;
        p.rotate[i] = cos_t != nullptr && pair < pairs;
        p.cs[i] = p.rotate[i] ? cos_t[s * pairs + pair] : 0.0f;
        p.sn[i] = p.rotate[i] ? sin_t[s * pairs + pair] : 0.0f;
    }
    return p;
}

// The eight features f, in place: LayerNormed (layernorm_feature) when the params carry a weight, then each pair rotated
// (rope_feature_pair). qkv.cu applies it to the rows it writes, attention.cu to the raw q tile it has loaded: the same
// code, so the same bits.
__device__ __forceinline__ void layernorm_rope_apply(float (&f)[8], const LayerNormRopeParams& p) {
    if (p.norm) {
        const u32 w[4] = {p.w.x, p.w.y, p.w.z, p.w.w}, b[4] = {p.b.x, p.b.y, p.b.z, p.b.w};
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            // bf16 → fp32 as load_bf16x8 widens (exact): the low half of each word is the even feature.
            const float we = __uint_as_float((e & 1) ? (w[e >> 1] & 0xffff0000u) : (w[e >> 1] << 16));
            const float be = __uint_as_float((e & 1) ? (b[e >> 1] & 0xffff0000u) : (b[e >> 1] << 16));
            f[e] = layernorm_feature(f[e], p.mean, p.rstd, we, p.has_bias, p.has_bias ? be : 0.0f);
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
        if (p.rotate[i]) rope_feature_pair(f[2 * i], f[2 * i + 1], p.cs[i], p.sn[i]);
}
