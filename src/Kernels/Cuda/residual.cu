// residual.cu — the residual path of a DiT block with the gated add folded into what comes before it (issue 16).
//
//   gated_epilogue_vectors  the two per-step vectors cuBLASLt's gated-residual epilogue needs, for B·N entries
//                   (gate [B, N], bias [N]): alpha[b, n] = gate[b, n] as fp32 (the ALPHA_DEVICE_VECTOR: alpha's type is
//                   the scale type, fp32), scaled_bias[b, n] = bf16(gate[b, n]·bias[n]) (the BIAS epilogue adds its
//                   vector after the scaling, D = alpha ⊙ (A·B) + β·C + bias, and a bias has D's type, bf16). gate null:
//                   alpha = 1; bias null: scaled_bias is not written. A few KiB per call; grid-stride.
//   gated_epilogue_vectors_x4  the same vectors for up to four (gate, bias) pairs of one block in one launch (issue 16,
//                   FLUX's launches: a double block's four gated projections): part p < parts reads gate g_p [B, N] and bias
//                   b_p [N] (null: no gated bias for that part) and writes alpha[p·stride + e] and scaled_bias[p·stride + e]
//                   for e < count = B·N, each entry exactly as gated_epilogue_vectors computes it. stride ≥ count keeps
//                   every part's vectors 256-byte aligned (the pointers cuBLASLt's epilogue is given).
//   rmsnorm_add_tanh_gated_bf16  Lumina's post-norm gated residual, one row per block: residual[r, c] += tanh(gate[b, c])·
//                   (y[r, c]·(1/√(mean(y[r]²) + eps))·w[c]), b = r / S, w optional; the normalised row and tanh(gate)
//                   stay in fp32 (one rounding, of the sum), where RmsNorm, Activate and add_gated_bf16 rounded three
//                   times and moved the row three more times. When D is a multiple of 8 every access is a 16-byte vector
//                   of 8 bf16 (the row is read twice: once for its mean square, once for the update; the second read
//                   hits L1/L2).
//   rmsnorm_add_tanh_gated_modulate_bf16  the same update followed by the next op of Lumina's block, RmsNormModulate of the
//                   updated residual: out[r, c] = (x'[r, c]·(1/√(mean(x'[r]²) + eps2))·w2[c])·(1 + scale[b, c]) + shift[b, c],
//                   x' the residual as stored (bf16, so the statistics are those the unfused RmsNormModulate would read);
//                   w2, scale and shift optional. Each thread re-reads the elements it wrote itself. Saves the second
//                   kernel's read of the residual and its launch.
#include "common.cuh"

// Entry e of one (gate, bias) pair's vectors, written at alpha[at] / scaled_bias[at]: the one definition both kernels use.
__device__ __forceinline__ void gated_epilogue_entry(const bf16* gate, const bf16* bias, u64 e, int n, float* alpha,
                                                     bf16* scaled_bias, u64 at) {
    const float g = gate != nullptr ? bf16_to_f32(gate[e]) : 1.0f;
    alpha[at] = g;
    if (bias != nullptr) scaled_bias[at] = f32_to_bf16(g * bf16_to_f32(bias[e % (u64)n]));
}

extern "C" __global__ void gated_epilogue_vectors(const bf16* __restrict__ gate, const bf16* __restrict__ bias,
                                                  float* __restrict__ alpha, bf16* __restrict__ scaled_bias, u64 count,
                                                  int n) {
    ACCELAES_GRID_STRIDE(i, count) gated_epilogue_entry(gate, bias, i, n, alpha, scaled_bias, i);
}

extern "C" __global__ void gated_epilogue_vectors_x4(const bf16* __restrict__ g0, const bf16* __restrict__ g1,
                                                     const bf16* __restrict__ g2, const bf16* __restrict__ g3,
                                                     const bf16* __restrict__ b0, const bf16* __restrict__ b1,
                                                     const bf16* __restrict__ b2, const bf16* __restrict__ b3,
                                                     float* __restrict__ alpha, bf16* __restrict__ scaled_bias, int parts,
                                                     u64 count, u64 stride, int n) {
    ACCELAES_GRID_STRIDE(i, (u64)parts * count) {
        const int p = (int)(i / count);
        const u64 e = i - (u64)p * count;
        const bf16* gate = p == 0 ? g0 : p == 1 ? g1 : p == 2 ? g2 : g3;
        const bf16* bias = p == 0 ? b0 : p == 1 ? b1 : p == 2 ? b2 : b3;
        gated_epilogue_entry(gate, bias, e, n, alpha, scaled_bias, (u64)p * stride + e);
    }
}

template <bool VEC>
__device__ __forceinline__ float row_mean_square(const bf16* y, int d) {
    float acc = 0.0f;
    if (VEC) {
        for (int c = threadIdx.x * 8; c < d; c += blockDim.x * 8) {
            float f[8];
            load_bf16x8(y + c, f);
#pragma unroll
            for (int e = 0; e < 8; ++e) acc += f[e] * f[e];
        }
    } else {
        for (int c = threadIdx.x; c < d; c += blockDim.x) {
            const float t = bf16_to_f32(y[c]);
            acc += t * t;
        }
    }
    return acc;
}

template <bool VEC>
__device__ __forceinline__ void rmsnorm_add_tanh_gated_rows(bf16* residual, const bf16* y, const bf16* w, const bf16* gate,
                                                            u64 rows, u64 seq, int d, float eps) {
    __shared__ float scratch[32];
    for (u64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const bf16* yr = y + r * d;
        bf16* xr = residual + r * d;
        const bf16* gr = gate + r / seq * d;
        const float rstd = 1.0f / sqrtf(block_reduce_sum(row_mean_square<VEC>(yr, d), scratch) / d + eps);
        if (VEC) {
            for (int c = threadIdx.x * 8; c < d; c += blockDim.x * 8) {
                float yf[8], xf[8], gf[8], wf[8];
                load_bf16x8(yr + c, yf);
                load_bf16x8(xr + c, xf);
                load_bf16x8(gr + c, gf);
                if (w != nullptr) load_bf16x8(w + c, wf);
#pragma unroll
                for (int e = 0; e < 8; ++e) {
                    float t = yf[e] * rstd;
                    if (w != nullptr) t *= wf[e];
                    xf[e] += tanhf(gf[e]) * t;
                }
                store_bf16x8(xr + c, xf);
            }
        } else {
            for (int c = threadIdx.x; c < d; c += blockDim.x) {
                float t = bf16_to_f32(yr[c]) * rstd;
                if (w != nullptr) t *= bf16_to_f32(w[c]);
                xr[c] = f32_to_bf16(bf16_to_f32(xr[c]) + tanhf(bf16_to_f32(gr[c])) * t);
            }
        }
    }
}

template <bool VEC>
__device__ __forceinline__ void rmsnorm_add_tanh_gated_modulate_rows(bf16* residual, const bf16* y, const bf16* w, const bf16* gate,
                                                                     const bf16* w2, const bf16* scale, const bf16* shift, bf16* out,
                                                                     u64 rows, u64 seq, int d, float eps, float eps2) {
    __shared__ float scratch[32];
    for (u64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const u64 b = r / seq;
        const bf16* yr = y + r * d;
        bf16* xr = residual + r * d;
        bf16* outr = out + r * d;
        const bf16* gr = gate + b * d;
        const bf16* sc = scale == nullptr ? nullptr : scale + b * d;
        const bf16* sh = shift == nullptr ? nullptr : shift + b * d;
        const float rstd = 1.0f / sqrtf(block_reduce_sum(row_mean_square<VEC>(yr, d), scratch) / d + eps);
        float acc = 0.0f;  // Σ x'² of the stored (rounded) x'
        if (VEC) {
            for (int c = threadIdx.x * 8; c < d; c += blockDim.x * 8) {
                float yf[8], xf[8], gf[8], wf[8];
                load_bf16x8(yr + c, yf);
                load_bf16x8(xr + c, xf);
                load_bf16x8(gr + c, gf);
                if (w != nullptr) load_bf16x8(w + c, wf);
#pragma unroll
                for (int e = 0; e < 8; ++e) {
                    float t = yf[e] * rstd;
                    if (w != nullptr) t *= wf[e];
                    xf[e] = bf16_to_f32(f32_to_bf16(xf[e] + tanhf(gf[e]) * t));
                    acc += xf[e] * xf[e];
                }
                store_bf16x8(xr + c, xf);
            }
        } else {
            for (int c = threadIdx.x; c < d; c += blockDim.x) {
                float t = bf16_to_f32(yr[c]) * rstd;
                if (w != nullptr) t *= bf16_to_f32(w[c]);
                const bf16 v = f32_to_bf16(bf16_to_f32(xr[c]) + tanhf(bf16_to_f32(gr[c])) * t);
                xr[c] = v;
                const float vf = bf16_to_f32(v);
                acc += vf * vf;
            }
        }
        const float rstd2 = 1.0f / sqrtf(block_reduce_sum(acc, scratch) / d + eps2);
        if (VEC) {
            for (int c = threadIdx.x * 8; c < d; c += blockDim.x * 8) {
                float xf[8], wf[8], sf[8], hf[8];
                load_bf16x8(xr + c, xf);
                if (w2 != nullptr) load_bf16x8(w2 + c, wf);
                if (sc != nullptr) load_bf16x8(sc + c, sf);
                if (sh != nullptr) load_bf16x8(sh + c, hf);
#pragma unroll
                for (int e = 0; e < 8; ++e) {
                    float t = xf[e] * rstd2;
                    if (w2 != nullptr) t *= wf[e];
                    if (sc != nullptr) t *= 1.0f + sf[e];
                    if (sh != nullptr) t += hf[e];
                    xf[e] = t;
                }
                store_bf16x8(outr + c, xf);
            }
        } else {
            for (int c = threadIdx.x; c < d; c += blockDim.x) {
                float t = bf16_to_f32(xr[c]) * rstd2;
                if (w2 != nullptr) t *= bf16_to_f32(w2[c]);
                if (sc != nullptr) t *= 1.0f + bf16_to_f32(sc[c]);
                if (sh != nullptr) t += bf16_to_f32(sh[c]);
                outr[c] = f32_to_bf16(t);
            }
        }
    }
}

// Grid: up to `rows` blocks (block-stride loop); block: a multiple of 32, ≤ 1024. rows = B·S, seq = S; residual and y
// [rows, d], weight [d] or null, gate [B, d]. vec: d % 8 == 0 (16-byte aligned rows).
extern "C" __global__ void rmsnorm_add_tanh_gated_bf16(bf16* residual, const bf16* __restrict__ y,
                                                       const bf16* __restrict__ weight, const bf16* __restrict__ gate,
                                                       u64 rows, u64 seq, int d, float eps, int vec) {
    if (vec) rmsnorm_add_tanh_gated_rows<true>(residual, y, weight, gate, rows, seq, d, eps);
    else rmsnorm_add_tanh_gated_rows<false>(residual, y, weight, gate, rows, seq, d, eps);
}

// As rmsnorm_add_tanh_gated_bf16, then out [rows, d] = RmsNormModulate(residual, eps2, weight2, scale, shift); weight2 [d],
// scale and shift [B, d], each optional.
extern "C" __global__ void rmsnorm_add_tanh_gated_modulate_bf16(bf16* residual, const bf16* __restrict__ y,
                                                                const bf16* __restrict__ weight, const bf16* __restrict__ gate,
                                                                const bf16* __restrict__ weight2, const bf16* __restrict__ scale,
                                                                const bf16* __restrict__ shift, bf16* __restrict__ out, u64 rows,
                                                                u64 seq, int d, float eps, float eps2, int vec) {
    if (vec) rmsnorm_add_tanh_gated_modulate_rows<true>(residual, y, weight, gate, weight2, scale, shift, out, rows, seq, d, eps, eps2);
    else rmsnorm_add_tanh_gated_modulate_rows<false>(residual, y, weight, gate, weight2, scale, shift, out, rows, seq, d, eps, eps2);
}
