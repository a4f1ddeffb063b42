// mma.cuh — tensor-core and asynchronous-copy primitives as inline PTX (sm_80 and newer).
//
// What it provides: shared-memory addresses, cp.async 16-byte copies with zero fill, ldmatrix (plain and
// transposed), the bf16 m16n8k16 mma with fp32 accumulators, and bf16x2 packing. Why inline PTX: NVRTC has
// no CUTLASS/CuTe and we include no NVIDIA headers (common.cuh), so these few instructions are spelled
// out, each next to the fragment layout it produces, which is what the attention kernel's index math is
// checked against (PTX ISA, "Matrix Fragments for mma.m16n8k16", "ldmatrix").
//
// Fragment layouts of mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, with g = lane / 4 and
// t = lane % 4 (each .b32 register holds two bf16, the lower column/k index in the lower 16 bits):
//   A (16×16, row-major)  a[0] = A[g][2t, 2t+1]     a[1] = A[g+8][2t, 2t+1]
//                         a[2] = A[g][2t+8, 2t+9]   a[3] = A[g+8][2t+8, 2t+9]
//   B (16×8, "col")       b[0] = B[2t, 2t+1][g]     b[1] = B[2t+8, 2t+9][g]
//   C/D (16×8, fp32)      c[0], c[1] = C[g][2t, 2t+1]   c[2], c[3] = C[g+8][2t, 2t+1]
// ldmatrix.x4: lanes 8i..8i+7 give the row addresses of 8×8 matrix i; register i of lane l receives row
// l/4, columns 2(l%4), 2(l%4)+1 of matrix i (with .trans: rows 2(l%4), 2(l%4)+1 of column l/4).
#pragma once
#include "common.cuh"

// Generic → shared-window address (what ldmatrix and cp.async take).
__device__ __forceinline__ u32 smem_u32(const void* p) {
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// 16-byte global → shared copy that bypasses L1 (.cg). Only the first src_bytes (0 or 16 here) are read;
// the rest of the 16 bytes are zero-filled, which is how tiles are padded past a tensor's end.
__device__ __forceinline__ void cp_async_16(u32 dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(u32& r0, u32& r1, u32& r2, u32& r3, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4_trans(u32& r0, u32& r1, u32& r2, u32& r3, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

// d += A·B for one 16×8×16 tile (fp32 accumulate).
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two fp32 → one .b32 of two bf16 (round to nearest even): lo in bits 0..15, hi in bits 16..31.
// cvt's first source goes to the upper half, hence the swapped operands.
__device__ __forceinline__ u32 pack_bf16x2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
