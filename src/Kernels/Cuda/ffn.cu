// ffn.cu — the feed-forward path's fused elementwise ops (issue 16): each replaces two passes by one.
//
//   silu_mul_bf16     out[r, j] = SiLU(x[r, j]) · x[r, F + j],  x [rows, 2F], out [rows, F]: SwiGLU's gating after one
//                     GEMM of the concatenated gate and up weights (Lumina's feed-forward). Each input element is read
//                     once and each output written once (6 bytes per output instead of the 12 of activate + multiply).
//   add_scaled_bf16   out[i] = a[i] + b[i] · s[i % inner]  (a, b same shape, s a trailing part of it): Lumina's
//                     self-attention plus the per-head-gated cross-attention, fp32 fma, one rounding on store.
//
// Storage bf16, arithmetic fp32, one rounding on store. `vec` (the host checks it): the row widths (F, inner) are
// multiples of 8 and every pointer is 16-byte aligned, so each thread moves 8 elements as one 16-byte access;
// otherwise one element per iteration. Index arithmetic is 32-bit when the largest index touched fits in 31 bits (the
// divisions by the row width are then 32-bit), 64-bit otherwise (activations of a 1024² DiT reach 2³¹ in places).
// Shape: grid-stride, bandwidth-bound. `out` must not alias the inputs of silu_mul (different layouts); add_scaled's
// out may alias a or b (each element is read before it is written, by the same thread).
#include "common.cuh"

template <typename I>
__device__ __forceinline__ void silu_mul_scalar(const bf16* __restrict__ x, bf16* __restrict__ out, I n, I f) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
        const I r = i / f, c = i - r * f;
        const I g = 2 * r * f + c;
        out[i] = f32_to_bf16(silu(bf16_to_f32(x[g])) * bf16_to_f32(x[g + f]));
    }
}

// Vectors of 8: `vectors` = n / 8 outputs groups, `per_row` = F / 8.
template <typename I>
__device__ __forceinline__ void silu_mul_vec8(const bf16* __restrict__ x, bf16* __restrict__ out, I vectors, I per_row) {
    for (I v = (I)blockIdx.x * blockDim.x + threadIdx.x; v < vectors; v += (I)blockDim.x * gridDim.x) {
        const I r = v / per_row, c = v - r * per_row;
        const I g = (2 * r * per_row + c) * 8;
        float gate[8], up[8], y[8];
        load_bf16x8(x + g, gate);
        load_bf16x8(x + g + per_row * 8, up);
#pragma unroll
        for (int k = 0; k < 8; ++k) y[k] = silu(gate[k]) * up[k];
        store_bf16x8(out + (u64)v * 8, y);
    }
}

// Grid-stride over the rows·F outputs. 32-bit indices when 2·rows·F (the input's size) < 2³¹.
extern "C" __global__ void silu_mul_bf16(const bf16* __restrict__ x, bf16* __restrict__ out, u64 rows, u64 f, int vec) {
    const u64 n = rows * f;
    const bool narrow = 2 * n < (1ull << 31);
    if (vec) {
        if (narrow) silu_mul_vec8<u32>(x, out, (u32)(n / 8), (u32)(f / 8));
        else silu_mul_vec8<u64>(x, out, n / 8, f / 8);
    } else {
        if (narrow) silu_mul_scalar<u32>(x, out, (u32)n, (u32)f);
        else silu_mul_scalar<u64>(x, out, n, f);
    }
}

template <typename I>
__device__ __forceinline__ void add_scaled_scalar(const bf16* a, const bf16* b, const bf16* __restrict__ s, bf16* out, I n, I inner) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x)
        out[i] = f32_to_bf16(fmaf(bf16_to_f32(b[i]), bf16_to_f32(s[i % inner]), bf16_to_f32(a[i])));
}

template <typename I>
__device__ __forceinline__ void add_scaled_vec8(const bf16* a, const bf16* b, const bf16* __restrict__ s, bf16* out, I vectors, I inner_vectors) {
    for (I v = (I)blockIdx.x * blockDim.x + threadIdx.x; v < vectors; v += (I)blockDim.x * gridDim.x) {
        float av[8], bv[8], sv[8], y[8];
        load_bf16x8(a + (u64)v * 8, av);
        load_bf16x8(b + (u64)v * 8, bv);
        load_bf16x8(s + (u64)(v % inner_vectors) * 8, sv);
#pragma unroll
        for (int k = 0; k < 8; ++k) y[k] = fmaf(bv[k], sv[k], av[k]);
        store_bf16x8(out + (u64)v * 8, y);
    }
}

// n = a's element count, inner = s's. 32-bit indices when n < 2³¹.
extern "C" __global__ void add_scaled_bf16(const bf16* a, const bf16* b, const bf16* __restrict__ s, bf16* out, u64 n, u64 inner, int vec) {
    const bool narrow = n < (1ull << 31);
    if (vec) {
        if (narrow) add_scaled_vec8<u32>(a, b, s, out, (u32)(n / 8), (u32)(inner / 8));
        else add_scaled_vec8<u64>(a, b, s, out, n / 8, inner / 8);
    } else {
        if (narrow) add_scaled_scalar<u32>(a, b, s, out, (u32)n, (u32)inner);
        else add_scaled_scalar<u64>(a, b, s, out, n, inner);
    }
}
