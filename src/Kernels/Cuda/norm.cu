// norm.cu — LayerNorm and RMSNorm over the last dimension, GroupNorm over (channels of a group × spatial).
//
// Computes (bf16 in/out, fp32 statistics, the CPU reference's order of operations):
//   layernorm_bf16  y = (x − mean)·(1/√(var + eps))·w + b, var biased, two passes (mean first, then the
//                   squared deviations: no E[x²] − E[x]² cancellation); w and b optional (null)
//   rmsnorm_bf16    y = x·(1/√(mean(x²) + eps))·w, w optional
//   layernorm_modulate_bf16  adaLN's LayerNorm (no affine) and modulation in one pass, x [B, S, D]:
//                   y = ((x − mean)·(1/√(var + eps)))·(1 + scale[b, c]) + shift[b, c], b = row / S; scale and shift
//                   optional. The normalised row is never stored (issue 16: half the traffic of the two kernels),
//                   and it is not rounded to bf16 in between, so the result is one rounding closer to fp32 than
//                   LayerNorm then Modulate.
//   rmsnorm_modulate_bf16  the same after an RMSNorm (Lumina's adaLN): y = (x·(1/√(mean(x²) + eps))·w)·(1 + scale[b, c])
//                   + shift[b, c], w, scale and shift optional.
//   groupnorm_bf16  x [B, C, spatial...]: per (b, group) of C/G contiguous channel planes, mean and biased
//                   variance over the whole group, then y = (x − mean)·(rstd·w[c]) + b[c]
// Shape: one block per row (LayerNorm/RMSNorm: D up to 4096+ is a few elements per thread; rows are many,
// a block-stride loop covers any row count) or per (b, group) (GroupNorm: groups are large, 512 threads).
// The row is re-read from global memory for each pass (it is a few KiB and sits in L1/L2); when D is a
// multiple of 8 each access is a 16-byte vector of 8 bf16. Keeping the row in registers (warp per row for
// D ≤ 1024) is a measured follow-up; results would not change.
#include "common.cuh"

template <bool VEC>
__device__ __forceinline__ float row_sum(const bf16* x, int d, float shift, bool square) {
    float acc = 0.0f;
    if (VEC) {
        for (int c = threadIdx.x * 8; c < d; c += blockDim.x * 8) {
            float f[8];
            load_bf16x8(x + c, f);
#pragma unroll
            for (int e = 0; e < 8; ++e) {
                const float t = f[e] - shift;
                acc += square ? t * t : t;
            }
        }
    } else {
        for (int c = threadIdx.x; c < d; c += blockDim.x) {
            const float t = bf16_to_f32(x[c]) - shift;
            acc += square ? t * t : t;
        }
    }
    return acc;
}

// y[c] = ((x[c] − shift)·mul)·w[c] + b[c], w and b optional.
template <bool VEC>
__device__ __forceinline__ void row_write(const bf16* x, bf16* y, int d, float shift, float mul, const bf16* w, const bf16* b) {
    if (VEC) {
        for (int c = threadIdx.x * 8; c < d; c += blockDim.x * 8) {
            float f[8], wf[8], bfv[8];
            load_bf16x8(x + c, f);
            if (w != nullptr) load_bf16x8(w + c, wf);
            if (b != nullptr) load_bf16x8(b + c, bfv);
#pragma unroll
            for (int e = 0; e < 8; ++e) {
                float t = (f[e] - shift) * mul;
                if (w != nullptr) t *= wf[e];
                if (b != nullptr) t += bfv[e];
                f[e] = t;
            }
            store_bf16x8(y + c, f);
        }
    } else {
        for (int c = threadIdx.x; c < d; c += blockDim.x) {
            float t = (bf16_to_f32(x[c]) - shift) * mul;
            if (w != nullptr) t *= bf16_to_f32(w[c]);
            if (b != nullptr) t += bf16_to_f32(b[c]);
            y[c] = f32_to_bf16(t);
        }
    }
}

template <bool VEC>
__device__ __forceinline__ void layernorm_rows(const bf16* x, const bf16* w, const bf16* b, bf16* y, u64 rows, int d, float eps) {
    __shared__ float scratch[32];
    for (u64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const bf16* xr = x + r * d;
        const float mean = block_reduce_sum(row_sum<VEC>(xr, d, 0.0f, false), scratch) / d;
        const float var = block_reduce_sum(row_sum<VEC>(xr, d, mean, true), scratch) / d;
        row_write<VEC>(xr, y + r * d, d, mean, 1.0f / sqrtf(var + eps), w, b);
    }
}

// y[c] = ((x[c] − mean)·rstd)·w[c]·(1 + scale[c]) + shift[c], w, scale and shift optional (scale and shift: one
// batch item's [D] vectors).
template <bool VEC>
__device__ __forceinline__ void row_write_modulated(const bf16* x, bf16* y, int d, float mean, float rstd, const bf16* w,
                                                    const bf16* scale, const bf16* shift) {
    if (VEC) {
        for (int c = threadIdx.x * 8; c < d; c += blockDim.x * 8) {
            float f[8], wf[8], sc[8], sh[8];
            load_bf16x8(x + c, f);
            if (w != nullptr) load_bf16x8(w + c, wf);
            if (scale != nullptr) load_bf16x8(scale + c, sc);
            if (shift != nullptr) load_bf16x8(shift + c, sh);
#pragma unroll
            for (int e = 0; e < 8; ++e) {
                float t = (f[e] - mean) * rstd;
                if (w != nullptr) t *= wf[e];
                if (scale != nullptr) t *= 1.0f + sc[e];
                if (shift != nullptr) t += sh[e];
                f[e] = t;
            }
            store_bf16x8(y + c, f);
        }
    } else {
        for (int c = threadIdx.x; c < d; c += blockDim.x) {
            float t = (bf16_to_f32(x[c]) - mean) * rstd;
            if (w != nullptr) t *= bf16_to_f32(w[c]);
            if (scale != nullptr) t *= 1.0f + bf16_to_f32(scale[c]);
            if (shift != nullptr) t += bf16_to_f32(shift[c]);
            y[c] = f32_to_bf16(t);
        }
    }
}

template <bool VEC>
__device__ __forceinline__ void layernorm_modulate_rows(const bf16* x, const bf16* scale, const bf16* shift, bf16* y, u64 rows,
                                                        u64 seq, int d, float eps) {
    __shared__ float scratch[32];
    for (u64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const bf16* xr = x + r * d;
        const u64 b = r / seq;
        const float mean = block_reduce_sum(row_sum<VEC>(xr, d, 0.0f, false), scratch) / d;
        const float var = block_reduce_sum(row_sum<VEC>(xr, d, mean, true), scratch) / d;
        row_write_modulated<VEC>(xr, y + r * d, d, mean, 1.0f / sqrtf(var + eps), nullptr,
                                 scale == nullptr ? nullptr : scale + b * d, shift == nullptr ? nullptr : shift + b * d);
    }
}

template <bool VEC>
__device__ __forceinline__ void rmsnorm_modulate_rows(const bf16* x, const bf16* w, const bf16* scale, const bf16* shift, bf16* y,
                                                      u64 rows, u64 seq, int d, float eps) {
    __shared__ float scratch[32];
    for (u64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const bf16* xr = x + r * d;
        const u64 b = r / seq;
        const float mean_square = block_reduce_sum(row_sum<VEC>(xr, d, 0.0f, true), scratch) / d;
        row_write_modulated<VEC>(xr, y + r * d, d, 0.0f, 1.0f / sqrtf(mean_square + eps), w,
                                 scale == nullptr ? nullptr : scale + b * d, shift == nullptr ? nullptr : shift + b * d);
    }
}

template <bool VEC>
__device__ __forceinline__ void rmsnorm_rows(const bf16* x, const bf16* w, bf16* y, u64 rows, int d, float eps) {
    __shared__ float scratch[32];
    for (u64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const bf16* xr = x + r * d;
        const float mean_square = block_reduce_sum(row_sum<VEC>(xr, d, 0.0f, true), scratch) / d;
        row_write<VEC>(xr, y + r * d, d, 0.0f, 1.0f / sqrtf(mean_square + eps), w, nullptr);
    }
}

// Grid: up to `rows` blocks (block-stride loop); block: a multiple of 32, ≤ 1024. vec: d % 8 == 0.
extern "C" __global__ void layernorm_bf16(const bf16* __restrict__ x, const bf16* __restrict__ weight,
                                          const bf16* __restrict__ bias, bf16* __restrict__ y, u64 rows, int d,
                                          float eps, int vec) {
    if (vec) layernorm_rows<true>(x, weight, bias, y, rows, d, eps);
    else layernorm_rows<false>(x, weight, bias, y, rows, d, eps);
}

// Grid and block as layernorm_bf16; rows = B·S, seq = S (the rows of one batch item); scale, shift [B, D] or null.
extern "C" __global__ void layernorm_modulate_bf16(const bf16* __restrict__ x, const bf16* __restrict__ scale,
                                                   const bf16* __restrict__ shift, bf16* __restrict__ y, u64 rows, u64 seq,
                                                   int d, float eps, int vec) {
    if (vec) layernorm_modulate_rows<true>(x, scale, shift, y, rows, seq, d, eps);
    else layernorm_modulate_rows<false>(x, scale, shift, y, rows, seq, d, eps);
}

// Grid and block as rmsnorm_bf16; rows = B·S, seq = S; weight [D], scale, shift [B, D], each optional.
extern "C" __global__ void rmsnorm_modulate_bf16(const bf16* __restrict__ x, const bf16* __restrict__ weight,
                                                 const bf16* __restrict__ scale, const bf16* __restrict__ shift,
                                                 bf16* __restrict__ y, u64 rows, u64 seq, int d, float eps, int vec) {
    if (vec) rmsnorm_modulate_rows<true>(x, weight, scale, shift, y, rows, seq, d, eps);
    else rmsnorm_modulate_rows<false>(x, weight, scale, shift, y, rows, seq, d, eps);
}

extern "C" __global__ void rmsnorm_bf16(const bf16* __restrict__ x, const bf16* __restrict__ weight,
                                        bf16* __restrict__ y, u64 rows, int d, float eps, int vec) {
    if (vec) rmsnorm_rows<true>(x, weight, y, rows, d, eps);
    else rmsnorm_rows<false>(x, weight, y, rows, d, eps);
}

// Grid: B·groups blocks, one per (b, group); block: a multiple of 32. A group is per_group·spatial
// contiguous elements (channels g·per_group … of one batch item).
extern "C" __global__ void groupnorm_bf16(const bf16* __restrict__ x, const bf16* __restrict__ weight,
                                          const bf16* __restrict__ bias, bf16* __restrict__ y, int groups,
                                          int per_group, u64 spatial, float eps) {
    __shared__ float scratch[32];
    const int task = blockIdx.x;
    const int g = task % groups;
    const u64 n = (u64)per_group * spatial;
    const bf16* xg = x + (u64)task * n;
    bf16* yg = y + (u64)task * n;
    float acc = 0.0f;
    for (u64 e = threadIdx.x; e < n; e += blockDim.x) acc += bf16_to_f32(xg[e]);
    const float mean = block_reduce_sum(acc, scratch) / (float)n;
    acc = 0.0f;
    for (u64 e = threadIdx.x; e < n; e += blockDim.x) {
        const float t = bf16_to_f32(xg[e]) - mean;
        acc += t * t;
    }
    const float rstd = 1.0f / sqrtf(block_reduce_sum(acc, scratch) / (float)n + eps);
    for (u64 e = threadIdx.x; e < n; e += blockDim.x) {
        const int c = g * per_group + (int)(e / spatial);
        yg[e] = f32_to_bf16((bf16_to_f32(xg[e]) - mean) * (rstd * bf16_to_f32(weight[c])) + bf16_to_f32(bias[c]));
    }
}
