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
#include "common.cuh"

extern "C" __global__ void modulate_bf16(const bf16* __restrict__ x, const bf16* __restrict__ scale,
                                         const bf16* __restrict__ shift, bf16* __restrict__ out, u64 n, u64 seq_d,
                                         int d) {
    ACCELAES_GRID_STRIDE(i, n) {
        const u64 p = i / seq_d * d + i % d;  // index into the [B, D] vectors
        float v = bf16_to_f32(x[i]);
        if (scale != nullptr) v *= 1.0f + bf16_to_f32(scale[p]);
        if (shift != nullptr) v += bf16_to_f32(shift[p]);
        out[i] = f32_to_bf16(v);
    }
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
