// qkv.cu — attention inputs from fused Q/K/V projections (issue 16, the QKV path).
//
// Computes, for up to two parts (streams, e.g. FLUX's text then image) p with nₚ tokens and rows
// qkv_p [B, nₚ, (H + 2·Hkv)·D] = [q heads | k heads | v heads] (the output of one GEMM over [W_q; W_k; W_v]):
//   the joint sequence S = n₀ + n₁ (part 0's tokens first); for token s of batch item b and slot c of
//   the H + 2·Hkv head slots:
//     c < H            q[b, s, c]        = rope_s(rms(x)·wq_p)   (wq_p null: no norm)
//     c < H + Hkv      k[b, s, c − H]    = rope_s(rms(x)·wk_p)   (wk_p null: no norm)
//     otherwise        v[b, s, c − H − Hkv] = x                  (exact copy)
//   rms(x) = x·(1/√(mean(x²) + eps)) as rmsnorm_bf16 computes it (fp32 statistics, (x·mul)·w); rope_s: for
//   each adjacent pair i < P (a = x[2i], b = x[2i+1]): a' = a·cos[s, i] − b·sin[s, i], b' = b·cos[s, i] +
//   a·sin[s, i], as rotary.cu's pairing 0 (tables fp32; null: no rotation); features past 2P are copied.
//   The normalised row stays in fp32 registers through the rotation: q and k are rounded to bf16 once
//   (the separate rmsnorm_bf16 + rotary passes rounded twice: the op harness's bf16 rule, not bit-exact).
// Replaces per step, per attention: the Slice copies of q/k/v, the per-head rmsnorm_bf16 launches (one
// 32-thread block per 64–128 wide row), the text/image Concat copies and the rotary passes.
// Shape: a group of G = D/8 lanes (rounded up to a power of two, D ≤ 256) per (token, slot) row, each lane
// one 16-byte vector of 8 features; 256-thread blocks hold 256/G rows; the row's sum of squares is a
// butterfly over the group's lanes (groups never straddle a warp). Index math is 32-bit: the host checks
// that every element index fits. Needs D % 8 == 0 and 16-byte aligned rows (the host falls back to the
// separate passes otherwise).
//
// attention_inputs_layernorm_bf16: the same with Lumina's qk-norm (layer_norm_across_heads): q's H·D features
// (k's Hkv·D) of a token are LayerNormed together — mean, then biased variance of the deviations (two passes,
// as layernorm_bf16), ((x − mean)·rstd)·w + b with w, b [H·D] ([Hkv·D]) — then split into heads and rotated.
// Shape: one 256-thread block per token (the row, a few KiB, is re-read from L1/L2 per pass), 16-byte accesses.
//
// Both kernels take v = null (Fusion 13, PrepareQueryKey): q and k only, the value columns neither read nor written —
// attention then reads v where the GEMM wrote it (row stride (H + 2·Hkv)·D). attention_inputs_bf16's rows are then the
// B·S·(H + Hkv) (token, q/k slot) pairs; every q/k row's math is unchanged (the same bits).
#include "common.cuh"
#include "layernorm_rope.cuh"

// One lane's 8 features of a (token, slot) row: loaded, RMS-normalised with `norm` (null: not), rotated at position s when
// `rotate` and the tables are given, stored to dst (which may be src: each lane reads its vector before writing it). Every
// lane of the group calls it, active or not (the sum of squares is a butterfly over the group).
__device__ __forceinline__ void rms_rope_vector(const bf16* src, bf16* dst, const bf16* norm, bool rotate, bool active, int group,
                                                int col, int d, float eps, const float* cos_t, const float* sin_t, int pairs, int s) {
    float f[8];
    if (active) load_bf16x8(src, f);
    else
#pragma unroll
        for (int e = 0; e < 8; ++e) f[e] = 0.0f;

    // Every lane of the warp shuffles (rows of one warp may differ in whether they are normalised); only the
    // rows with a norm weight use the sum.
    float acc = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) acc += f[e] * f[e];
    for (int offset = group >> 1; offset > 0; offset >>= 1) acc += __shfl_xor_sync(ACCELAES_FULL_MASK, acc, offset);
    if (norm != nullptr) {
        const float mul = 1.0f / sqrtf(acc / d + eps);
        if (active) {
            float w[8];
            load_bf16x8(norm + col, w);
#pragma unroll
            for (int e = 0; e < 8; ++e) f[e] = (f[e] * mul) * w[e];
        }
    }
    if (!active) return;
    if (cos_t != nullptr && rotate) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int pair = col / 2 + i;
            if (pair < pairs) {
                const float c = cos_t[s * pairs + pair], sn = sin_t[s * pairs + pair];
                const float a = f[2 * i], bb = f[2 * i + 1];
                f[2 * i] = a * c - bb * sn;
                f[2 * i + 1] = bb * c + a * sn;
            }
        }
    }
    store_bf16x8(dst, f);
}

extern "C" __global__ __launch_bounds__(256) void attention_inputs_bf16(
    const bf16* __restrict__ part0, const bf16* __restrict__ part1, int n0, int n1,
    const bf16* __restrict__ norm_q0, const bf16* __restrict__ norm_k0,
    const bf16* __restrict__ norm_q1, const bf16* __restrict__ norm_k1,
    const float* __restrict__ cos_t, const float* __restrict__ sin_t, int pairs,
    bf16* __restrict__ q, bf16* __restrict__ k, bf16* __restrict__ v,
    int rows, int heads, int kv_heads, int d, int group_log2, float eps) {
    const int group = 1 << group_log2;
    const int lane = threadIdx.x & (group - 1);
    const int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> group_log2);
    const int slots = heads + 2 * kv_heads;
    const int row_slots = v != nullptr ? slots : heads + kv_heads; // no v: the rows are the q/k slots only
    const int seq = n0 + n1;
    const int col = lane * 8;
    // Rows past the end and lanes past the row's width still take part in the group's shuffles.
    const bool active = row < rows && col < d;

    const int token = row / row_slots;         // b·S + s
    const int slot = row - token * row_slots;
    const int b = token / seq;
    const int s = token - b * seq;
    const bool second = s >= n0;
    const int local = second ? s - n0 : s;
    const int part_tokens = second ? n1 : n0;
    const bf16* src = (second ? part1 : part0) + ((b * part_tokens + local) * slots + slot) * d + col;

    const bool is_q = slot < heads, is_k = !is_q && slot < heads + kv_heads;
    const bf16* norm = is_q ? (second ? norm_q1 : norm_q0) : is_k ? (second ? norm_k1 : norm_k0) : nullptr;
    bf16* dst = is_q ? q + (token * heads + slot) * d
              : is_k ? k + (token * kv_heads + slot - heads) * d
                     : v + (token * kv_heads + slot - heads - kv_heads) * d;
    dst += col;

    rms_rope_vector(src, dst, norm, is_q || is_k, active, group, col, d, eps, cos_t, sin_t, pairs, s);
}

// attention_inputs_inplace_bf16 (Fusion 7): the same per-head RMSNorm and RoPE on the q and k columns of one packed buffer
// qkv [B, S, (H + 2·Hkv)·D] (the parts' QKV GEMMs wrote their rows into it: part 0's n0 tokens, then part 1's n1, per batch
// item), in place; the value columns are not touched. Rows = B·S·(H + Hkv) (token, q/k slot) pairs, same lane groups.
extern "C" __global__ __launch_bounds__(256) void attention_inputs_inplace_bf16(
    bf16* qkv, int n0, int n1,
    const bf16* __restrict__ norm_q0, const bf16* __restrict__ norm_k0,
    const bf16* __restrict__ norm_q1, const bf16* __restrict__ norm_k1,
    const float* __restrict__ cos_t, const float* __restrict__ sin_t, int pairs,
    int rows, int heads, int kv_heads, int d, int group_log2, float eps) {
    const int group = 1 << group_log2;
    const int lane = threadIdx.x & (group - 1);
    const int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> group_log2);
    const int qk_slots = heads + kv_heads;
    const int seq = n0 + n1;
    const int col = lane * 8;
    const bool active = row < rows && col < d;

    const int token = row / qk_slots;          // b·S + s
    const int slot = row - token * qk_slots;
    const int s = token % seq;
    const bool second = s >= n0;
    const bool is_q = slot < heads;
    const bf16* norm = is_q ? (second ? norm_q1 : norm_q0) : (second ? norm_k1 : norm_k0);
    bf16* at = qkv + (token * (qk_slots + kv_heads) + slot) * d + col;
    rms_rope_vector(at, at, norm, true, active, group, col, d, eps, cos_t, sin_t, pairs, s);
}

// A section (q or k) of one token: LayerNorm over its `width` features when w is given, RoPE on each head's first
// `pairs` adjacent pairs when the tables are given, stored as bf16. Every thread of the block calls it (reductions).
// The arithmetic is layernorm_rope.cuh's, which attention.cu shares (Fusion 15: q normalised as the attention loads it).
__device__ __forceinline__ void layernorm_rope_section(const bf16* x, bf16* y, int width, int d, const bf16* w, const bf16* bias,
                                                       float eps, const float* cos_t, const float* sin_t, int pairs, int s,
                                                       float* scratch) {
    float mean = 0.0f, rstd = 1.0f;
    if (w != nullptr) layernorm_row_statistics(x, width, eps, scratch, mean, rstd);
    for (int c = threadIdx.x * 8; c < width; c += blockDim.x * 8) {
        float f[8];
        load_bf16x8(x + c, f);
        layernorm_rope_apply(f, layernorm_rope_params(w != nullptr ? w + c : nullptr, bias != nullptr ? bias + c : nullptr, mean, rstd,
                                                      cos_t, sin_t, pairs, s, (c % d) / 2));
        store_bf16x8(y + c, f);
    }
}

// Grid: B·S blocks (one per token of the joint sequence); block: 256 threads.
extern "C" __global__ __launch_bounds__(256) void attention_inputs_layernorm_bf16(
    const bf16* __restrict__ part0, const bf16* __restrict__ part1, int n0, int n1,
    const bf16* __restrict__ norm_q0, const bf16* __restrict__ bias_q0, const bf16* __restrict__ norm_k0, const bf16* __restrict__ bias_k0,
    const bf16* __restrict__ norm_q1, const bf16* __restrict__ bias_q1, const bf16* __restrict__ norm_k1, const bf16* __restrict__ bias_k1,
    const float* __restrict__ cos_t, const float* __restrict__ sin_t, int pairs,
    bf16* __restrict__ q, bf16* __restrict__ k, bf16* __restrict__ v,
    int heads, int kv_heads, int d, float eps) {
    __shared__ float scratch[32];
    const int token = blockIdx.x;              // b·S + s
    const int seq = n0 + n1;
    const int b = token / seq;
    const int s = token - b * seq;
    const bool second = s >= n0;
    const int local = second ? s - n0 : s;
    const int qw = heads * d, kw = kv_heads * d;
    const bf16* row = (second ? part1 : part0) + (b * (second ? n1 : n0) + local) * (qw + 2 * kw);
    layernorm_rope_section(row, q + token * qw, qw, d, second ? norm_q1 : norm_q0, second ? bias_q1 : bias_q0, eps, cos_t, sin_t,
                           pairs, s, scratch);
    layernorm_rope_section(row + qw, k + token * kw, kw, d, second ? norm_k1 : norm_k0, second ? bias_k1 : bias_k0, eps, cos_t,
                           sin_t, pairs, s, scratch);
    if (v == nullptr) return;                  // PrepareQueryKey: v stays in the packed buffer
    for (int c = threadIdx.x * 8; c < kw; c += blockDim.x * 8)
        *reinterpret_cast<uint4*>(v + token * kw + c) = *reinterpret_cast<const uint4*>(row + qw + kw + c);
}

// attention_inputs_layernorm_stats_bf16 (issue 16, Fusion 15): attention_inputs_layernorm_bf16 of one part without q and v —
// k is normalised, rotated and written as there, and of q only the LayerNorm statistics are written, q_stats [B·S] of
// (mean, rstd) fp32 pairs computed by the same code (layernorm_row_statistics): the attention kernel normalises and rotates
// q's tile as it loads it from the packed buffer (attention.cu, the q_stats parameters), so q is never written. Reads the
// q and k columns of each token's row (the q columns once more for the variance, from L1/L2), writes k and 8 bytes.
// Grid: B·S blocks; block: 256 threads.
extern "C" __global__ __launch_bounds__(256) void attention_inputs_layernorm_stats_bf16(
    const bf16* __restrict__ qkv, int seq, const bf16* __restrict__ norm_k, const bf16* __restrict__ bias_k,
    const float* __restrict__ cos_t, const float* __restrict__ sin_t, int pairs,
    float* __restrict__ q_stats, bf16* __restrict__ k, int heads, int kv_heads, int d, float eps) {
    __shared__ float scratch[32];
    const int token = blockIdx.x;              // b·S + s
    const int s = token % seq;
    const int qw = heads * d, kw = kv_heads * d;
    const bf16* row = qkv + token * (qw + 2 * kw);
    float mean, rstd;
    layernorm_row_statistics(row, qw, eps, scratch, mean, rstd);
    if (threadIdx.x == 0) {
        q_stats[2 * token] = mean;
        q_stats[2 * token + 1] = rstd;
    }
    layernorm_rope_section(row + qw, k + token * kw, kw, d, norm_k, bias_k, eps, cos_t, sin_t, pairs, s, scratch);
}
