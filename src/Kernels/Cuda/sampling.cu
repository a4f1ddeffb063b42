// sampling.cu — the sampler's elementwise ops: guidance combine (uniform and spatial), StepCache extrapolation,
// Euler step, non-finite count.
//
//   guidance_combine_bf16/_f32  out = uncond + scale·(cond − uncond), in that order, each operation rounded
//                               in fp32 (__fsub_rn/__fmul_rn/__fadd_rn: no FMA contraction), as diffusers
//   guidance_combine_map_bf16/_f32  the same with a per-position scale, scale[i % inner] (fp32 map, e.g. [H, W]
//                               broadcast over [B, C, H, W]): AccelAes' spatial CFG
//   extrapolate_bf16/_f32       out = fma(c, latest − previous, latest): the difference rounded to fp32, then one
//                               fused multiply-add (the rounding is the contract: StepCacheMath.Extrapolate)
//   euler_step_<latents>_<velocity>   latents += dt·velocity in place, fp32: the product is rounded before
//                               the add (torch's `sample + dt * model_output`, no FMA). Latents are fp32 in
//                               the CUDA backend (Upload keeps fp32), so the trajectory does
//                               not lose 8 bits per step; bf16 latents (diffusers' own bf16 behaviour:
//                               prev_sample.to(model dtype)) are supported too.
//   count_nonfinite_bf16/_f32   *count += number of NaN/±∞ elements (the host zeroes it first); per-warp
//                               totals, one atomic per warp
//   abs_difference_partials_bf16/_f32  TeaCache's distance sums, pass 1: each block's Σ|a − b| and Σ|b| (each
//                               difference rounded to fp32, then accumulated in fp64: per thread, across the
//                               warp by shuffles, across the block's warps in shared memory) written to
//                               partials[2·block], partials[2·block + 1]; launched with ABS_DIFF_BLOCK threads
//   abs_difference_finish       pass 2, one block of ABS_DIFF_BLOCK threads: adds the blocks' partials in a
//                               fixed order and rounds each sum to fp32 once (out[0] = Σ|a − b|, out[1] = Σ|b|).
//                               No atomics: the grid size depends on n only, so every run (and every replay of
//                               a CUDA graph) adds the same numbers in the same order and gives the same bits.
//                               Error against the exact sum of the fp32 terms: at most one fp32 rounding
//                               (fp64 accumulation of ≤ 2⁶³ non-negative terms stays within n·2⁻⁵³ relative,
//                               far below half an fp32 ulp for any tensor that fits in memory)
// Shape: grid-stride, one element per thread per iteration.
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void guidance_combine(const T* uncond, const T* cond, T* out, float scale, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) {
        const float u = load_f32(uncond, i);
        store_f32(out, i, __fadd_rn(u, __fmul_rn(scale, __fsub_rn(load_f32(cond, i), u))));
    }
}

extern "C" __global__ void guidance_combine_bf16(const bf16* uncond, const bf16* cond, bf16* out, float scale, u64 n) {
    guidance_combine(uncond, cond, out, scale, n);
}

extern "C" __global__ void guidance_combine_f32(const float* uncond, const float* cond, float* out, float scale, u64 n) {
    guidance_combine(uncond, cond, out, scale, n);
}

template <typename T>
__device__ __forceinline__ void guidance_combine_map(const T* uncond, const T* cond, const float* scale, T* out, u64 n, u64 inner) {
    ACCELAES_GRID_STRIDE(i, n) {
        const float u = load_f32(uncond, i);
        store_f32(out, i, __fadd_rn(u, __fmul_rn(scale[i % inner], __fsub_rn(load_f32(cond, i), u))));
    }
}

extern "C" __global__ void guidance_combine_map_bf16(const bf16* uncond, const bf16* cond, const float* __restrict__ scale,
                                                     bf16* out, u64 n, u64 inner) {
    guidance_combine_map(uncond, cond, scale, out, n, inner);
}

extern "C" __global__ void guidance_combine_map_f32(const float* uncond, const float* cond, const float* __restrict__ scale,
                                                    float* out, u64 n, u64 inner) {
    guidance_combine_map(uncond, cond, scale, out, n, inner);
}

template <typename T>
__device__ __forceinline__ void extrapolate(const T* latest, const T* previous, T* out, float c, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) {
        const float a = load_f32(latest, i);
        store_f32(out, i, __fmaf_rn(c, __fsub_rn(a, load_f32(previous, i)), a));
    }
}

extern "C" __global__ void extrapolate_bf16(const bf16* latest, const bf16* previous, bf16* out, float c, u64 n) {
    extrapolate(latest, previous, out, c, n);
}

extern "C" __global__ void extrapolate_f32(const float* latest, const float* previous, float* out, float c, u64 n) {
    extrapolate(latest, previous, out, c, n);
}

#define ABS_DIFF_BLOCK 256

__device__ __forceinline__ double warp_reduce_sum_f64(double v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(ACCELAES_FULL_MASK, v, offset);
    return v;
}

// Both sums of the block in thread 0 (the others return partial values). Every thread must call it.
__device__ __forceinline__ void block_reduce_pair_f64(double& first, double& second) {
    __shared__ double scratch[2][ABS_DIFF_BLOCK / 32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    first = warp_reduce_sum_f64(first);
    second = warp_reduce_sum_f64(second);
    if (lane == 0) {
        scratch[0][warp] = first;
        scratch[1][warp] = second;
    }
    __syncthreads();
    if (warp == 0) {
        first = lane < ABS_DIFF_BLOCK / 32 ? scratch[0][lane] : 0.0;
        second = lane < ABS_DIFF_BLOCK / 32 ? scratch[1][lane] : 0.0;
        first = warp_reduce_sum_f64(first);
        second = warp_reduce_sum_f64(second);
    }
}

template <typename T>
__device__ __forceinline__ void abs_difference_partials(const T* a, const T* b, double* partials, u64 n) {
    double difference = 0.0, magnitude = 0.0;
    ACCELAES_GRID_STRIDE(i, n) {
        const float y = load_f32(b, i);
        difference += (double)fabsf(__fsub_rn(load_f32(a, i), y));
        magnitude += (double)fabsf(y);
    }
    block_reduce_pair_f64(difference, magnitude);
    if (threadIdx.x == 0) {
        partials[2 * (u64)blockIdx.x] = difference;
        partials[2 * (u64)blockIdx.x + 1] = magnitude;
    }
}

extern "C" __global__ __launch_bounds__(ABS_DIFF_BLOCK) void abs_difference_partials_bf16(const bf16* __restrict__ a, const bf16* __restrict__ b,
                                                                               double* partials, u64 n) {
    abs_difference_partials(a, b, partials, n);
}

extern "C" __global__ __launch_bounds__(ABS_DIFF_BLOCK) void abs_difference_partials_f32(const float* __restrict__ a, const float* __restrict__ b,
                                                                              double* partials, u64 n) {
    abs_difference_partials(a, b, partials, n);
}

extern "C" __global__ __launch_bounds__(ABS_DIFF_BLOCK) void abs_difference_finish(const double* __restrict__ partials, u32 blocks, float* out) {
    double difference = 0.0, magnitude = 0.0;
    for (u32 i = threadIdx.x; i < blocks; i += ABS_DIFF_BLOCK) {
        difference += partials[2 * (u64)i];
        magnitude += partials[2 * (u64)i + 1];
    }
    block_reduce_pair_f64(difference, magnitude);
    if (threadIdx.x == 0) {
        out[0] = (float)difference;
        out[1] = (float)magnitude;
    }
}

template <typename TX, typename TV>
__device__ __forceinline__ void euler_step(TX* x, const TV* v, float dt, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) { store_f32(x, i, __fadd_rn(load_f32(x, i), __fmul_rn(dt, load_f32(v, i)))); }
}

extern "C" __global__ void euler_step_f32_bf16(float* x, const bf16* __restrict__ v, float dt, u64 n) { euler_step(x, v, dt, n); }

extern "C" __global__ void euler_step_f32_f32(float* x, const float* __restrict__ v, float dt, u64 n) { euler_step(x, v, dt, n); }

extern "C" __global__ void euler_step_bf16_bf16(bf16* x, const bf16* __restrict__ v, float dt, u64 n) { euler_step(x, v, dt, n); }

extern "C" __global__ void euler_step_bf16_f32(bf16* x, const float* __restrict__ v, float dt, u64 n) { euler_step(x, v, dt, n); }

__device__ __forceinline__ bool nonfinite(bf16 v) { return (v.bits & 0x7f80u) == 0x7f80u; }
__device__ __forceinline__ bool nonfinite(float v) { return (__float_as_uint(v) & 0x7f800000u) == 0x7f800000u; }

template <typename T>
__device__ __forceinline__ void count_nonfinite(const T* x, u64 n, u32* count) {
    u32 c = 0;
    ACCELAES_GRID_STRIDE(i, n) { c += nonfinite(x[i]) ? 1u : 0u; }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) c += __shfl_xor_sync(ACCELAES_FULL_MASK, c, offset);
    if ((threadIdx.x & 31) == 0 && c != 0) atomicAdd(count, c);
}

// Block size must be a multiple of 32 (every lane of a warp takes part in the shuffle reduction).
extern "C" __global__ void count_nonfinite_bf16(const bf16* __restrict__ x, u64 n, u32* count) { count_nonfinite(x, n, count); }

extern "C" __global__ void count_nonfinite_f32(const float* __restrict__ x, u64 n, u32* count) { count_nonfinite(x, n, count); }
