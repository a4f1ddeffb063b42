// attention_splitkv.cu — the merge of split-KV attention (issue 16, attention item 3).
//
// When a call's grid of query tiles is too small to fill the GPU (AccelAes's sparse focus-query steps: FLUX at 25 %
// focus launches 288 CTAs of 128 rows, 2.2 waves on an H100's 132 SMs, the third wave 18 % full), attention.cu runs
// with kv_splits > 1: CTA (tile, h, b·kv_splits + s) visits only split s's share of the key tiles and writes the
// normalised fp32 partial o_s [kv_splits, B, Hq, Sq, Dv] and its natural-log log-sum-exp lse_s [kv_splits, B, Hq, Sq]
// to a workspace. This kernel combines them (FlashAttention-2's flash_fwd_splitkv + combine, Dao-AILab/flash-attention
// csrc/flash_attn/src/flash_fwd_kernel.h combine_attn_seqk_parallel, read to learn, not copied):
//   M = max_s lse_s,  w_s = exp(lse_s − M),  L = Σ_s w_s,  o = Σ_s (w_s / L)·o_s,  lse = M + log L
// — the exact softmax over all keys, since o_s = Σ_{j∈s} e^{x_j}·v_j / e^{lse_s}. A split whose lse is −∞ (no visible
// key, or no tile at all) has weight 0 and its o_s is never read (the workspace is not cleared); a row where every
// split is −∞ sees no key: zeros and lse −∞, as the unsplit kernel writes (with the accumulate epilogue: untouched).
// The output is bf16 with row stride out_stride (a column slice of a wider buffer, as attention.cu), or with
// accumulate (fp32 [Hq]) bf16(fmaf(accumulate[h], o, dst)); lse (fp32 [B, Hq, Sq]) when asked.
//
// Rounding: o is the unsplit kernel's fp32 result up to fp32 rounding of the merge (and of P's bf16 rounding against
// each split's own running max), then rounded to bf16 once: the op harness's bf16 rule (one bf16 step) against the
// unsplit kernel. expf/logf are the accurate library functions (this kernel is tiny next to the attention).
//
// Grid ceil(B·Hq·Sq / 4), block 128: one warp per output row (b, h, i); lanes walk the Dv columns.
#include "common.cuh"

extern "C" __global__ __launch_bounds__(128) void attention_splitkv_combine_bf16(
    const float* __restrict__ split_o, const float* __restrict__ split_lse, bf16* __restrict__ out,
    float* __restrict__ lse, const float* __restrict__ accumulate, int kv_splits, int batch, int sq, int hq, int dv,
    int out_stride) {
    const u64 rows = (u64)batch * hq * sq;
    const u64 row = (u64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const int i = (int)(row % sq);
    const int h = (int)((row / sq) % hq);
    const int b = (int)(row / ((u64)sq * hq));
    float m = -ACCELAES_INF;
    for (int s = 0; s < kv_splits; ++s) m = fmaxf(m, split_lse[(u64)s * rows + row]);
    bf16* dst = out + ((u64)b * sq + i) * (u64)out_stride + (u64)h * dv;
    if (m == -ACCELAES_INF) {  // no split saw a visible key
        for (int c = lane; accumulate == nullptr && c < dv; c += 32) dst[c].bits = 0;
        if (lse != nullptr && lane == 0) lse[row] = -ACCELAES_INF;
        return;
    }
    float total = 0.0f;
    for (int s = 0; s < kv_splits; ++s) total += expf(split_lse[(u64)s * rows + row] - m);  // exp(−∞) = 0
    const float inv_total = 1.0f / total;
    const float acc_scale = accumulate != nullptr ? accumulate[h] : 0.0f;
    for (int c = lane; c < dv; c += 32) {
        float y = 0.0f;
        for (int s = 0; s < kv_splits; ++s) {
            const float l = split_lse[(u64)s * rows + row];
            if (l != -ACCELAES_INF) y = fmaf(expf(l - m) * inv_total, split_o[((u64)s * rows + row) * dv + c], y);
        }
        dst[c] = f32_to_bf16(accumulate != nullptr ? fmaf(acc_scale, y, bf16_to_f32(dst[c])) : y);
    }
    if (lse != nullptr && lane == 0) lse[row] = m + logf(total);
}
