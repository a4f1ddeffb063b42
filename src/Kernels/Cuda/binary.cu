// binary.cu — elementwise binary ops, same shape or with the second operand broadcast.
//
// Computes, inputs widened to f32, one rounding on store:
//   add_bf16                  out[i] = a[i] + b[i], same-shape contiguous buffers
//   add_broadcast_bf16/_f32   out[i] = a[i] + b[i % inner]   (b's shape is a trailing part of a's:
//   mul_broadcast_bf16/_f32   out[i] = a[i] · b[i % inner]    inner = b's element count; same shape → inner = n)
// Residual additions in the transformer blocks use these until they are fused into the producing kernel's
// epilogue. Layout: contiguous buffers; `out` may alias `a` or `b` (in-place): each element is read
// before it is written, by the same thread.
// Shape: grid-stride, bandwidth-bound (6 bytes moved per bf16 add). With 16-byte aligned pointers (and inner % 8 == 0,
// or the same shape) a thread handles 8 consecutive elements per iteration as 16-byte accesses (vec.cuh), the last
// n % 8 one by one; indices are 32-bit below 2³¹ elements (the i % inner division then 32-bit too). Same math per
// element on every path. The host sizes the grid for n / 8 threads (CudaBackend.Elementwise8).
#include "common.cuh"
#include "vec.cuh"

// out = a op b[i % inner]; same-shape operands are inner = n.
template <typename I, typename T, bool MUL>
__device__ __forceinline__ void broadcast_op_i(const T* a, const T* b, T* out, I n, I inner) {
    if (aligned16(a) && aligned16(b) && aligned16(out) && (inner % 8 == 0 || inner == n)) {
        ACCELAES_VEC_LOOP(I, g, n) {
            float x[8], y[8];
            load8(a + (u64)g * 8, x);
            load8(b + (u64)(g * 8 % inner), y);  // inner % 8 == 0 (or inner == n): the 8 share one broadcast row
#pragma unroll
            for (int k = 0; k < 8; ++k) x[k] = MUL ? x[k] * y[k] : x[k] + y[k];
            store8(out + (u64)g * 8, x);
        }
        ACCELAES_TAIL_LOOP(I, i, n) { store_f32(out, i, MUL ? load_f32(a, i) * load_f32(b, i % inner) : load_f32(a, i) + load_f32(b, i % inner)); }
    } else {
        ACCELAES_GRID_STRIDE_I(I, i, 0, n) {
            const float x = load_f32(a, i);
            const float y = load_f32(b, i % inner);
            store_f32(out, i, MUL ? x * y : x + y);
        }
    }
}

template <typename T, bool MUL>
__device__ __forceinline__ void broadcast_op(const T* a, const T* b, T* out, u64 n, u64 inner) {
    if (narrow(n)) broadcast_op_i<u32, T, MUL>(a, b, out, (u32)n, (u32)inner);
    else broadcast_op_i<u64, T, MUL>(a, b, out, n, inner);
}

extern "C" __global__ void add_bf16(const bf16* a, const bf16* b, bf16* out, u64 n) {
    broadcast_op<bf16, false>(a, b, out, n, n);
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
