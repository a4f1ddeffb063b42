// binary.cu — elementwise binary ops, same shape or with the second operand broadcast.
//
// Computes, inputs widened to f32, one rounding on store:
//   add_bf16                  out[i] = a[i] + b[i], same-shape contiguous buffers
//   add_broadcast_bf16/_f32   out[i] = a[i] + b[i % inner]   (b's shape is a trailing part of a's:
//   mul_broadcast_bf16/_f32   out[i] = a[i] · b[i % inner]    inner = b's element count; same shape → inner = n)
// Residual additions in the transformer blocks use these until they are fused into the producing kernel's
// epilogue. Layout: contiguous buffers; `out` may alias `a` or `b` (in-place): each element is read
// before it is written, by the same thread.
// Shape: grid-stride, one element per thread per iteration; bandwidth-bound (6 bytes moved per bf16 add).
#include "common.cuh"

extern "C" __global__ void add_bf16(const bf16* a, const bf16* b, bf16* out, u64 n) {
    ACCELAES_GRID_STRIDE(i, n) { out[i] = f32_to_bf16(bf16_to_f32(a[i]) + bf16_to_f32(b[i])); }
}

template <typename T, bool MUL>
__device__ __forceinline__ void broadcast_op(const T* a, const T* b, T* out, u64 n, u64 inner) {
    ACCELAES_GRID_STRIDE(i, n) {
        const float x = load_f32(a, i);
        const float y = load_f32(b, i % inner);
        store_f32(out, i, MUL ? x * y : x + y);
    }
}

extern "C" __global__ void add_broadcast_bf16(const bf16* a, const bf16* b, bf16* out, u64 n, u64 inner) {
    broadcast_op<bf16, false>(a, b, out, n, inner);
}

extern "C" __global__ void add_broadcast_f32(const float* a, const float* b, float* out, u64 n, u64 inner) {
    broadcast_op<float, false>(a, b, out, n, inner);
}

extern "C" __global__ void mul_broadcast_bf16(const bf16* a, const bf16* b, bf16* out, u64 n, u64 inner) {
    broadcast_op<bf16, true>(a, b, out, n, inner);
}

extern "C" __global__ void mul_broadcast_f32(const float* a, const float* b, float* out, u64 n, u64 inner) {
    broadcast_op<float, true>(a, b, out, n, inner);
}
