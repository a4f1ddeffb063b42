// binary.cu — elementwise binary ops on same-shape contiguous buffers.
//
// Computes: out[i] = a[i] + b[i] for i in [0, n) (add_bf16): inputs widened to f32, added in f32, rounded
// once to bf16 (RNE). Residual additions in the transformer blocks use this until they are fused into
// the producing kernel's epilogue.
// Layout: all three buffers contiguous with n elements; broadcasting and strides are the caller's job
// (the engine makes tensors contiguous before elementwise ops). `out` may alias `a` or `b` (in-place):
// each element is read before it is written, by the same thread.
// Shape: grid-stride, one element per thread per iteration; bandwidth-bound (6 bytes moved per add).
#include "common.cuh"

extern "C" __global__ void add_bf16(const bf16* a, const bf16* b, bf16* out, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) { out[i] = f32_to_bf16(bf16_to_f32(a[i]) + bf16_to_f32(b[i])); }
}
