// gemm_swiglu.cu — SwiGLU as one tensor-core GEMM with a SiLU·mul epilogue (issue 16, Fusion 11: Lumina's feed-forward).
//
// Computes, for m < M and j < F:
//   g = bf16(Σ_k x[m, k]·W[j, k]),   u = bf16(Σ_k x[m, k]·W[F + j, k])     (fp32 accumulation, each rounded once)
//   out[m, j] = bf16(silu(g) · u)                                          (fp32, one rounding; silu of common.cuh)
// with x [M, K] (row stride ldx elements), W [2F, K] the concatenated gate (rows [0, F)) and up (rows [F, 2F)) weights,
// dense, and out [M, F] (row stride ldo elements). These are exactly the roundings of the split path — a bf16 GEMM of
// N = 2F (which rounds gate and up to bf16) followed by ffn.cu's silu_mul_bf16 (fp32, one rounding) — so the two paths
// differ only by the GEMM's order of accumulation. What the fusion saves: the [M, 2F] GEMM output is never stored and
// silu_mul's pass (read 2F, write F per row: 6 bytes per output) disappears; the GEMM writes [M, F] instead of [M, 2F].
//
// Shape of the kernel: one CTA of 8 warps owns 128 rows × 64 output features, i.e. 64 gate rows and the 64 matching up
// rows of W (B tile = 128 weight rows: gate features n0..n0+63 in tile rows 0-63, their up rows in tile rows 64-127).
// K is walked in steps of 32 through a 3-stage cp.async pipeline (each stage x [128][40] + W [128][40] bf16 = 20,480 B;
// 61,440 B of dynamic shared memory, above the 48 KiB default: KernelLauncher opts in, and every sm_80+ part allows it
// per block). Warp w owns rows 64·(w / 4) .. +63 and features 16·(w % 4) .. +15 of BOTH the gate and the up tile
// (4 m16 tiles × 2 n8 tiles each: 64 fp32 accumulators per thread), so the thread that holds g of an output also holds
// its u and the epilogue needs no exchange through shared memory. Products: mma.m16n8k16 bf16 with fp32 accumulators;
// A fragments from ldmatrix.x4 of the x tile, B fragments from ldmatrix.x4 of the W tile (W is [feature][k] in shared
// memory, which is the mma's "col" B operand, as K is in attention.cu). Rows are padded by 8 elements (80 bytes): the 8
// row addresses of each ldmatrix phase then fall in 8 distinct 4-bank groups, conflict-free without a swizzle.
// One __syncthreads per K step: the stage refilled at step t is the one computed at step t − 1.
//
// Tails: rows past M and features past F are zero-filled by cp.async (src-size 0) and never stored; K is zero-filled
// past its end in 8-element chunks. Limits (the host checks them and runs the split path otherwise): K % 8 == 0 and
// ldx % 8 == 0 with x and W 16-byte aligned (every cp.async chunk is 16 aligned bytes); K ≥ 1; ceil(M / 128) ≤ 65535
// (grid y). Stores are two bf16 (4 bytes) at a time when ldo is even and out 4-byte aligned, one at a time otherwise.
// Registers: __launch_bounds__(256, 2) caps a thread at 128, so two CTAs (16 warps, 120 KiB of shared memory) fit an
// SM where its shared memory allows (sm_80, sm_90); the 100 KiB parts (sm_86/89/120) run one.
// No timings here: the kernel was written and checked on the emulator only; `--swiglu-gemm auto` measures it against
// cuBLASLt + silu_mul per shape on the card (CudaBackend.SwiGlu.cs).
#include "common.cuh"
#include "mma.cuh"

#define SG_BM 128     // rows of x per CTA
#define SG_BN 64      // output features per CTA (gate and up rows of W: 2·SG_BN)
#define SG_BK 32      // K per pipeline step
#define SG_STAGES 3
#define SG_STRIDE (SG_BK + 8)                        // padded shared row, elements
#define SG_STAGE_ELEMS ((SG_BM + 2 * SG_BN) * SG_STRIDE)  // x tile, then W tile

extern __shared__ __align__(16) unsigned char sg_smem[];

// Issues the cp.async copies of K step `kt` into `stage`: x rows [m0, m0 + 128), W rows n0.. (gate) and f + n0.. (up).
__device__ __forceinline__ void sg_load_stage(bf16* stage, const bf16* __restrict__ x, const bf16* __restrict__ w, int m, int f,
                                              int k, u64 ldx, int m0, int n0, int kt) {
    constexpr int CHUNKS = SG_BK / 8;  // 16-byte chunks per row of a stage
    const int k0 = kt * SG_BK;
    bf16* const sx = stage;
    bf16* const sw = stage + SG_BM * SG_STRIDE;
#pragma unroll
    for (int i = 0; i < SG_BM * CHUNKS / 256; ++i) {
        const int c = threadIdx.x + i * 256;
        const int r = c / CHUNKS;
        const int col = (c % CHUNKS) * 8;
        const bool inside = m0 + r < m && k0 + col < k;  // k % 8 == 0: a chunk is all in or all out
        const bf16* src = inside ? x + (u64)(m0 + r) * ldx + k0 + col : x;  // 0 bytes are read from x itself
        cp_async_16(smem_u32(sx + r * SG_STRIDE + col), src, inside ? 16 : 0);
    }
#pragma unroll
    for (int i = 0; i < 2 * SG_BN * CHUNKS / 256; ++i) {
        const int c = threadIdx.x + i * 256;
        const int r = c / CHUNKS;                  // tile row: gate feature r, or up feature r − 64
        const int col = (c % CHUNKS) * 8;
        const int feature = n0 + (r % SG_BN);
        const int w_row = (r < SG_BN ? 0 : f) + feature;
        const bool inside = feature < f && k0 + col < k;
        const bf16* src = inside ? w + (u64)w_row * (u64)k + k0 + col : w;
        cp_async_16(smem_u32(sw + r * SG_STRIDE + col), src, inside ? 16 : 0);
    }
}

// out [m, f] (row stride ldo) = bf16(silu(bf16(x·W_gateᵀ)) · bf16(x·W_upᵀ)); x [m, k] (row stride ldx); w [2f, k].
// Grid (ceil(f / 64), ceil(m / 128)), 256 threads, 61,440 B of dynamic shared memory.
extern "C" __global__ __launch_bounds__(256, 2) void gemm_swiglu_bf16(const bf16* __restrict__ x, const bf16* __restrict__ w, bf16* __restrict__ out, int m, int f, int k, i64 ldx, i64 ldo) {
    bf16* const smem = reinterpret_cast<bf16*>(sg_smem);
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int g = lane >> 2;   // fragment row group
    const int tq = lane & 3;   // fragment column pair
    const int wm = warp >> 2;  // this warp's 64 rows: wm·64 ..
    const int wn = warp & 3;   // this warp's 16 features: wn·16 ..
    const int n0 = blockIdx.x * SG_BN;
    const int m0 = blockIdx.y * SG_BM;
    const int ktiles = (k + SG_BK - 1) / SG_BK;

    float gate[4][2][4], up[4][2][4];  // [m16 tile][n8 tile][fragment element]
#pragma unroll
    for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) gate[mt][nt][e] = up[mt][nt][e] = 0.0f;

    // Prologue: steps 0 .. STAGES−2 in flight. A group is committed even when empty, so the wait count below is uniform.
#pragma unroll
    for (int s = 0; s < SG_STAGES - 1; ++s) {
        if (s < ktiles) sg_load_stage(smem + s * SG_STAGE_ELEMS, x, w, m, f, k, (u64)ldx, m0, n0, s);
        cp_async_commit();
    }

    for (int kt = 0; kt < ktiles; ++kt) {
        cp_async_wait<SG_STAGES - 2>();  // step kt has landed (this thread's copies) ...
        __syncthreads();                 // ... everyone's; and step kt − 1's stage is no longer read by any warp
        const int next = kt + SG_STAGES - 1;
        if (next < ktiles) sg_load_stage(smem + (next % SG_STAGES) * SG_STAGE_ELEMS, x, w, m, f, k, (u64)ldx, m0, n0, next);
        cp_async_commit();

        const bf16* sx = smem + (kt % SG_STAGES) * SG_STAGE_ELEMS;
        const bf16* sw = sx + SG_BM * SG_STRIDE;
#pragma unroll
        for (int ks = 0; ks < SG_BK / 16; ++ks) {
            // B fragments: features wn·16 .. +15 of the gate tile (rows 0-63) and of the up tile (rows 64-127); one
            // ldmatrix.x4 gives n8 tile 0 (b0, b1) and n8 tile 1 (b2, b3) of one k16 step.
            const int feature = wn * 16 + (lane & 7) + (lane >> 4) * 8;
            const int col = ks * 16 + ((lane >> 3) & 1) * 8;
            u32 bg[4], bu[4];
            ldmatrix_x4(bg[0], bg[1], bg[2], bg[3], smem_u32(sw + feature * SG_STRIDE + col));
            ldmatrix_x4(bu[0], bu[1], bu[2], bu[3], smem_u32(sw + (SG_BN + feature) * SG_STRIDE + col));
#pragma unroll
            for (int mt = 0; mt < 4; ++mt) {
                // A fragment of rows wm·64 + mt·16 .. +15: matrices (rows 0-7 | 8-15) × (k 0-7 | 8-15).
                const int r = wm * 64 + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
                const int c = ks * 16 + (lane >> 4) * 8;
                u32 a[4];
                ldmatrix_x4(a[0], a[1], a[2], a[3], smem_u32(sx + r * SG_STRIDE + c));
                mma_bf16_16816(gate[mt][0], a, bg[0], bg[1]);
                mma_bf16_16816(gate[mt][1], a, bg[2], bg[3]);
                mma_bf16_16816(up[mt][0], a, bu[0], bu[1]);
                mma_bf16_16816(up[mt][1], a, bu[2], bu[3]);
            }
        }
    }
    cp_async_wait<0>();  // no copy may outlive the CTA (the trailing groups are empty, but keep the rule)

    // Epilogue: element e of (mt, nt) is row g + 8·(e / 2), feature nt·8 + 2·tq + e % 2 of the warp's tile. Gate and up
    // are rounded to bf16 as the split path's GEMM output is, then SiLU·mul in fp32 and one rounding (silu_mul_bf16).
    const bool pairs = (ldo & 1) == 0 && (reinterpret_cast<u64>(out) & 3) == 0;
#pragma unroll
    for (int mt = 0; mt < 4; ++mt) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int row = m0 + wm * 64 + mt * 16 + g + half * 8;
            if (row >= m) continue;
            bf16* const out_row = out + (u64)row * (u64)ldo;
#pragma unroll
            for (int nt = 0; nt < 2; ++nt) {
                const int j = n0 + wn * 16 + nt * 8 + 2 * tq;
                bf16 y[2];
#pragma unroll
                for (int p = 0; p < 2; ++p) {
                    const float gv = bf16_to_f32(f32_to_bf16(gate[mt][nt][half * 2 + p]));
                    const float uv = bf16_to_f32(f32_to_bf16(up[mt][nt][half * 2 + p]));
                    y[p] = f32_to_bf16(silu(gv) * uv);
                }
                if (pairs && j + 1 < f) {
                    *reinterpret_cast<u32*>(out_row + j) = (u32)y[0].bits | ((u32)y[1].bits << 16);
                } else {
                    if (j < f) out_row[j] = y[0];
                    if (j + 1 < f) out_row[j + 1] = y[1];
                }
            }
        }
    }
}
