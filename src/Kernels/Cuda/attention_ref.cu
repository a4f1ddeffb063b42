// attention_ref.cu — plain, obviously-correct attention: one warp per query row, everything in fp32.
//
// Computes exactly what attention.cu computes (same layouts, GQA, key mask, causal offset Sk − Sq, score
// bias, fully masked rows → zeros, optional natural-log lse, optional affinity Σ_j P_j·key_weights[b, j]),
// the way the CPU reference does it:
//   pass 1: m = max_j s_j          (s_j = scale·q·k_j + bias, −∞ where masked)
//   pass 2: o = Σ_j exp(s_j − m)·v_j / Σ_j exp(s_j − m)
// Why it exists: the selftest cross-checks the tensor-core kernel against it on the GPU (same inputs,
// no bf16 rounding of P), and the backend falls back to it where the fast kernel has no specialisation
// (head dims 129–256, e.g. Gemma's 256). It is slow: every score is a warp-wide dot product (lanes split
// the head dim, d = lane + 32·r) and keys are visited twice. Head dims up to 256 (8 values per lane).
#include "common.cuh"

#define REF_MAX_PER_LANE 8  // head dims ≤ 32·8 = 256

struct RefRow {
    const bf16* k;
    const float* key_mask;
    const bf16* bias_row;  // bias for this (b, h, i), or null
    float q[REF_MAX_PER_LANE];
    u64 k_stride;
    int d, sk, limit;      // limit: last visible key under causal masking (sk − 1 otherwise)
    float scale;
};

// Score of key j in fp32 (identical in every lane), −∞ when the key is masked.
__device__ __forceinline__ float ref_score(const RefRow& r, int j, int lane) {
    const bf16* kr = r.k + (u64)j * r.k_stride;
    float part = 0.0f;
#pragma unroll
    for (int e = 0; e < REF_MAX_PER_LANE; ++e) {
        const int dd = lane + 32 * e;
        if (dd < r.d) part += r.q[e] * bf16_to_f32(kr[dd]);
    }
    float s = warp_reduce_sum(part) * r.scale;
    if (r.bias_row != nullptr) s += bf16_to_f32(r.bias_row[j]);
    const bool visible = j <= r.limit && (r.key_mask == nullptr || r.key_mask[j] != 0.0f);
    return visible ? s : -ACCELAES_INF;
}

// Grid ceil(B·Sq·Hq / (blockDim.x / 32)), any block size that is a multiple of 32. out_stride: elements between
// consecutive query tokens of out (Hq·Dv when dense, more when out is a column slice of a wider buffer);
// q/k/v_row_stride the same for the inputs (more than Hq·D / Hkv·D / Hkv·Dv in a packed QKV buffer).
// accumulate: fp32 [Hq] or null; when given, out is read and each element becomes bf16(out + accumulate[h]·o).
extern "C" __global__ void attention_ref_bf16(const bf16* __restrict__ q, const bf16* __restrict__ k,
                                              const bf16* __restrict__ v, bf16* __restrict__ out,
                                              float* __restrict__ lse, const float* __restrict__ key_mask,
                                              const bf16* __restrict__ bias, const float* __restrict__ key_weights,
                                              float* __restrict__ affinity, int batch, int sq, int sk, int hq,
                                              int hkv, int d, int dv, float scale, int causal, int bias_per_batch,
                                              int out_stride, const float* __restrict__ accumulate,
                                              int q_row_stride, int k_row_stride, int v_row_stride) {
    const int lane = threadIdx.x & 31;
    const u64 row = (u64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);  // ((b·Sq + i)·Hq + h)
    if (row >= (u64)batch * sq * hq) return;  // whole warps leave together
    const int h = (int)(row % hq);
    const int i = (int)(row / hq % sq);
    const int b = (int)(row / hq / sq);
    const int kh = h / (hq / hkv);

    RefRow r;
    r.k = k + (u64)b * sk * k_row_stride + (u64)kh * d;
    r.k_stride = (u64)k_row_stride;
    r.key_mask = key_mask == nullptr ? nullptr : key_mask + (u64)b * sk;
    r.bias_row = bias == nullptr ? nullptr : bias + (((u64)(bias_per_batch ? b : 0) * hq + h) * sq + i) * sk;
    r.d = d;
    r.sk = sk;
    r.limit = causal ? i + (sk - sq) : sk - 1;
    r.scale = scale;
    const bf16* qr = q + ((u64)b * sq + i) * q_row_stride + (u64)h * d;
#pragma unroll
    for (int e = 0; e < REF_MAX_PER_LANE; ++e) {
        const int dd = lane + 32 * e;
        r.q[e] = dd < d ? bf16_to_f32(qr[dd]) : 0.0f;
    }

    float m = -ACCELAES_INF;
    for (int j = 0; j < sk; ++j) m = fmaxf(m, ref_score(r, j, lane));

    bf16* orow = out + ((u64)b * sq + i) * (u64)out_stride + (u64)h * dv;  // out_stride ≥ Hq·Dv: see attention.cu
    if (m == -ACCELAES_INF) {  // every key masked: zeros, like the CPU reference
        for (int dd = lane; accumulate == nullptr && dd < dv; dd += 32) orow[dd].bits = 0;  // accumulating: adds zero
        if (lse != nullptr && lane == 0) lse[((u64)b * hq + h) * sq + i] = -ACCELAES_INF;
        if (affinity != nullptr && lane == 0) affinity[((u64)b * hq + h) * sq + i] = 0.0f;
        return;
    }

    const bf16* vb = v + (u64)b * sk * v_row_stride + (u64)kh * dv;
    const u64 v_stride = (u64)v_row_stride;
    float sum = 0.0f, weighted = 0.0f;
    float acc[REF_MAX_PER_LANE];
#pragma unroll
    for (int e = 0; e < REF_MAX_PER_LANE; ++e) acc[e] = 0.0f;
    for (int j = 0; j < sk; ++j) {
        const float s = ref_score(r, j, lane);
        if (s == -ACCELAES_INF) continue;  // uniform across the warp
        const float p = expf(s - m);
        sum += p;
        if (key_weights != nullptr) weighted += p * key_weights[(u64)b * sk + j];
        const bf16* vr = vb + (u64)j * v_stride;
#pragma unroll
        for (int e = 0; e < REF_MAX_PER_LANE; ++e) {
            const int dd = lane + 32 * e;
            if (dd < dv) acc[e] += p * bf16_to_f32(vr[dd]);
        }
    }
#pragma unroll
    for (int e = 0; e < REF_MAX_PER_LANE; ++e) {
        const int dd = lane + 32 * e;
        if (dd < dv) orow[dd] = f32_to_bf16(accumulate != nullptr ? fmaf(accumulate[h], acc[e] / sum, bf16_to_f32(orow[dd])) : acc[e] / sum);
    }
    if (lse != nullptr && lane == 0) lse[((u64)b * hq + h) * sq + i] = m + logf(sum);
    if (affinity != nullptr && lane == 0) affinity[((u64)b * hq + h) * sq + i] = weighted / sum;
}
