// rotary.cu — rotary position embedding (RoPE) of x [B, S, H, D] with per-position tables cos/sin [S, P].
//
// Computes, for each pair i < P of features (a, b): a' = a·cᵢ − b·sᵢ, b' = b·cᵢ + a·sᵢ; features outside
// the pairs are copied. Pairing (the engine's RotaryPairing):
//   pairing 0, Adjacent: a = x[2i], b = x[2i+1]         (FLUX, Lumina: complex view of adjacent pairs)
//   pairing 1, Halves:   a = x[i],  b = x[i + D/2]      (HF rotate_half: Gemma, Llama)
//   rotary_bf16          tables in bf16
//   rotary_bf16_f32table tables in fp32 (preferred: a bf16 cos/sin costs 2⁻⁹ relative on every rotated
//                        feature on top of the output rounding; the backend reads whichever it was given)
// Shape: one thread per output element (it reads its own feature and its partner: 2 loads, 1 store);
// bandwidth-bound. Fusing RoPE into the QKV projection epilogue or the attention prologue is a follow-up.
#include "common.cuh"

template <typename TT>
__device__ __forceinline__ void rotary(const bf16* x, const TT* cos_t, const TT* sin_t, bf16* out, u64 n, int seq,
                                       int heads, int d, int pairs, int pairing) {
    const int half = d / 2;
    ACCELAES_GRID_STRIDE(e, n) {
        const int f = (int)(e % d);
        const u64 row = e / d;                     // (b·S + s)·H + h
        const int s = (int)(row / heads % seq);
        int pair = -1;
        bool first = false;                        // is this feature the a of its pair?
        u64 partner = 0;
        if (pairing == 0) {
            if (f < 2 * pairs) { pair = f >> 1; first = (f & 1) == 0; partner = first ? e + 1 : e - 1; }
        } else {
            if (f < pairs) { pair = f; first = true; partner = e + half; }
            else if (f >= half && f < half + pairs) { pair = f - half; first = false; partner = e - half; }
        }
        if (pair < 0) {
            out[e] = x[e];
            continue;
        }
        const float c = load_f32(cos_t, (u64)s * pairs + pair);
        const float sn = load_f32(sin_t, (u64)s * pairs + pair);
        const float self = bf16_to_f32(x[e]);
        const float other = bf16_to_f32(x[partner]);
        // first: a' = a·c − b·s (self = a, other = b); second: b' = b·c + a·s (self = b, other = a)
        out[e] = f32_to_bf16(first ? self * c - other * sn : self * c + other * sn);
    }
}

extern "C" __global__ void rotary_bf16(const bf16* __restrict__ x, const bf16* __restrict__ cos_t,
                                       const bf16* __restrict__ sin_t, bf16* __restrict__ out, u64 n, int seq,
                                       int heads, int d, int pairs, int pairing) {
    rotary(x, cos_t, sin_t, out, n, seq, heads, d, pairs, pairing);
}

extern "C" __global__ void rotary_bf16_f32table(const bf16* __restrict__ x, const float* __restrict__ cos_t,
                                                const float* __restrict__ sin_t, bf16* __restrict__ out, u64 n,
                                                int seq, int heads, int d, int pairs, int pairing) {
    rotary(x, cos_t, sin_t, out, n, seq, heads, d, pairs, pairing);
}
