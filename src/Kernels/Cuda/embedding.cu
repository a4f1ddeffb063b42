// embedding.cu — sinusoidal timestep embedding (diffusers get_timestep_embedding).
//
// Computes, for t [B] (fp32) → out [B, dim] (bf16), half = dim / 2, j < half:
//   exponent = (−ln(max_period)·j) / (half − shift)      — fp32, in exactly this order
//   arg      = (t·exp(exponent))·scale                    — fp32
//   [sin(arg_j) | cos(arg_j)], or [cos | sin] when flip; an odd dim leaves its last column 0 (torch pads).
// Why the care: torch computes this in fp32 and the argument reaches ~1000 rad, where one ulp of the
// argument is 6e-5; so every step is an explicitly rounded fp32 operation (__fmul_rn, __fdiv_rn: no FMA
// contraction), exp is expf and sin/cos are the accurate sinf/cosf with full range reduction (never the
// fast-math intrinsics). neg_log_period = (float)(−ln max_period) and denominator = half − shift are
// computed by the host exactly as the CPU reference computes them. t must be fp32: a bf16 timestep (999
// rounds to 1000) would already be wrong before this kernel runs.
// Shape: one thread per output element; tiny.
#include "common.cuh"

extern "C" __global__ void timestep_embedding_f32(const float* __restrict__ t, bf16* __restrict__ out, int batch,
                                                  int dim, float neg_log_period, float denominator, float scale,
                                                  int flip) {
    const int half = dim / 2;
    ACCELAES_GRID_STRIDE(e, (u64)batch * dim) {
        const int b = (int)(e / dim);
        const int col = (int)(e % dim);
        if (col >= 2 * half) {
            out[e].bits = 0;
            continue;
        }
        const bool first_half = col < half;
        const int j = first_half ? col : col - half;
        const float exponent = __fdiv_rn(__fmul_rn(neg_log_period, (float)j), denominator);
        const float arg = __fmul_rn(__fmul_rn(t[b], expf(exponent)), scale);
        // [sin | cos] normally; [cos | sin] when flipped.
        const bool want_sin = first_half != (flip != 0);
        out[e] = f32_to_bf16(want_sin ? sinf(arg) : cosf(arg));
    }
}
