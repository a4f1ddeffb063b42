// modulate.cu — adaLN modulation and gated residual additions (the per-batch [B, D] vectors of DiT blocks).
//
// Computes, for x / y / residual [B, S, D] flattened (element i: batch b = i / (S·D), feature c = i % D):
//   modulate_bf16   out[i] = x[i]·(1 + scale[b, c]) + shift[b, c]   (scale, shift optional: null)
//   add_gated_bf16  residual[i] += gate[b, c]·y[i]                   (in place; gate null → += y[i])
//   add_gated_f32   the same with an fp32 residual (y and gate bf16)
// in fp32 with one rounding per stored element. `1 + scale` is formed first, as the CPU reference and
// diffusers do (x·(1 + scale) + shift), not expanded into x + x·scale.
// Shape: grid-stride, one element per thread per iteration; bandwidth-bound. LayerNorm followed by modulate is
// one kernel, layernorm_modulate_bf16 in norm.cu; this one remains for modulation after other norms.
// modulate_bf16 (issue 16): with d % 8 == 0 and 16-byte aligned buffers a thread handles 8 consecutive features per
// iteration with 16-byte accesses (they share one [B, D] row), 32-bit indices below 2³¹ elements; same math per element.
#include "common.cuh"
#include "vec.cuh"

__device__ __forceinline__ float modulate_one(float v, const bf16* scale, const bf16* shift, u64 p) {
    if (scale != nullptr) v *= 1.0f + bf16_to_f32(scale[p]);
    if (shift != nullptr) v += bf16_to_f32(shift[p]);
    return v;
}

template <typename I>
__device__ __forceinline__ void modulate_i(const bf16* __restrict__ x, const bf16* __restrict__ scale,
                                           const bf16* __restrict__ shift, bf16* __restrict__ out, I n, I seq_d, I d) {
    const bool vec = d % 8 == 0 && aligned16(x) && aligned16(out) && (scale == nullptr || aligned16(scale)) &&
                     (shift == nullptr || aligned16(shift));
    if (vec) {
        ACCELAES_VEC_LOOP(I, g, n) {
            const I i = g * 8;
            const I p = i / seq_d * d + i % d;  // the group's first feature in the [B, D] vectors
            float v[8], sc[8], sh[8];
            load8(x + (u64)i, v);
            if (scale != nullptr) load8(scale + (u64)p, sc);
            if (shift != nullptr) load8(shift + (u64)p, sh);
#pragma unroll
            for (int k = 0; k < 8; ++k) {
                if (scale != nullptr) v[k] *= 1.0f + sc[k];
                if (shift != nullptr) v[k] += sh[k];
            }
            store8(out + (u64)i, v);
        }
        // n is a multiple of d, so of 8: no tail.
    } else {
        ACCELAES_GRID_STRIDE_I(I, i, 0, n) {
            out[i] = f32_to_bf16(modulate_one(bf16_to_f32(x[i]), scale, shift, (u64)(i / seq_d * d + i % d)));
        }
    }
}

extern "C" __global__ void modulate_bf16(const bf16* __restrict__ x, const bf16* __restrict__ scale,
                                         const bf16* __restrict__ shift, bf16* __restrict__ out, u64 n, u64 seq_d,
                                         int d) {
    if (narrow(n)) modulate_i<u32>(x, scale, shift, out, (u32)n, (u32)seq_d, (u32)d);
    else modulate_i<u64>(x, scale, shift, out, n, seq_d, (u64)d);
}

template <typename T>
__device__ __forceinline__ void add_gated(T* residual, const bf16* y, const bf16* gate, u64 n, u64 seq_d, int d) {
    ACCELAES_GRID_STRIDE(i, n) {
        float t = bf16_to_f32(y[i]);
        if (gate != nullptr) t *= bf16_to_f32(gate[i / seq_d * d + i % d]);
        store_f32(residual, i, load_f32(residual, i) + t);
    }
}

extern "C" __global__ void add_gated_bf16(bf16* residual, const bf16* __restrict__ y, const bf16* __restrict__ gate,
                                          u64 n, u64 seq_d, int d) {
    add_gated(residual, y, gate, n, seq_d, d);
}

extern "C" __global__ void add_gated_f32(float* residual, const bf16* __restrict__ y, const bf16* __restrict__ gate,
                                         u64 n, u64 seq_d, int d) {
    add_gated(residual, y, gate, n, seq_d, d);
}
