// gemm.cu — a plain strided GEMM on CUDA cores: the fallback and cross-check for cuBLASLt.
//
// Computes C[m, n] = act(Σ_k A[m·sam + k·sak] · B[n·sbn + k·sbk] + bias), m < M, n < N, k < K, bf16 operands,
// fp32 accumulation in k order, one rounding on store. Every operand is addressed through explicit element
// strides, so one kernel serves Linear (A = x [M, K] row-major: sam = K, sak = 1; B = W [N, K]: sbn = K,
// sbk = 1), Conv2d (A = W [Cout, K], B = col [K, N]: sbn = 1, sbk = N) and anything else.
//   bias_mode 0: none, 1: bias[n] (Linear), 2: bias[m] (Conv2d)     act: common.cuh ACT_* code
//   out_f32   0: C is bf16, 1: C is fp32                            C[m·scm + n·scn]
// Why it exists: the backend uses it when cuBLASLt is not installed or finds no algorithm for a shape,
// and the selftest compares cuBLASLt's GEMMs with it on the GPU. It is simple rather than fast: 64×64
// output tiles, 256 threads each computing 4×4 outputs, K in steps of 16 staged through shared memory as
// fp32, every global access bounds-checked.
//
// gemm_bf16_add_gated (issue 16, the gated residual of LinearAddGatedInPlace without cuBLASLt): the same product with
// C a bf16 residual updated in place, C[m, n] = bf16(C[m, n] + g·(Σ_k … + bias[n])), g = gate[(m / gate_rows)·N + n]
// (gate [B, N], one row of gates per batch item of gate_rows rows; null: g = 1). One rounding, of the final sum.
//
// gemm_bf16_batched (issue 16, LinearIntoRows without cuBLASLt): gemm_bf16 over gridDim.z batch items in one launch,
// item z reading A at a + z·sab and B at b + z·sbb (0: shared, the weight) and writing C at c + z·scb (element strides).
// Each item's outputs are computed exactly as gemm_bf16 computes them on the moved pointers: same bits as one launch per item.
#include "common.cuh"

#define GEMM_TILE 64
#define GEMM_KT 16

// Out of line: inlining the activation switch (erff, tanhf, expf) into all 16 unrolled stores made this file
// take 23 s to compile; a call per output element costs nothing that matters for a fallback.
__device__ __noinline__ float gemm_activation(float x, int act) { return apply_activation(x, act); }

// The tile loop shared by both entry points; GATED selects the residual epilogue (gate, gate_rows used only then).
template <bool GATED>
__device__ __forceinline__ void gemm_tiles(const bf16* __restrict__ a, const bf16* __restrict__ b, void* __restrict__ c,
                                           const bf16* __restrict__ bias, const bf16* __restrict__ gate, int m_total,
                                           int n_total, int k_total, i64 sam, i64 sak, i64 sbn, i64 sbk, i64 scm, i64 scn,
                                           int bias_mode, int act, int out_f32, i64 gate_rows) {
    __shared__ float as[GEMM_KT][GEMM_TILE + 1];
    __shared__ float bs[GEMM_KT][GEMM_TILE + 1];
    const int tid = threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    const int m0 = blockIdx.y * GEMM_TILE, n0 = blockIdx.x * GEMM_TILE;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < k_total; k0 += GEMM_KT) {
        // 64 rows × 16 k of each operand: 1024 elements, 4 per thread.
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int idx = tid + 256 * e;
            const int r = idx / GEMM_KT, kk = idx % GEMM_KT;
            const int m = m0 + r, n = n0 + r, k = k0 + kk;
            as[kk][r] = (m < m_total && k < k_total) ? bf16_to_f32(a[(i64)m * sam + (i64)k * sak]) : 0.0f;
            bs[kk][r] = (n < n_total && k < k_total) ? bf16_to_f32(b[(i64)n * sbn + (i64)k * sbk]) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GEMM_KT; ++kk) {
            float av[4], bv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) av[i] = as[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) bv[j] = bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int m = m0 + ty + 16 * i;
        if (m >= m_total) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int n = n0 + tx + 16 * j;
            if (n >= n_total) continue;
            float v = acc[i][j];
            if (bias_mode == 1) v += bf16_to_f32(bias[n]);
            else if (bias_mode == 2) v += bf16_to_f32(bias[m]);
            if (act != ACT_NONE) v = gemm_activation(v, act);
            const i64 o = (i64)m * scm + (i64)n * scn;
            if (GATED) {
                const float g = gate != nullptr ? bf16_to_f32(gate[(i64)m / gate_rows * n_total + n]) : 1.0f;
                bf16* r = static_cast<bf16*>(c);
                r[o] = f32_to_bf16(bf16_to_f32(r[o]) + g * v);
            } else if (out_f32) {
                static_cast<float*>(c)[o] = v;
            } else {
                static_cast<bf16*>(c)[o] = f32_to_bf16(v);
            }
        }
    }
}

extern "C" __global__ __launch_bounds__(256) void gemm_bf16(const bf16* __restrict__ a, const bf16* __restrict__ b,
                                                            void* __restrict__ c, const bf16* __restrict__ bias,
                                                            int m_total, int n_total, int k_total, i64 sam, i64 sak,
                                                            i64 sbn, i64 sbk, i64 scm, i64 scn, int bias_mode,
                                                            int act, int out_f32) {
    gemm_tiles<false>(a, b, c, bias, nullptr, m_total, n_total, k_total, sam, sak, sbn, sbk, scm, scn, bias_mode, act, out_f32, 1);
}

// C = residual [m_total, n_total] (row stride scm), bias [n_total] or null, gate [m_total / gate_rows, n_total] or null.
extern "C" __global__ __launch_bounds__(256) void gemm_bf16_add_gated(const bf16* __restrict__ a, const bf16* __restrict__ b,
                                                                      bf16* c, const bf16* __restrict__ bias,
                                                                      const bf16* __restrict__ gate, int m_total, int n_total,
                                                                      int k_total, i64 sam, i64 sak, i64 sbn, i64 sbk, i64 scm,
                                                                      i64 gate_rows) {
    gemm_tiles<true>(a, b, c, bias, gate, m_total, n_total, k_total, sam, sak, sbn, sbk, scm, 1, bias == nullptr ? 0 : 1,
                     ACT_NONE, 0, gate_rows);
}

// gemm_bf16 for batch item blockIdx.z: pointers moved by the batch strides (elements; C's in elements of its type).
extern "C" __global__ __launch_bounds__(256) void gemm_bf16_batched(const bf16* __restrict__ a, const bf16* __restrict__ b,
                                                                    void* __restrict__ c, const bf16* __restrict__ bias,
                                                                    int m_total, int n_total, int k_total, i64 sam, i64 sak,
                                                                    i64 sbn, i64 sbk, i64 scm, i64 scn, int bias_mode,
                                                                    int act, int out_f32, i64 sab, i64 sbb, i64 scb) {
    const i64 z = blockIdx.z;
    void* item_c = out_f32 ? static_cast<void*>(static_cast<float*>(c) + z * scb) : static_cast<void*>(static_cast<bf16*>(c) + z * scb);
    gemm_tiles<false>(a + z * sab, b + z * sbb, item_c, bias, nullptr, m_total, n_total, k_total, sam, sak, sbn, sbk, scm, scn,
                      bias_mode, act, out_f32, 1);
}
