// fp8.cu — fp8 Linear weights kept on the device (issue 15): e4m3 codes with one fp32 scale per output row.
//
// Computes: dequantize_e4m3_rows_bf16: out[i] = bf16(decode(codes[i]) · scales[i / columns]) for i in [0, n), the
//   weight [rows, columns] an op computes with when the weight is stored as fp8. decode is exact (every e4m3 value is
//   an f32), the product is one f32 rounding and the store one bf16 rounding (nearest even), so the result is bit for
//   bit the host's Float8Quantizer.DequantizeRows rounded by convert_f32_to_bf16 — what an F32 upload of the
//   dequantised weight gave before fp8 stayed resident.
// e4m3 = torch.float8_e4m3fn: S.EEEE.MMM, bias 7, subnormals m · 2^-9, no infinities, S.1111.111 is NaN.
// Shape: grid-stride, bandwidth-bound. With 16-byte aligned pointers and rows a multiple of 8 columns, a thread reads
// 16 codes (one 16-byte load) and writes 16 bf16 (two 16-byte stores) per iteration, one scale per 8; otherwise one
// element at a time. 32-bit indices below 2³¹ elements. The host sizes the grid for n / 8 threads (twice what the
// vector path needs; the grid stride covers any sizing).
#include "common.cuh"
#include "vec.cuh"

__device__ __forceinline__ float e4m3_to_f32(u32 code) {
    const u32 sign = (code & 0x80u) << 24, exponent = (code >> 3) & 0xFu, mantissa = code & 0x7u;
    if (exponent == 0xFu && mantissa == 0x7u) return __uint_as_float(sign | 0x7FC00000u);
    // Subnormal: m · 2^-9 (exact in f32); normal: 1.m · 2^(e-7), rebuilt as f32 bits (exponent e - 7 + 127).
    const float magnitude = exponent == 0 ? (float)mantissa * 0.001953125f : __uint_as_float(((exponent + 120u) << 23) | (mantissa << 20));
    return __uint_as_float(__float_as_uint(magnitude) | sign);
}

template <typename I>
__device__ __forceinline__ void dequantize_e4m3_rows_i(const u8* __restrict__ codes, const float* __restrict__ scales,
                                                        bf16* __restrict__ out, I n, I columns) {
    if (aligned16(codes) && aligned16(out) && columns % 8 == 0) {
        // 16 codes per iteration: one 16-byte load, two 16-byte stores; each half of 8 lies within one row.
        ACCELAES_GRID_STRIDE_I(I, g, 0, n / 16) {
            const uint4 packed = reinterpret_cast<const uint4*>(codes)[g];
            const u32 words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const float scale = scales[(g * 16 + (I)(8 * half)) / columns];
                float v[8];
#pragma unroll
                for (int k = 0; k < 8; ++k) v[k] = e4m3_to_f32((words[2 * half + k / 4] >> (8 * (k % 4))) & 0xFFu) * scale;
                store8(out + (u64)g * 16 + 8 * half, v);
            }
        }
        ACCELAES_GRID_STRIDE_I(I, i, n / 16 * 16, n) { out[i] = f32_to_bf16(e4m3_to_f32(codes[i]) * scales[i / columns]); }
    } else {
        ACCELAES_GRID_STRIDE_I(I, i, 0, n) { out[i] = f32_to_bf16(e4m3_to_f32(codes[i]) * scales[i / columns]); }
    }
}

extern "C" __global__ void dequantize_e4m3_rows_bf16(const u8* __restrict__ codes, const float* __restrict__ scales,
                                                     bf16* __restrict__ out, u64 n, u64 columns) {
    if (narrow(n)) dequantize_e4m3_rows_i<u32>(codes, scales, out, (u32)n, (u32)columns);
    else dequantize_e4m3_rows_i<u64>(codes, scales, out, n, columns);
}

// ---- activations for the FP8 GEMM (sm_89+): one e4m3 scale per tensor ------------------------------------------
//
// amax_partial_bf16: partial[b] = max |x| over block b's grid-stride share of x (bf16 [n]); NaN is skipped (fmaxf).
// quantize_e4m3_per_tensor: amax = max of the `partials` partial maxima (every block reduces them itself: at most a
//   thousand values, no second launch), s = amax / 448 in f32 (block 0 writes it to *scale: cuBLASLt's B scale pointer),
//   codes[i] = e4m3(x[i] / s) — the division IEEE-rounded (__fdiv_rn, fast math or not), then nearest e4m3, ties to
//   even mantissa, subnormals kept, saturating at ±448; NaN or ±inf → the NaN code 0x7F (with x's sign). amax = 0 gives
//   s = 0 and zero codes. This is Float8Quantizer's per-row rule applied to the whole tensor, on the device.
// Shape: both grid-stride, 256 threads per block, the same grid for both launches.

__device__ __forceinline__ u32 f32_to_e4m3_saturating(float x) {
    const u32 sign = (__float_as_uint(x) >> 24) & 0x80u;
    const float v = fabsf(x);
    if (!(v <= 3.4028235e38f)) return sign | 0x7Fu;  // NaN or inf
    if (v >= 448.0f) return sign | 0x7Eu;
    if (v < 0.015625f) return sign | (u32)rintf(v * 512.0f);  // subnormals m · 2^-9; m = 8 is the smallest normal's code
    int exponent = (int)((__float_as_uint(v) >> 23) & 0xFFu) - 127;
    // v · 2^(3 - exponent) in [8, 16): scaling by a power of two is exact, rintf rounds half to even.
    u32 steps = (u32)rintf(v * __uint_as_float((u32)(127 + 3 - exponent) << 23));
    if (steps == 16u) { exponent++; steps = 8u; }
    return sign | ((u32)(exponent + 7) << 3) | (steps - 8u);
}

extern "C" __global__ void amax_partial_bf16(const bf16* __restrict__ x, float* __restrict__ partial, u64 n) {
    __shared__ float scratch[32];
    float m = 0.0f;
    ACCELAES_GRID_STRIDE(i, n) { m = fmaxf(m, fabsf(bf16_to_f32(x[i]))); }
    m = block_reduce_max(m, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = m;
}

extern "C" __global__ void quantize_e4m3_per_tensor(const bf16* __restrict__ x, const float* __restrict__ partial, u32 partials,
                                                     u8* __restrict__ codes, float* __restrict__ scale, u64 n) {
    __shared__ float scratch[32];
    float m = 0.0f;
    for (u32 b = threadIdx.x; b < partials; b += blockDim.x) m = fmaxf(m, partial[b]);
    const float amax = block_reduce_max(m, scratch);
    const float s = __fdiv_rn(amax, 448.0f);
    if (blockIdx.x == 0 && threadIdx.x == 0) *scale = s;
    ACCELAES_GRID_STRIDE(i, n) { codes[i] = s == 0.0f ? (u8)0 : (u8)f32_to_e4m3_saturating(__fdiv_rn(bf16_to_f32(x[i]), s)); }
}
