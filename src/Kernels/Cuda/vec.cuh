// vec.cuh — 16-byte vector access and 32-bit index helpers for the elementwise and layout kernels (issue 16).
//
// Why: those kernels moved 2 bytes per access with 64-bit index arithmetic (a 64-bit division is a ~70-instruction
// software routine), so a bf16 add issued several instructions per byte moved. Here a thread moves 8 elements per
// step (one 16-byte access for bf16 and f16, two for f32) and indexes with 32 bits when the element count allows.
// The arithmetic per element is unchanged (the same expressions, element by element), so results are bit-identical
// to the scalar loops they replace.
//
// Use: a kernel tests, once per launch (uniform across the grid), that its pointers are 16-byte aligned
// (aligned16) and, where a broadcast or row width is involved, that the width is a multiple of 8; then it runs
// ACCELAES_VEC_LOOP over n / 8 groups and ACCELAES_TAIL_LOOP over the last n % 8 elements, else the scalar loop.
// Index type: `narrow(n)` (n < 2³¹) selects u32, so i + grid stride cannot wrap; otherwise u64.
#pragma once
#include "common.cuh"

__device__ __forceinline__ bool aligned16(const void* p) { return ((u64)p & 15ull) == 0; }

__device__ __forceinline__ bool narrow(u64 n) { return n < (1ull << 31); }

// Grid-stride loop of index type I over [first, n), one element (or one group) per thread per iteration.
#define ACCELAES_GRID_STRIDE_I(I, i, first, n)                                                      \
    for (I i = (I)(first) + (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < (I)(n);             \
         i += (I)blockDim.x * (I)gridDim.x)

// Groups of 8 elements: g in [0, n / 8).
#define ACCELAES_VEC_LOOP(I, g, n) ACCELAES_GRID_STRIDE_I(I, g, 0, (n) / 8)

// The elements after the last whole group: i in [n − n % 8, n).
#define ACCELAES_TAIL_LOOP(I, i, n) ACCELAES_GRID_STRIDE_I(I, i, (n) / 8 * 8, n)

// Eight consecutive elements widened to f32 (p 16-byte aligned). f32: two 16-byte loads.
__device__ __forceinline__ void load8(const bf16* p, float (&f)[8]) { load_bf16x8(p, f); }

__device__ __forceinline__ void load8(const float* p, float (&f)[8]) {
    const uint4 a = reinterpret_cast<const uint4*>(p)[0];
    const uint4 b = reinterpret_cast<const uint4*>(p)[1];
    const u32 w[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
    for (int k = 0; k < 8; ++k) f[k] = __uint_as_float(w[k]);
}

// Eight consecutive elements stored with one rounding each (bf16: round to nearest even, as f32_to_bf16).
__device__ __forceinline__ void store8(bf16* p, const float (&f)[8]) { store_bf16x8(p, f); }

__device__ __forceinline__ void store8(float* p, const float (&f)[8]) {
    uint4* q = reinterpret_cast<uint4*>(p);
    q[0] = make_uint4(__float_as_uint(f[0]), __float_as_uint(f[1]), __float_as_uint(f[2]), __float_as_uint(f[3]));
    q[1] = make_uint4(__float_as_uint(f[4]), __float_as_uint(f[5]), __float_as_uint(f[6]), __float_as_uint(f[7]));
}

// Raw 16-byte moves of 2-byte elements (layout kernels and f16 sources: bits moved or converted per element).
__device__ __forceinline__ void load8_bits(const u16* p, u16 (&h)[8]) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const u32 w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        h[2 * k] = (u16)(w[k] & 0xffffu);
        h[2 * k + 1] = (u16)(w[k] >> 16);
    }
}

__device__ __forceinline__ void store8_bits(u16* p, const u16 (&h)[8]) {
    *reinterpret_cast<uint4*>(p) = make_uint4((u32)h[0] | ((u32)h[1] << 16), (u32)h[2] | ((u32)h[3] << 16),
                                              (u32)h[4] | ((u32)h[5] << 16), (u32)h[6] | ((u32)h[7] << 16));
}
