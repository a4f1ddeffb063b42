// convert.cu — dtype conversions between f32, bf16 and f16 storage.
//
// Computes: out[i] = convert(in[i]) for i in [0, n), contiguous 1-D buffers (any tensor, flattened).
//   convert_f32_to_bf16  f32  → bf16, round to nearest even, NaN stays NaN (loading fp32 weights, uploads)
//   convert_bf16_to_f32  bf16 → f32, exact                     (reading results back, fp32 reference checks)
//   convert_f16_to_bf16  f16  → bf16 via f32 (exact), one rounding (fp16 checkpoints)
// Shape: grid-stride, bandwidth-bound. With 16-byte aligned buffers a thread converts 8 consecutive elements per
// iteration with 16-byte accesses (vec.cuh), the last n % 8 one by one; 32-bit indices below 2³¹ elements. Each
// element goes through the same conversion on every path. The host sizes the grid for n / 8 threads.
// Bit-exact against AccelAes.Kernels.BFloat16Bits on the host.
#include "common.cuh"
#include "vec.cuh"

template <typename I>
__device__ __forceinline__ void f32_to_bf16_i(const float* __restrict__ in, bf16* __restrict__ out, I n) {
    if (aligned16(in) && aligned16(out)) {
        ACCELAES_VEC_LOOP(I, g, n) {
            float v[8];
            load8(in + (u64)g * 8, v);
            store8(out + (u64)g * 8, v);
        }
        ACCELAES_TAIL_LOOP(I, i, n) { out[i] = f32_to_bf16(in[i]); }
    } else {
        ACCELAES_GRID_STRIDE_I(I, i, 0, n) { out[i] = f32_to_bf16(in[i]); }
    }
}

extern "C" __global__ void convert_f32_to_bf16(const float* __restrict__ in, bf16* __restrict__ out, u64 n) {
    if (narrow(n)) f32_to_bf16_i<u32>(in, out, (u32)n);
    else f32_to_bf16_i<u64>(in, out, n);
}

template <typename I>
__device__ __forceinline__ void bf16_to_f32_i(const bf16* __restrict__ in, float* __restrict__ out, I n) {
    if (aligned16(in) && aligned16(out)) {
        ACCELAES_VEC_LOOP(I, g, n) {
            float v[8];
            load8(in + (u64)g * 8, v);
            store8(out + (u64)g * 8, v);
        }
        ACCELAES_TAIL_LOOP(I, i, n) { out[i] = bf16_to_f32(in[i]); }
    } else {
        ACCELAES_GRID_STRIDE_I(I, i, 0, n) { out[i] = bf16_to_f32(in[i]); }
    }
}

extern "C" __global__ void convert_bf16_to_f32(const bf16* __restrict__ in, float* __restrict__ out, u64 n) {
    if (narrow(n)) bf16_to_f32_i<u32>(in, out, (u32)n);
    else bf16_to_f32_i<u64>(in, out, n);
}

template <typename I>
__device__ __forceinline__ void f16_to_bf16_i(const f16* __restrict__ in, bf16* __restrict__ out, I n) {
    if (aligned16(in) && aligned16(out)) {
        ACCELAES_VEC_LOOP(I, g, n) {
            u16 h[8];
            float v[8];
            load8_bits(reinterpret_cast<const u16*>(in) + (u64)g * 8, h);
#pragma unroll
            for (int k = 0; k < 8; ++k) {
                f16 e;
                e.bits = h[k];
                v[k] = f16_to_f32(e);
            }
            store8(out + (u64)g * 8, v);
        }
        ACCELAES_TAIL_LOOP(I, i, n) { out[i] = f32_to_bf16(f16_to_f32(in[i])); }
    } else {
        ACCELAES_GRID_STRIDE_I(I, i, 0, n) { out[i] = f32_to_bf16(f16_to_f32(in[i])); }
    }
}

extern "C" __global__ void convert_f16_to_bf16(const f16* __restrict__ in, bf16* __restrict__ out, u64 n) {
    if (narrow(n)) f16_to_bf16_i<u32>(in, out, (u32)n);
    else f16_to_bf16_i<u64>(in, out, n);
}
