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
// Shape: grid-stride, one element per thread per iteration; bandwidth-bound.
#include "common.cuh"

template <typename TIn, typename TOut>
__device__ __forceinline__ void activate(const TIn* x, TOut* out, u64 n, int act) {
    ACCELAES_GRID_STRIDE(i, n) { store_f32(out, i, apply_activation(load_f32(x, i), act)); }
}

extern "C" __global__ void activate_bf16(const bf16* x, bf16* out, u64 n, int act) { activate(x, out, n, act); }

extern "C" __global__ void activate_f32(const float* x, float* out, u64 n, int act) { activate(x, out, n, act); }

extern "C" __global__ void activate_f32_to_bf16(const float* __restrict__ x, const bf16* __restrict__ bias,
                                                bf16* __restrict__ out, u64 n, u64 cols, int act) {
    ACCELAES_GRID_STRIDE(i, n) {
        float v = x[i];
        if (bias != nullptr) v += bf16_to_f32(bias[i % cols]);
        out[i] = f32_to_bf16(apply_activation(v, act));
    }
}

template <typename T>
__device__ __forceinline__ void scale_values(const T* x, T* out, float s, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) { store_f32(out, i, load_f32(x, i) * s); }
}

extern "C" __global__ void scale_bf16(const bf16* x, bf16* out, float s, u64 n) { scale_values(x, out, s, n); }

extern "C" __global__ void scale_f32(const float* x, float* out, float s, u64 n) { scale_values(x, out, s, n); }

template <typename T>
__device__ __forceinline__ void relu_values(const T* x, T* out, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) {
        const float v = load_f32(x, i);
        store_f32(out, i, v < 0.0f ? 0.0f : v);
    }
}

extern "C" __global__ void relu_bf16(const bf16* x, bf16* out, u64 n) { relu_values(x, out, n); }

extern "C" __global__ void relu_f32(const float* x, float* out, u64 n) { relu_values(x, out, n); }
