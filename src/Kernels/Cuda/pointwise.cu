// pointwise.cu — one-input elementwise ops: activations and scaling.
//
// Computes out[i] = f(x[i]) for i in [0, n), contiguous, fp32 math, one rounding on store:
//   activate_bf16 / activate_f32      f = the activation with code `act` (common.cuh: ACT_*, the values of
//                                     the engine's Activation enum); storage type in = out
//   activate_f32_to_bf16              fp32 in (a GEMM's fp32 output), bf16 out, with an optional bias
//                                     vector broadcast over rows of `cols` (bias[i % cols]) added first:
//                                     the Linear epilogue for activations cuBLASLt has no epilogue for
//   scale_bf16 / scale_f32            f = x·s
//   relu_bf16 / relu_f32              f = x < 0 ? 0 : x (torch.relu: a NaN stays NaN, −0 stays −0)
// `out` may alias `x` (each element is read before it is written, by the same thread).
// Shape: grid-stride, bandwidth-bound. With 16-byte aligned pointers a thread handles 8 consecutive elements per
// iteration as 16-byte accesses (vec.cuh), then the last n % 8 one by one; indices are 32-bit below 2³¹ elements.
// The math per element is the scalar loop's, so results do not depend on the path. The host sizes the grid for n / 8
// threads (CudaBackend.Elementwise8); the scalar fallback covers any n with the same grid through the stride.
#include "common.cuh"
#include "vec.cuh"

// out[i] = f(x[i]) over [0, n): 8 per step when aligned, scalar otherwise (and for the tail).
template <typename I, typename TIn, typename TOut, typename F>
__device__ __forceinline__ void map_values_i(const TIn* x, TOut* out, I n, F f) {
    if (aligned16(x) && aligned16(out)) {
        ACCELAES_VEC_LOOP(I, g, n) {
            float v[8];
            load8(x + (u64)g * 8, v);
#pragma unroll
            for (int k = 0; k < 8; ++k) v[k] = f(v[k]);
            store8(out + (u64)g * 8, v);
        }
        ACCELAES_TAIL_LOOP(I, i, n) { store_f32(out, i, f(load_f32(x, i))); }
    } else {
        ACCELAES_GRID_STRIDE_I(I, i, 0, n) { store_f32(out, i, f(load_f32(x, i))); }
    }
}

template <typename TIn, typename TOut, typename F>
__device__ __forceinline__ void map_values(const TIn* x, TOut* out, u64 n, F f) {
    if (narrow(n)) map_values_i<u32>(x, out, (u32)n, f);
    else map_values_i<u64>(x, out, n, f);
}

template <typename TIn, typename TOut>
__device__ __forceinline__ void activate(const TIn* x, TOut* out, u64 n, int act) {
    map_values(x, out, n, [act](float v) { return apply_activation(v, act); });
}

extern "C" __global__ void activate_bf16(const bf16* x, bf16* out, u64 n, int act) { activate(x, out, n, act); }

extern "C" __global__ void activate_f32(const float* x, float* out, u64 n, int act) { activate(x, out, n, act); }

template <typename I>
__device__ __forceinline__ void activate_with_bias(const float* __restrict__ x, const bf16* __restrict__ bias,
                                                   bf16* __restrict__ out, I n, I cols, int act) {
    if (aligned16(x) && aligned16(out) && (bias == nullptr || (aligned16(bias) && cols % 8 == 0))) {
        ACCELAES_VEC_LOOP(I, g, n) {
            float v[8];
            load8(x + (u64)g * 8, v);
            if (bias != nullptr) {
                float b[8];
                load8(bias + (u64)(g * 8 % cols), b);  // cols % 8 == 0: the 8 share one row of the bias
#pragma unroll
                for (int k = 0; k < 8; ++k) v[k] += b[k];
            }
#pragma unroll
            for (int k = 0; k < 8; ++k) v[k] = apply_activation(v[k], act);
            store8(out + (u64)g * 8, v);
        }
        ACCELAES_TAIL_LOOP(I, i, n) {
            float v = x[i];
            if (bias != nullptr) v += bf16_to_f32(bias[i % cols]);
            out[i] = f32_to_bf16(apply_activation(v, act));
        }
    } else {
        ACCELAES_GRID_STRIDE_I(I, i, 0, n) {
            float v = x[i];
            if (bias != nullptr) v += bf16_to_f32(bias[i % cols]);
            out[i] = f32_to_bf16(apply_activation(v, act));
        }
    }
}

extern "C" __global__ void activate_f32_to_bf16(const float* __restrict__ x, const bf16* __restrict__ bias,
                                                bf16* __restrict__ out, u64 n, u64 cols, int act) {
    if (narrow(n)) activate_with_bias<u32>(x, bias, out, (u32)n, (u32)cols, act);
    else activate_with_bias<u64>(x, bias, out, n, cols, act);
}

template <typename T>
__device__ __forceinline__ void scale_values(const T* x, T* out, float s, u64 n) {
    map_values(x, out, n, [s](float v) { return v * s; });
}

extern "C" __global__ void scale_bf16(const bf16* x, bf16* out, float s, u64 n) { scale_values(x, out, s, n); }

extern "C" __global__ void scale_f32(const float* x, float* out, float s, u64 n) { scale_values(x, out, s, n); }

template <typename T>
__device__ __forceinline__ void relu_values(const T* x, T* out, u64 n) {
    map_values(x, out, n, [](float v) { return v < 0.0f ? 0.0f : v; });
}

extern "C" __global__ void relu_bf16(const bf16* x, bf16* out, u64 n) { relu_values(x, out, n); }

extern "C" __global__ void relu_f32(const float* x, float* out, u64 n) { relu_values(x, out, n); }
