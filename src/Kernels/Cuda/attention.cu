// attention.cu — fused multi-head attention forward (FlashAttention-2 style), bf16 in/out, fp32 softmax.
//
// Computes, per batch b, query head h and query i:
//   s_j = scale·(q_i · k_j) + bias[(b,) h, i, j]               (bias optional, [Hq,Sq,Sk] or [B,Hq,Sq,Sk])
//   s_j = −∞ where key_mask[b, j] == 0, or (causal) j > i + (Sk − Sq), or j ≥ Sk (tile tail)
//   o_i = Σ_j softmax(s)_j · v_j ; a row whose keys are all masked is written as zeros (lse = −∞)
// with q [B,Sq,Hq,D], k [B,Sk,Hkv,D], v [B,Sk,Hkv,Dv] row-major with q_row_stride / k_row_stride / v_row_stride
// elements between consecutive tokens (Hq·D, Hkv·D, Hkv·Dv when contiguous; larger when q, k and v are column slices
// of one packed [B, S, (Hq + 2·Hkv)·D] QKV GEMM output, read in place: issue 16, Fusion 7), o [B,Sq,Hq,Dv] row-major with
// out_stride elements between consecutive tokens (Hq·Dv when dense; larger when o is a column slice of a wider
// [B, Sq, C] buffer, so that FLUX's cat(attention, mlp) needs no copy: issue 16) and
// grouped-query attention: query head h reads key/value head h / (Hq / Hkv). Optionally writes the
// natural-log log-sum-exp of each row's scaled scores to lse [B, Hq, Sq] (FlashAttention's softmax_lse),
// which split-KV and sequence-parallel merges need, and optionally AesMask's affinity
//   affinity[b, h, i] = Σ_j softmax(s)_j · key_weights[b, j]   (fp32 [B, Hq, Sq]; 0 for a row that sees no key)
// without materialising the probabilities: a running weighted sum a is kept next to the row sum l, rescaled
// by the same exp2(m_old − m_new), and a / l is written at the end (both from the fp32 P).
//
// Shape of the kernel (FlashAttention-2, arXiv 2307.08691 §3): one CTA of WARPS warps owns a tile of
// BLOCK_M = 16·WARPS queries of one (b, h); each warp owns 16 query rows, so the softmax needs no
// cross-warp reduction. K/V are streamed in tiles of FA_BLOCK_N keys through shared memory, two stages
// (cp.async prefetch of tile t+1 while tile t is computed). Q is read into registers once, as mma A
// fragments, before the loop; S = Q·Kᵀ and O += P·V run on tensor cores (mma m16n8k16, fp32 accumulation).
// Softmax is online: running row max m and row sum l in fp32 registers, in the log2 domain (so exp is one
// ex2.approx), O rescaled by exp2(m_old − m_new) when the max grows, divided by l once at the end. The softmax
// scale is folded into the exponent as in FlashAttention-2 (Dao-AILab/flash-attention csrc/flash_attn/src/softmax.h,
// read, not copied): m is the max of the raw dot products and p = exp2(fmaf(s, scale·log2 e, −m·scale·log2 e)), one
// FMA per score. Against the former round(s·scale·log2 e) − m this drops one rounding of the exponent's argument:
// the fp32 P moves by at most a few ulps (relative ≈ |argument|·2⁻²⁴), below bf16's half step (2⁻⁹) by far, so an
// output moves by at most one bf16 step where it sat on a rounding boundary (op harness: the bf16 rule). With a
// score bias (or a scale ≤ 0) the scores are scaled and biased first and the fold factor is 1: that path is unchanged. P is rounded to bf16 for the P·V mma (as FlashAttention does); l sums the
// fp32 P.
//
// Head dims: the kernel is compiled for padded head dims DP ∈ {32, 64, 80, 128}; D and Dv ≤ DP are
// zero-padded in shared memory (zero Q/K columns add nothing to the dot products, padded O columns are never
// stored). Lumina's 72 runs as 80, the tiny test models (8–32) as 32, 81–128 as 128 (a DP = 96 instance
// spilled 8 bytes on sm_80 and cost 4 s of NVRTC time). Head dims above 128 use attention_ref.cu (a
// 256-wide variant would need Q kept in shared memory to stay under 255 registers: a follow-up). Rows of
// Q/K/V are copied 16 bytes at a time with cp.async when every row start is 16-byte aligned: D (resp. Dv) and
// the row stride multiples of 8 elements and the base pointer 16-byte aligned (fa_rows_aligned; a packed QKV
// buffer's k and v slices start Hq·D and (Hq + Hkv)·D elements in); otherwise element by element (slow, exact).
//
// K and V of a tile are separate cp.async groups (the order of issue: Q, K0, V0, then K(t+1), V(t+1) at the top of
// iteration t): the kernel waits for K(t), computes S = Q·Kᵀ and the softmax, and only then waits for V(t) (one more
// barrier per tile) before P·V, so V's transfer overlaps the QKᵀ mma and the softmax instead of delaying them.
//
// Shared memory: two stages, each K [64][DP+8] then V [64][DP+8] bf16, = 512·(DP+8) bytes (69,632 B at
// DP = 128). Q has no buffer of its own: it is loaded into stage 1, moved to registers (ldmatrix) while
// tile 0 is still landing in stage 0, and stage 1 is then free for tile 1's prefetch. The price is that
// tile 1's prefetch starts once Q has landed instead of together with tile 0 (about one global-memory
// latency per CTA, against dozens of K/V tiles per CTA at DiT sequence lengths); the gain is the
// 128·(DP+8)·2 bytes of a separate Q [64] buffer (twice that in a 128-row CTA). The old layout, Q [64] +
// K, V [2][64] = 640·(DP+8) B (87,040 B at DP = 128), fit only one 4-warp CTA per SM at DP = 80 and 128 on
// the 100 KB parts (sm_86/89/120), and at DP = 128 on sm_80 too (2 × (87,040 + 1,024 reserved) > 164 KiB).
// The +8 elements of padding per row make every ldmatrix phase (8 rows × 16 bytes) hit 8 distinct 4-bank
// groups for all the DP above, i.e. conflict-free without a swizzle.
//
// Variants (entry points attention_fwd_d<DP>_<variant>_bf16; the host picks one per device and call in
// AttentionPlan.cs from the device's shared-memory, thread, block and register limits):
//   m128  8 warps, BLOCK_M = 128 (the default): FlashAttention-2's large CTA. Every K/V tile is loaded from
//         global memory and written to shared memory once per 128 queries instead of 64, and one CTA of 8
//         warps fits every sm_80+ part (69.6 KB at DP = 128 < the 99 KB per-block opt-in of sm_86/89/120),
//         so at least 8 warps per SM run at every DP: softmax, barriers and ldmatrix latency of one warp hide
//         behind the others' mma. __launch_bounds__(256, 1): ≤ 255 registers, i.e. 8 warps always fit by
//         registers (65,536 per SM).
//   m64   4 warps, BLOCK_M = 64: twice the CTAs. Chosen when the grid of 128-row CTAs would not give every SM
//         one (few heads × short sequences), where spreading the rows over more SMs beats the larger tile.
//         __launch_bounds__(128, 2): two CTAs (8 warps) fit by registers.
// Both use FA_BLOCK_N = 64 keys per tile and 2 stages; they differ only in WARPS, so each warp runs exactly
// the same code (same registers per thread) in both.
//
// Epilogue stores: when Dv and the output row stride are multiples of 8 and the output is 16-byte aligned (every dense
// output, and column slices at a multiple of 8 columns), each warp stages its 16 normalised fp32 rows in the then
// free shared memory and every lane stores 8 bf16 (16 bytes) at once; otherwise (Lumina's 72 with a slice offset,
// odd head dims) two bf16 per fragment as before. Same value and rounding per element either way: bit-identical.
//
// Accumulate epilogue (issue 16, Fusion 8; the last parameter, `accumulate`): given an fp32 [Hq] vector s, the kernel
// reads its destination instead of overwriting it and stores bf16(fmaf(s[h], o, o_dst)) — o the normalised fp32 output,
// one rounding, no attention output tensor. Lumina-Next's block mixes its attentions as A_self + tanh(gate)[h]·A_cross:
// the cross-attention adds itself into the self-attention's output (AttentionAddScaledInto), which removes the separate
// add_scaled pass (6 bytes per element) and the cross output's write (2 bytes) for 4 bytes of epilogue reads. A row that
// sees no key adds zero: the early-out path (no key tile) leaves the destination untouched. attention_ref.cu has the same
// epilogue. Plain calls pass null and store exactly as before.
//
// Split-KV (issue 16, attention item 3; the last three parameters, split_o, split_lse, kv_splits): AccelAes's sparse
// focus-query steps launch few CTAs (FLUX at 25 % focus: 12 × 24 = 288 CTAs of 128 rows, 2.2 waves on an H100's 132 SMs,
// the third wave 18 % full). With kv_splits = n > 1 the grid's z is B·n (z = b·n + s) and CTA (tile, h, b·n + s) visits
// only split s's share of its key tiles, [s·ceil(T/n), min((s+1)·ceil(T/n), T)) of its T tiles (T as above: all, or the
// causal prefix, so causal masks are handled; a split with no tile writes lse −∞ and nothing else). Instead of the
// epilogue above it writes its normalised fp32 o and its lse (natural log, the same formula as the lse output) to the
// workspace split_o [n, B, Hq, Sq, Dv] / split_lse [n, B, Hq, Sq]; attention_splitkv.cu merges the splits with the
// log-sum-exp weights into the bf16 output (out_stride, accumulate epilogue, lse). The affinity output is not merged: the
// host never splits calls that ask for it (AttentionPlan; CudaBackend.SplitKv.cs). kv_splits = 1 with null workspaces is
// the unsplit kernel, unchanged (t_begin = 0, t_end = T). The plan splits on its own only non-causal calls under 2.5
// waves with at least 4 key tiles per split (AttentionPlan.ChooseKvSplits: FlashAttention-2's wave-efficiency rule).
//
// Query normalised as it loads (issue 16, Fusion 15; the last six parameters, q_stats, q_norm, q_bias, q_cos, q_sin,
// q_pairs): Lumina's q is LayerNormed across all its heads (H·D features per token) and rotated before attention. With
// q_stats given, q points at the packed QKV GEMM output's raw q columns and the kernel finishes q itself: once the Q tile
// has landed in shared memory (stage 1) and before the ldmatrix into registers, every element becomes
// bf16(rope(((x − mean)·rstd)·w + b)) with the row's (mean, rstd) from q_stats [B·Sq] (attention_inputs_layernorm_stats_bf16),
// w, b the [Hq·D] norm weight and bias (head h's slice; b may be null), RoPE at the query's position (tables [Sq, q_pairs]
// fp32; null: none) — layernorm_rope.cuh's code, the same as qkv.cu's, so the tile holds exactly the q that
// attention_inputs_layernorm_bf16 would have written (0.9 GB per dense Lumina step at 1024² neither written nor read back).
// It costs each CTA one pass over its BLOCK_M × D tile (a few hundred FLOPs per row against Sk·D·4 for the row's attention);
// at DP ≤ 80 the parameters' loads are issued before the wait for Q (FaQueryNorm below). The branch is uniform per launch
// and outside the key loop; null q_stats is the plain kernel. Split-KV CTAs each do it.
//
// Tuning knobs (should not affect results, only speed): the variants above, FA_BLOCK_N. Performance targets
// for the H100 (later, measured by `accelaes bench`): ≥ 300 TFLOP/s at hd 128, ≥ 250 at hd 64 for 4k–4.6k
// tokens.
#include "common.cuh"
#include "mma.cuh"
#include "layernorm_rope.cuh"

#define FA_BLOCK_N 64
#define FA_LOG2E 1.4426950408889634f
#define FA_LN2 0.6931471805599453f

extern __shared__ __align__(16) unsigned char fa_smem[];

// Copies rows [0, rows_valid) × columns [0, cols) of a row-major global tile (row stride g_stride elements)
// into shared rows of DP+8 elements; everything else of the ROWS × DP tile becomes zero.
template <int DP, int ROWS, int THREADS>
__device__ __forceinline__ void fa_load_tile(bf16* s, const bf16* g, u64 g_stride, int rows_valid, int cols, bool vec) {
    constexpr int STRIDE = DP + 8;
    constexpr int CHUNKS = DP / 8;  // 16-byte chunks per row
    if (vec) {
        for (int c = threadIdx.x; c < ROWS * CHUNKS; c += THREADS) {
            const int r = c / CHUNKS;
            const int col = (c % CHUNKS) * 8;
            const bool inside = r < rows_valid && col < cols;  // cols % 8 == 0: a chunk is all in or all out
            const bf16* src = inside ? g + (u64)r * g_stride + col : g;  // g is valid; 0 bytes are read from it
            cp_async_16(smem_u32(s + r * STRIDE + col), src, inside ? 16 : 0);
        }
    } else {
        for (int e = threadIdx.x; e < ROWS * DP; e += THREADS) {
            const int r = e / DP;
            const int col = e % DP;
            bf16 v;
            v.bits = 0;
            if (r < rows_valid && col < cols) v = g[(u64)r * g_stride + col];
            s[r * STRIDE + col] = v;
        }
    }
}

// An output element: the normalised o, or with the accumulate epilogue dst + s·o in fp32 (one rounding, to bf16).
__device__ __forceinline__ bf16 fa_output(const bf16* dst, float o, bool accumulate, float s) {
    return f32_to_bf16(accumulate ? fmaf(s, o, bf16_to_f32(*dst)) : o);
}

// Whether every row start of a [tokens, heads, cols] view with `stride` elements between tokens is 16-byte aligned
// (cp.async's 16-byte path): columns, stride and base all multiples of 8 bf16.
__device__ __forceinline__ bool fa_rows_aligned(const bf16* base, int cols, int stride) {
    return (cols & 7) == 0 && (stride & 7) == 0 && (reinterpret_cast<unsigned long long>(base) & 15) == 0;
}

// Fusion 15: the Q tile (rows [0, rows_valid) of queries q0.., columns [0, d) of head h) is the packed QKV GEMM's raw output;
// each element becomes what attention_inputs_layernorm_bf16 would have written — LayerNorm across heads with the row's
// statistics (stats [query] = (mean, rstd), from attention_inputs_layernorm_stats_bf16), this head's slice of the norm weight
// and bias, RoPE at position q0 + r — by layernorm_rope.cuh's code (qkv.cu's own), rounded once to bf16. One 16-byte vector of
// 8 features per thread and step (8 | d, as qkv.cu needs), STEPS a compile-time count. Two halves: fa_query_norm_params loads
// each step's weights, bias, tables and statistics into registers before the tile has landed (their latency overlaps Q's),
// fa_query_norm_apply then rewrites the landed tile in shared memory. The zero padding (rows past Sq, columns past d) stays zero.
template <int DP, int ROWS, int THREADS>
struct FaQueryNorm {
    static constexpr int CHUNKS = DP / 8;  // 16-byte vectors per row
    static constexpr int STEPS = (ROWS * CHUNKS + THREADS - 1) / THREADS;
    LayerNormRopeParams p[STEPS];
    bool active[STEPS];
};

template <int DP, int ROWS, int THREADS>
__device__ __forceinline__ void fa_query_norm_params(FaQueryNorm<DP, ROWS, THREADS>& n, const float* stats, const bf16* w, const bf16* bias,
                                                     const float* cos_t, const float* sin_t, int pairs, int q0, int rows_valid, int d) {
    constexpr int CHUNKS = FaQueryNorm<DP, ROWS, THREADS>::CHUNKS;
#pragma unroll
    for (int step = 0; step < FaQueryNorm<DP, ROWS, THREADS>::STEPS; ++step) {
        const int c = threadIdx.x + step * THREADS;
        const int r = c / CHUNKS;
        const int col = (c - r * CHUNKS) * 8;
        n.active[step] = r < ROWS && r < rows_valid && col < d;
        if (n.active[step])
            n.p[step] = layernorm_rope_params(w + col, bias != nullptr ? bias + col : nullptr, stats[2 * (q0 + r)], stats[2 * (q0 + r) + 1],
                                              cos_t, sin_t, pairs, q0 + r, col / 2);
    }
}

// Without the prefetch (DP = 128): each step loads its parameters and rewrites its vector at once.
template <int DP, int ROWS, int THREADS>
__device__ __forceinline__ void fa_query_norm_direct(bf16* s, const float* stats, const bf16* w, const bf16* bias, const float* cos_t,
                                                     const float* sin_t, int pairs, int q0, int rows_valid, int d) {
    constexpr int CHUNKS = FaQueryNorm<DP, ROWS, THREADS>::CHUNKS;
    for (int c = threadIdx.x; c < ROWS * CHUNKS; c += THREADS) {
        const int r = c / CHUNKS;
        const int col = (c - r * CHUNKS) * 8;
        if (r >= rows_valid || col >= d) continue;
        bf16* at = s + r * (DP + 8) + col;
        float f[8];
        load_bf16x8(at, f);
        layernorm_rope_apply(f, layernorm_rope_params(w + col, bias != nullptr ? bias + col : nullptr, stats[2 * (q0 + r)],
                                                      stats[2 * (q0 + r) + 1], cos_t, sin_t, pairs, q0 + r, col / 2));
        store_bf16x8(at, f);
    }
}

template <int DP, int ROWS, int THREADS>
__device__ __forceinline__ void fa_query_norm_apply(const FaQueryNorm<DP, ROWS, THREADS>& n, bf16* s) {
    constexpr int CHUNKS = FaQueryNorm<DP, ROWS, THREADS>::CHUNKS;
#pragma unroll
    for (int step = 0; step < FaQueryNorm<DP, ROWS, THREADS>::STEPS; ++step) {
        if (!n.active[step]) continue;
        const int c = threadIdx.x + step * THREADS;
        const int r = c / CHUNKS;
        bf16* at = s + r * (DP + 8) + (c - r * CHUNKS) * 8;
        float f[8];
        load_bf16x8(at, f);
        layernorm_rope_apply(f, n.p[step]);
        store_bf16x8(at, f);
    }
}

template <int DP, int WARPS>
__device__ __forceinline__ void attention_fwd(const bf16* __restrict__ q, const bf16* __restrict__ k,
                                              const bf16* __restrict__ v, bf16* __restrict__ out,
                                              float* __restrict__ lse, const float* __restrict__ key_mask,
                                              const bf16* __restrict__ bias, const float* __restrict__ key_weights,
                                              float* __restrict__ affinity, int sq, int sk, int hq, int hkv,
                                              int d, int dv, float scale, int causal, int bias_per_batch,
                                              int out_stride, const float* __restrict__ accumulate,
                                              int q_row_stride, int k_row_stride, int v_row_stride,
                                              float* __restrict__ split_o, float* __restrict__ split_lse, int kv_splits,
                                              const float* __restrict__ q_stats, const bf16* __restrict__ q_norm,
                                              const bf16* __restrict__ q_bias, const float* __restrict__ q_cos,
                                              const float* __restrict__ q_sin, int q_pairs) {
    constexpr int THREADS = 32 * WARPS;
    constexpr int BLOCK_M = 16 * WARPS;
    constexpr int STRIDE = DP + 8;
    constexpr int STAGE = 2 * FA_BLOCK_N * STRIDE;   // elements of one stage: K rows, then V rows
    static_assert(BLOCK_M <= 2 * FA_BLOCK_N, "Q is staged in one K/V stage");
    constexpr int KSTEPS = DP / 16;          // k16 steps of Q·Kᵀ over the head dim
    constexpr int DTILES = DP / 8;           // n8 tiles of O over the head dim
    constexpr int NTILES = FA_BLOCK_N / 8;   // n8 tiles of S over the keys of one tile

    bf16* const smem = reinterpret_cast<bf16*>(fa_smem);
    bf16* const sQ = smem + STAGE;  // stage 1, until Q is in registers

    const int tid = threadIdx.x;
    const int warp = tid >> 5;
    const int lane = tid & 31;
    const int g = lane >> 2;   // fragment row group
    const int tq = lane & 3;   // fragment column pair
    const int q0 = blockIdx.x * BLOCK_M;
    const int h = blockIdx.y;
    const int b = blockIdx.z / kv_splits;      // split-KV: z = b·kv_splits + split (kv_splits = 1: z = b)
    const int split = blockIdx.z % kv_splits;
    const int kh = h / (hq / hkv);
    const int offset = sk - sq;  // causal: query i sees keys j <= i + offset

    const u64 q_stride = (u64)q_row_stride;  // hq·d (resp. hkv·d, hkv·dv) when contiguous; more in a packed QKV buffer
    const u64 k_stride = (u64)k_row_stride;
    const u64 v_stride = (u64)v_row_stride;
    const u64 o_stride = (u64)out_stride;  // hq·dv for a dense o; more when o is a column slice of a wider buffer
    const bf16* q_base = q + (u64)b * sq * q_stride + (u64)h * d;      // token i at q_base + i·q_stride
    const bf16* k_base = k + (u64)b * sk * k_stride + (u64)kh * d;
    const bf16* v_base = v + (u64)b * sk * v_stride + (u64)kh * dv;
    bf16* o_base = out + (u64)b * sq * o_stride + (u64)h * dv;

    // Key tiles this CTA visits: all of them, or under causal masking only those holding a key visible to
    // the CTA's last query. None at all (Sk < Sq, early queries): every row is fully masked → zeros.
    int n_tiles = (sk + FA_BLOCK_N - 1) / FA_BLOCK_N;
    if (causal) {
        const int last_key = min(q0 + BLOCK_M, sq) - 1 + offset;
        n_tiles = min(n_tiles, last_key < 0 ? 0 : last_key / FA_BLOCK_N + 1);
    }
    // Split-KV: this CTA visits only its split's share of those tiles, [t_begin, t_end) (ceil(n_tiles / kv_splits) each;
    // the last splits may get fewer or none), and writes its partial result to the fp32 workspace (epilogue below).
    const int split_tiles = (n_tiles + kv_splits - 1) / kv_splits;
    const int t_begin = min(split * split_tiles, n_tiles);
    const int t_end = min(t_begin + split_tiles, n_tiles);
    if (split_o != nullptr && t_begin == t_end) {  // an empty split: lse −∞ (weight 0; the merge never reads its O)
        if (tid < BLOCK_M && q0 + tid < sq) split_lse[(((u64)split * (gridDim.z / kv_splits) + b) * hq + h) * sq + q0 + tid] = -ACCELAES_INF;
        return;
    }
    if (n_tiles == 0) {
        for (int e = tid; accumulate == nullptr && e < BLOCK_M * dv; e += THREADS) {  // accumulating: adds zero
            const int i = q0 + e / dv;
            if (i < sq) o_base[(u64)i * o_stride + e % dv].bits = 0;
        }
        if (lse != nullptr && tid < BLOCK_M && q0 + tid < sq) lse[((u64)b * hq + h) * sq + q0 + tid] = -ACCELAES_INF;
        if (affinity != nullptr && tid < BLOCK_M && q0 + tid < sq) affinity[((u64)b * hq + h) * sq + q0 + tid] = 0.0f;
        return;
    }

    const bool vec_qk = fa_rows_aligned(q, d, q_row_stride) && fa_rows_aligned(k, d, k_row_stride);
    const bool vec_v = fa_rows_aligned(v, dv, v_row_stride);
    fa_load_tile<DP, BLOCK_M, THREADS>(sQ, q_base + (u64)q0 * q_stride, q_stride, sq - q0, d, vec_qk);
    cp_async_commit();
    const int key_first = t_begin * FA_BLOCK_N;  // 0 unless split
    fa_load_tile<DP, FA_BLOCK_N, THREADS>(smem, k_base + (u64)key_first * k_stride, k_stride, sk - key_first, d, vec_qk);
    cp_async_commit();  // K and V of a tile are separate groups: S = Q·Kᵀ and the softmax need only K
    fa_load_tile<DP, FA_BLOCK_N, THREADS>(smem + FA_BLOCK_N * STRIDE, v_base + (u64)key_first * v_stride, v_stride, sk - key_first, dv, vec_v);
    cp_async_commit();

    u32 qf[KSTEPS][4];
    float o[DTILES][4];
#pragma unroll
    for (int i = 0; i < DTILES; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m_run[2] = {-ACCELAES_INF, -ACCELAES_INF};  // rows g and g+8, in the scores' domain (× fold: log2 domain)
    float l_run[2] = {0.0f, 0.0f};                    // this thread's part of the row sums
    float a_run[2] = {0.0f, 0.0f};                    // this thread's part of the key-weighted row sums (affinity)
    const float scale_log2 = scale * FA_LOG2E;
    // Folded scale (FlashAttention-2's softmax): without a bias, and for a positive scale (which keeps the order of the
    // scores), the raw dot products s stay as they are, the row max m is taken over them, and each probability is
    // exp2(fmaf(s, scale·log2 e, −m·scale·log2 e)) — one FMA per score instead of a multiply and a subtract, rounded once.
    // With a bias the scores are scaled and biased first (log2 domain) and the fold factor is 1 (then the FMA is the
    // plain subtraction, bit for bit as before).
    const bool fold_scale = bias == nullptr && scale_log2 > 0.0f;
    const float fold = fold_scale ? scale_log2 : 1.0f;
    const int row0 = q0 + warp * 16 + g;              // query index of fragment row g (row g+8 is row0 + 8)

    // Q → registers while tile 0 may still be landing: A fragments of this warp's 16 query rows, matrices
    // (rows 0-7 | 8-15) × (cols 0-7 | 8-15). The second barrier frees stage 1 for tile 1's prefetch.
    // q normalised as it loads (uniform per launch): its weights, tables and statistics are fetched while Q lands — except at
    // DP = 128 (8 steps per thread, not Lumina's width), where holding them would push the kernel to the 255-register cap.
    constexpr bool prefetch_qnorm = DP <= 80;
    const float* qn_stats = q_stats != nullptr ? q_stats + 2 * (u64)b * sq : nullptr;  // this batch item's tokens
    const bf16* qn_w = q_norm != nullptr ? q_norm + (u64)h * d : nullptr;                // this head's slice of [Hq·D]
    const bf16* qn_b = q_bias != nullptr ? q_bias + (u64)h * d : nullptr;
    FaQueryNorm<DP, BLOCK_M, THREADS> qnorm;
    if (prefetch_qnorm && q_stats != nullptr) fa_query_norm_params(qnorm, qn_stats, qn_w, qn_b, q_cos, q_sin, q_pairs, q0, sq - q0, d);
    cp_async_wait<2>();  // Q has landed (tile 0's K and V may not have)
    __syncthreads();
    if (q_stats != nullptr) {  // the raw q tile rewritten in place before the ldmatrix
        if (prefetch_qnorm) fa_query_norm_apply(qnorm, sQ);
        else fa_query_norm_direct<DP, BLOCK_M, THREADS>(sQ, qn_stats, qn_w, qn_b, q_cos, q_sin, q_pairs, q0, sq - q0, d);
        __syncthreads();
    }
    {
        const int r = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        const int c = (lane >> 4) * 8;
#pragma unroll
        for (int ks = 0; ks < KSTEPS; ++ks)
            ldmatrix_x4(qf[ks][0], qf[ks][1], qf[ks][2], qf[ks][3], smem_u32(sQ + r * STRIDE + ks * 16 + c));
    }
    __syncthreads();

    for (int t = t_begin; t < t_end; ++t) {
        const int stage = (t - t_begin) & 1;
        if (t + 1 < t_end) {
            const int next = (t + 1 - t_begin) & 1;
            const int key0 = (t + 1) * FA_BLOCK_N;
            bf16* const sNext = smem + next * STAGE;
            fa_load_tile<DP, FA_BLOCK_N, THREADS>(sNext, k_base + (u64)key0 * k_stride, k_stride, sk - key0, d, vec_qk);
            cp_async_commit();
            fa_load_tile<DP, FA_BLOCK_N, THREADS>(sNext + FA_BLOCK_N * STRIDE, v_base + (u64)key0 * v_stride, v_stride, sk - key0, dv, vec_v);
            cp_async_commit();
        }
        // Groups in flight, oldest first: K(t), V(t)[, K(t+1), V(t+1)]. Wait for K(t) only: V(t) may still be landing
        // while S and the softmax are computed.
        if (t + 1 < t_end) cp_async_wait<3>();
        else cp_async_wait<1>();
        __syncthreads();

        // S = Q·Kᵀ for 16 rows × 64 keys per warp. K is [key][d] in shared memory, which is exactly the
        // "col" B operand: one ldmatrix.x4 gives the B fragments of keys 0-7 and 8-15 for one k16 step.
        const bf16* sKs = smem + stage * STAGE;
        float s[NTILES][4];
#pragma unroll
        for (int i = 0; i < NTILES; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
        for (int ks = 0; ks < KSTEPS; ++ks) {
#pragma unroll
            for (int p = 0; p < NTILES / 2; ++p) {
                const int key = p * 16 + (lane & 7) + (lane >> 4) * 8;
                const int col = ks * 16 + ((lane >> 3) & 1) * 8;
                u32 b0, b1, b2, b3;
                ldmatrix_x4(b0, b1, b2, b3, smem_u32(sKs + key * STRIDE + col));
                mma_bf16_16816(s[2 * p], qf[ks], b0, b1);
                mma_bf16_16816(s[2 * p + 1], qf[ks], b2, b3);
            }
        }

        // Scale (+ bias) into the log2 domain unless the scale is folded, and mask. Element e of n-tile nt is row
        // g + 8·(e/2), key nt·8 + 2·tq + e%2 of this tile. Per-element checks run only on tiles that need them.
        const int key0 = t * FA_BLOCK_N;
        const bool need_mask = key0 + FA_BLOCK_N > sk || key_mask != nullptr || (causal && key0 + FA_BLOCK_N - 1 > q0 + offset);
#pragma unroll
        for (int nt = 0; nt < NTILES; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int i = row0 + (e >> 1) * 8;
                const int j = key0 + nt * 8 + 2 * tq + (e & 1);
                float x = fold_scale ? s[nt][e] : s[nt][e] * scale_log2;
                if (bias != nullptr && i < sq && j < sk) {
                    const u64 bias_row = ((u64)(bias_per_batch ? b : 0) * hq + h) * sq + i;
                    x += bf16_to_f32(bias[bias_row * sk + j]) * FA_LOG2E;
                }
                if (need_mask) {
                    const bool visible = j < sk && (key_mask == nullptr || key_mask[(u64)b * sk + j] != 0.0f) &&
                                         (!causal || j <= i + offset);
                    if (!visible) x = -ACCELAES_INF;
                }
                s[nt][e] = x;
            }
        }

        // Online softmax: new running max (the 4 threads of a row group hold one row between them).
        float mx[2] = {m_run[0], m_run[1]};
#pragma unroll
        for (int nt = 0; nt < NTILES; ++nt) {
            mx[0] = fmaxf(mx[0], fmaxf(s[nt][0], s[nt][1]));
            mx[1] = fmaxf(mx[1], fmaxf(s[nt][2], s[nt][3]));
        }
        float m_sub[2], alpha[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(ACCELAES_FULL_MASK, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(ACCELAES_FULL_MASK, mx[r], 2));
            // The max in the log2 domain: fold > 0, so max(s)·fold is max(s·fold), rounding included. A row with
            // nothing visible yet keeps max −∞; subtracting 0 instead keeps exp2(−∞ − m) = 0 rather than NaN, so
            // its P, O and l stay exactly zero.
            const float m_new = mx[r] * fold;
            m_sub[r] = mx[r] == -ACCELAES_INF ? 0.0f : m_new;
            alpha[r] = exp2_approx(m_run[r] * fold - m_sub[r]);  // old max −∞ → 0 (O and l are 0 then anyway)
            m_run[r] = mx[r];
        }
        float rowsum[2] = {0.0f, 0.0f};
        float rowaff[2] = {0.0f, 0.0f};
#pragma unroll
        for (int nt = 0; nt < NTILES; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                s[nt][e] = exp2_approx(fmaf(s[nt][e], fold, -m_sub[e >> 1]));
                rowsum[e >> 1] += s[nt][e];
            }
        }
        if (key_weights != nullptr) {
            const float* w = key_weights + (u64)b * sk + key0 + 2 * tq;
            const int valid = sk - key0 - 2 * tq;  // keys of this thread's columns that exist: j − key0 − 2tq < valid
#pragma unroll
            for (int nt = 0; nt < NTILES; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    if (nt * 8 + (e & 1) < valid) rowaff[e >> 1] += s[nt][e] * w[nt * 8 + (e & 1)];
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            l_run[r] = l_run[r] * alpha[r] + rowsum[r];
            a_run[r] = a_run[r] * alpha[r] + rowaff[r];
        }
#pragma unroll
        for (int dt = 0; dt < DTILES; ++dt) {
            o[dt][0] *= alpha[0];
            o[dt][1] *= alpha[0];
            o[dt][2] *= alpha[1];
            o[dt][3] *= alpha[1];
        }

        // O += P·V. The C fragments of S n-tiles 2kk and 2kk+1 are exactly the A fragment of P for keys
        // 16kk..16kk+15. V is [key][d]: the "col" B operand needs it transposed, hence ldmatrix.trans;
        // one x4 gives the B fragments of head-dim columns 0-7 and 8-15 for these 16 keys.
        const bf16* sVs = smem + stage * STAGE + FA_BLOCK_N * STRIDE;
        if (t + 1 < t_end) cp_async_wait<2>();  // V(t) has landed; tile t+1 may not have
        else cp_async_wait<0>();
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < FA_BLOCK_N / 16; ++kk) {
            u32 pa[4];
            pa[0] = pack_bf16x2(s[2 * kk][0], s[2 * kk][1]);
            pa[1] = pack_bf16x2(s[2 * kk][2], s[2 * kk][3]);
            pa[2] = pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pa[3] = pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int dp = 0; dp < DTILES / 2; ++dp) {
                const int key = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
                const int col = dp * 16 + (lane >> 4) * 8;
                u32 b0, b1, b2, b3;
                ldmatrix_x4_trans(b0, b1, b2, b3, smem_u32(sVs + key * STRIDE + col));
                mma_bf16_16816(o[2 * dp], pa, b0, b1);
                mma_bf16_16816(o[2 * dp + 1], pa, b2, b3);
            }
        }
        __syncthreads();  // the next iteration's prefetch overwrites this stage
    }

    // Epilogue: complete the row sums across the 4 threads of each row, normalise, store (or accumulate).
    // 16-byte stores when Dv and the output row stride are multiples of 8 and the output is 16-byte aligned: each warp
    // stages its 16 normalised fp32 rows in shared memory (free now: the loop ended on a barrier; 16·(DP+8) floats per
    // warp fit the two stages exactly at 8 warps), then each lane stores 8 bf16 of a row at once. The math per element
    // is the element path's (the same fp32 value, the same rounding or fmaf), so the bits are the same.
    if (split_o != nullptr) {
        // Split-KV partial: the normalised fp32 o of this split's keys and its natural-log lse, to the workspace
        // split_o [kv_splits, B, Hq, Sq, Dv] / split_lse [kv_splits, B, Hq, Sq]; attention_splitkv.cu merges them.
        const u64 row_base = ((u64)split * (gridDim.z / kv_splits) + b) * hq + h;
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            float l = l_run[r];
            l += __shfl_xor_sync(ACCELAES_FULL_MASK, l, 1);
            l += __shfl_xor_sync(ACCELAES_FULL_MASK, l, 2);
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            const int i = row0 + r * 8;
            if (i >= sq) continue;
            float* prow = split_o + ((row_base * sq) + i) * dv;
#pragma unroll
            for (int dt = 0; dt < DTILES; ++dt) {
                const int c = dt * 8 + 2 * tq;
                if (c < dv) prow[c] = o[dt][2 * r] * inv;
                if (c + 1 < dv) prow[c + 1] = o[dt][2 * r + 1] * inv;
            }
            if (tq == 0) split_lse[row_base * sq + i] = l > 0.0f ? (m_run[r] * fold + log2f(l)) * FA_LN2 : -ACCELAES_INF;
        }
        return;
    }
    const float acc_scale = accumulate != nullptr ? accumulate[h] : 0.0f;
    const bool vec_out = (dv & 7) == 0 && (out_stride & 7) == 0 && (reinterpret_cast<u64>(out) & 15) == 0;
    float* const sO = reinterpret_cast<float*>(fa_smem) + warp * 16 * STRIDE;  // this warp's rows, stride DP+8 floats
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        float l = l_run[r];
        l += __shfl_xor_sync(ACCELAES_FULL_MASK, l, 1);
        l += __shfl_xor_sync(ACCELAES_FULL_MASK, l, 2);
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // fully masked row → zeros
        const int i = row0 + r * 8;
        if (vec_out) {
#pragma unroll
            for (int dt = 0; dt < DTILES; ++dt) {
                float* srow = sO + (g + 8 * r) * STRIDE + dt * 8 + 2 * tq;
                srow[0] = o[dt][2 * r] * inv;
                srow[1] = o[dt][2 * r + 1] * inv;
            }
        } else if (i < sq) {
            bf16* orow = o_base + (u64)i * o_stride;
#pragma unroll
            for (int dt = 0; dt < DTILES; ++dt) {
                const int c = dt * 8 + 2 * tq;
                if (c < dv) orow[c] = fa_output(orow + c, o[dt][2 * r] * inv, accumulate != nullptr, acc_scale);
                if (c + 1 < dv) orow[c + 1] = fa_output(orow + c + 1, o[dt][2 * r + 1] * inv, accumulate != nullptr, acc_scale);
            }
        }
        if (lse != nullptr && tq == 0 && i < sq)
            lse[((u64)b * hq + h) * sq + i] = l > 0.0f ? (m_run[r] * fold + log2f(l)) * FA_LN2 : -ACCELAES_INF;
        if (affinity != nullptr) {
            float a = a_run[r];
            a += __shfl_xor_sync(ACCELAES_FULL_MASK, a, 1);
            a += __shfl_xor_sync(ACCELAES_FULL_MASK, a, 2);
            if (i < sq && tq == 0) affinity[((u64)b * hq + h) * sq + i] = a * inv;
        }
    }
    if (vec_out) {
        __syncthreads();  // every thread takes this branch (vec_out is uniform); a warp reads only its own rows
        constexpr int CHUNKS = DP / 8;
        for (int c = lane; c < 16 * CHUNKS; c += 32) {
            const int rr = c / CHUNKS;
            const int col = (c % CHUNKS) * 8;
            const int i = q0 + warp * 16 + rr;
            if (i >= sq || col >= dv) continue;
            const uint4 lo = *reinterpret_cast<const uint4*>(sO + rr * STRIDE + col);
            const uint4 hi = *reinterpret_cast<const uint4*>(sO + rr * STRIDE + col + 4);
            float y[8] = {__uint_as_float(lo.x), __uint_as_float(lo.y), __uint_as_float(lo.z), __uint_as_float(lo.w),
                          __uint_as_float(hi.x), __uint_as_float(hi.y), __uint_as_float(hi.z), __uint_as_float(hi.w)};
            bf16* dst = o_base + (u64)i * o_stride + col;
            if (accumulate != nullptr) {
                float prior[8];
                load_bf16x8(dst, prior);
#pragma unroll
                for (int k = 0; k < 8; ++k) y[k] = fmaf(acc_scale, y[k], prior[k]);
            }
            store_bf16x8(dst, y);
        }
    }
}

// Grid (ceil(Sq / BLOCK_M), Hq, B), block 32·WARPS threads, dynamic shared memory 512·(DP+8) bytes.
// key_mask: fp32 [B, Sk] or null; bias: bf16 [Hq,Sq,Sk] / [B,Hq,Sq,Sk] or null; lse: fp32 [B,Hq,Sq] or null;
// key_weights: fp32 [B, Sk] or null, with affinity: fp32 [B, Hq, Sq] (both or neither).
// out_stride: elements from one query token's output row to the next (≥ Hq·Dv).
// accumulate: fp32 [Hq] or null; when given, out is read and each element becomes bf16(out + accumulate[h]·o).
// q_row_stride, k_row_stride, v_row_stride: elements from one token's q (k, v) row to the next (≥ Hq·D, Hkv·D,
// Hkv·Dv; larger when q/k/v are column slices of a packed QKV buffer).
// q_stats, q_norm, q_bias, q_cos, q_sin, q_pairs: the query normalised as it loads (above); q_stats null: q is used as read.
// split_o, split_lse, kv_splits: split-KV (above); null, null, 1 for an unsplit call. Split: grid z = B·kv_splits, and
// out, lse, affinity and accumulate are not used (attention_splitkv_combine_bf16 writes the output).
// (The entry points are spelled out: the kernel catalog and the CPU emulator read them from this text.)

extern "C" __global__ __launch_bounds__(256, 1) void attention_fwd_d32_m128_bf16(
    const bf16* q, const bf16* k, const bf16* v, bf16* out, float* lse, const float* key_mask, const bf16* bias,
    const float* key_weights, float* affinity, int sq, int sk, int hq, int hkv, int d, int dv, float scale, int causal,
    int bias_per_batch, int out_stride, const float* accumulate,
    int q_row_stride, int k_row_stride, int v_row_stride, float* split_o, float* split_lse, int kv_splits,
    const float* q_stats, const bf16* q_norm, const bf16* q_bias, const float* q_cos, const float* q_sin, int q_pairs) {
    attention_fwd<32, 8>(q, k, v, out, lse, key_mask, bias, key_weights, affinity, sq, sk, hq, hkv, d, dv, scale,
        causal, bias_per_batch, out_stride, accumulate, q_row_stride, k_row_stride, v_row_stride,
        split_o, split_lse, kv_splits, q_stats, q_norm, q_bias, q_cos, q_sin, q_pairs);
}

extern "C" __global__ __launch_bounds__(256, 1) void attention_fwd_d64_m128_bf16(
    const bf16* q, const bf16* k, const bf16* v, bf16* out, float* lse, const float* key_mask, const bf16* bias,
    const float* key_weights, float* affinity, int sq, int sk, int hq, int hkv, int d, int dv, float scale, int causal,
    int bias_per_batch, int out_stride, const float* accumulate,
    int q_row_stride, int k_row_stride, int v_row_stride, float* split_o, float* split_lse, int kv_splits,
    const float* q_stats, const bf16* q_norm, const bf16* q_bias, const float* q_cos, const float* q_sin, int q_pairs) {
    attention_fwd<64, 8>(q, k, v, out, lse, key_mask, bias, key_weights, affinity, sq, sk, hq, hkv, d, dv, scale,
        causal, bias_per_batch, out_stride, accumulate, q_row_stride, k_row_stride, v_row_stride,
        split_o, split_lse, kv_splits, q_stats, q_norm, q_bias, q_cos, q_sin, q_pairs);
}

extern "C" __global__ __launch_bounds__(256, 1) void attention_fwd_d80_m128_bf16(
    const bf16* q, const bf16* k, const bf16* v, bf16* out, float* lse, const float* key_mask, const bf16* bias,
    const float* key_weights, float* affinity, int sq, int sk, int hq, int hkv, int d, int dv, float scale, int causal,
    int bias_per_batch, int out_stride, const float* accumulate,
    int q_row_stride, int k_row_stride, int v_row_stride, float* split_o, float* split_lse, int kv_splits,
    const float* q_stats, const bf16* q_norm, const bf16* q_bias, const float* q_cos, const float* q_sin, int q_pairs) {
    attention_fwd<80, 8>(q, k, v, out, lse, key_mask, bias, key_weights, affinity, sq, sk, hq, hkv, d, dv, scale,
        causal, bias_per_batch, out_stride, accumulate, q_row_stride, k_row_stride, v_row_stride,
        split_o, split_lse, kv_splits, q_stats, q_norm, q_bias, q_cos, q_sin, q_pairs);
}

extern "C" __global__ __launch_bounds__(256, 1) void attention_fwd_d128_m128_bf16(
    const bf16* q, const bf16* k, const bf16* v, bf16* out, float* lse, const float* key_mask, const bf16* bias,
    const float* key_weights, float* affinity, int sq, int sk, int hq, int hkv, int d, int dv, float scale, int causal,
    int bias_per_batch, int out_stride, const float* accumulate,
    int q_row_stride, int k_row_stride, int v_row_stride, float* split_o, float* split_lse, int kv_splits,
    const float* q_stats, const bf16* q_norm, const bf16* q_bias, const float* q_cos, const float* q_sin, int q_pairs) {
    attention_fwd<128, 8>(q, k, v, out, lse, key_mask, bias, key_weights, affinity, sq, sk, hq, hkv, d, dv, scale,
        causal, bias_per_batch, out_stride, accumulate, q_row_stride, k_row_stride, v_row_stride,
        split_o, split_lse, kv_splits, q_stats, q_norm, q_bias, q_cos, q_sin, q_pairs);
}

extern "C" __global__ __launch_bounds__(128, 2) void attention_fwd_d32_m64_bf16(
    const bf16* q, const bf16* k, const bf16* v, bf16* out, float* lse, const float* key_mask, const bf16* bias,
    const float* key_weights, float* affinity, int sq, int sk, int hq, int hkv, int d, int dv, float scale, int causal,
    int bias_per_batch, int out_stride, const float* accumulate,
    int q_row_stride, int k_row_stride, int v_row_stride, float* split_o, float* split_lse, int kv_splits,
    const float* q_stats, const bf16* q_norm, const bf16* q_bias, const float* q_cos, const float* q_sin, int q_pairs) {
    attention_fwd<32, 4>(q, k, v, out, lse, key_mask, bias, key_weights, affinity, sq, sk, hq, hkv, d, dv, scale,
        causal, bias_per_batch, out_stride, accumulate, q_row_stride, k_row_stride, v_row_stride,
        split_o, split_lse, kv_splits, q_stats, q_norm, q_bias, q_cos, q_sin, q_pairs);
}

extern "C" __global__ __launch_bounds__(128, 2) void attention_fwd_d64_m64_bf16(
    const bf16* q, const bf16* k, const bf16* v, bf16* out, float* lse, const float* key_mask, const bf16* bias,
    const float* key_weights, float* affinity, int sq, int sk, int hq, int hkv, int d, int dv, float scale, int causal,
    int bias_per_batch, int out_stride, const float* accumulate,
    int q_row_stride, int k_row_stride, int v_row_stride, float* split_o, float* split_lse, int kv_splits,
    const float* q_stats, const bf16* q_norm, const bf16* q_bias, const float* q_cos, const float* q_sin, int q_pairs) {
    attention_fwd<64, 4>(q, k, v, out, lse, key_mask, bias, key_weights, affinity, sq, sk, hq, hkv, d, dv, scale,
        causal, bias_per_batch, out_stride, accumulate, q_row_stride, k_row_stride, v_row_stride,
        split_o, split_lse, kv_splits, q_stats, q_norm, q_bias, q_cos, q_sin, q_pairs);
}

extern "C" __global__ __launch_bounds__(128, 2) void attention_fwd_d80_m64_bf16(
    const bf16* q, const bf16* k, const bf16* v, bf16* out, float* lse, const float* key_mask, const bf16* bias,
    const float* key_weights, float* affinity, int sq, int sk, int hq, int hkv, int d, int dv, float scale, int causal,
    int bias_per_batch, int out_stride, const float* accumulate,
    int q_row_stride, int k_row_stride, int v_row_stride, float* split_o, float* split_lse, int kv_splits,
    const float* q_stats, const bf16* q_norm, const bf16* q_bias, const float* q_cos, const float* q_sin, int q_pairs) {
    attention_fwd<80, 4>(q, k, v, out, lse, key_mask, bias, key_weights, affinity, sq, sk, hq, hkv, d, dv, scale,
        causal, bias_per_batch, out_stride, accumulate, q_row_stride, k_row_stride, v_row_stride,
        split_o, split_lse, kv_splits, q_stats, q_norm, q_bias, q_cos, q_sin, q_pairs);
}

extern "C" __global__ __launch_bounds__(128, 2) void attention_fwd_d128_m64_bf16(
    const bf16* q, const bf16* k, const bf16* v, bf16* out, float* lse, const float* key_mask, const bf16* bias,
    const float* key_weights, float* affinity, int sq, int sk, int hq, int hkv, int d, int dv, float scale, int causal,
    int bias_per_batch, int out_stride, const float* accumulate,
    int q_row_stride, int k_row_stride, int v_row_stride, float* split_o, float* split_lse, int kv_splits,
    const float* q_stats, const bf16* q_norm, const bf16* q_bias, const float* q_cos, const float* q_sin, int q_pairs) {
    attention_fwd<128, 4>(q, k, v, out, lse, key_mask, bias, key_weights, affinity, sq, sk, hq, hkv, d, dv, scale,
        causal, bias_per_batch, out_stride, accumulate, q_row_stride, k_row_stride, v_row_stride,
        split_o, split_lse, kv_splits, q_stats, q_norm, q_bias, q_cos, q_sin, q_pairs);
}
