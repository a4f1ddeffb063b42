// layout.cu — data movement without arithmetic: strided block copies (slice, concat), transpose of the last
// two dimensions, row gathers and scatters, nearest-neighbour 2× upsampling.
//
// Every kernel exists for 2-byte (bf16) and 4-byte (f32) elements (`_b16`, `_b32`): the values are moved,
// not converted, so the CUDA backend keeps a tensor's storage type through layout ops.
//   copy2d_b16/_b32             dst[r·dst_stride + c] = src[r·src_stride + c], r < rows, c < cols.
//                               Slice of axis a: rows = outer, cols = length·inner, src_stride = size·inner,
//                               src offset start·inner. Concat: one launch per part into its column offset.
//   transpose_last2_b16/_b32    [batches, m, n] → [batches, n, m] through a 32×33 shared tile (coalesced
//                               reads and writes; the +1 column avoids bank conflicts)
//   gather_rows_b16/_b32        out[i, :] = table[idx[i], :]; an index outside [0, rows) writes NaN to the
//                               row and sets bit 0 of *error (the host checks it at its next sync and throws;
//                               indices uploaded from the host are checked on the host before launching)
//   scatter_rows_b16/_b32       dst[idx[i], :] = src[i, :] in place (SkipSparse writing focus rows into a cache);
//                               an index outside [0, rows) skips the row and sets bit 0 of *error. Indices must be
//                               distinct (with duplicates, which row wins is unspecified: threads race)
//   upsample_nearest2x_b16/_b32 [planes, h, w] → [planes, 2h, 2w], out[p, y, x] = in[p, y/2, x/2]
// Shape: grid-stride over output elements (transpose: 2-D tiles, grid.z loops over batches); gather and scatter move
// 16-byte chunks when rows allow (below). copy2d is the fallback of the driver's 2D copy (CudaBackend.Copy2d).
#include "common.cuh"
#include "vec.cuh"

template <typename T>
__device__ __forceinline__ void copy2d(const T* src, T* dst, u64 rows, u64 cols, u64 src_stride, u64 dst_stride) {
    ACCELAES_GRID_STRIDE(e, rows * cols) {
        const u64 r = e / cols;
        const u64 c = e % cols;
        dst[r * dst_stride + c] = src[r * src_stride + c];
    }
}

extern "C" __global__ void copy2d_b16(const u16* __restrict__ src, u16* __restrict__ dst, u64 rows, u64 cols,
                                      u64 src_stride, u64 dst_stride) {
    copy2d(src, dst, rows, cols, src_stride, dst_stride);
}

extern "C" __global__ void copy2d_b32(const u32* __restrict__ src, u32* __restrict__ dst, u64 rows, u64 cols,
                                      u64 src_stride, u64 dst_stride) {
    copy2d(src, dst, rows, cols, src_stride, dst_stride);
}

// Block (32, 8); grid (ceil(n/32), ceil(m/32), min(batches, 65535)).
template <typename T>
__device__ __forceinline__ void transpose_last2(const T* src, T* dst, u64 batches, int m, int n) {
    __shared__ T tile[32][33];
    const int i0 = blockIdx.y * 32;  // source rows
    const int j0 = blockIdx.x * 32;  // source columns
    for (u64 bt = blockIdx.z; bt < batches; bt += gridDim.z) {
        const T* s = src + bt * (u64)m * n;
        T* o = dst + bt * (u64)m * n;
        for (int r = threadIdx.y; r < 32; r += 8) {
            const int i = i0 + r, j = j0 + threadIdx.x;
            if (i < m && j < n) tile[r][threadIdx.x] = s[(u64)i * n + j];
        }
        __syncthreads();
        for (int r = threadIdx.y; r < 32; r += 8) {
            const int j = j0 + r, i = i0 + threadIdx.x;  // output row j, column i
            if (i < m && j < n) o[(u64)j * m + i] = tile[threadIdx.x][r];
        }
        __syncthreads();
    }
}

extern "C" __global__ void transpose_last2_b16(const u16* __restrict__ src, u16* __restrict__ dst, u64 batches, int m, int n) {
    transpose_last2(src, dst, batches, m, n);
}

extern "C" __global__ void transpose_last2_b32(const u32* __restrict__ src, u32* __restrict__ dst, u64 batches, int m, int n) {
    transpose_last2(src, dst, batches, m, n);
}

// Rows of a multiple of 16 bytes at 16-byte aligned addresses move as 16-byte chunks (issue 16), 32-bit indices when
// count·d < 2³¹; otherwise one element per step. Same values on both paths (bits are moved, not converted).
template <typename I, typename T>
__device__ __forceinline__ void gather_rows_i(const T* table, const int* idx, T* out, I count, int rows, I d, T nan,
                                              u32* error) {
    constexpr I per = (I)(16 / sizeof(T));
    if (d % per == 0 && aligned16(table) && aligned16(out)) {
        const I chunks = d / per;
        const uint4* t4 = reinterpret_cast<const uint4*>(table);
        uint4* o4 = reinterpret_cast<uint4*>(out);
        const u32 w = sizeof(T) == 2 ? ((u32)nan | ((u32)nan << 16)) : (u32)nan;
        ACCELAES_GRID_STRIDE_I(I, e, 0, count * chunks) {
            const I i = e / chunks, c = e - i * chunks;
            const int r = idx[i];
            if (r < 0 || r >= rows) {
                o4[e] = make_uint4(w, w, w, w);
                if (c == 0) atomicOr(error, 1u);
            } else {
                o4[e] = t4[(u64)r * chunks + c];
            }
        }
    } else {
        ACCELAES_GRID_STRIDE_I(I, e, 0, count * d) {
            const I i = e / d, c = e - i * d;
            const int r = idx[i];
            if (r < 0 || r >= rows) {
                out[e] = nan;
                if (c == 0) atomicOr(error, 1u);
            } else {
                out[e] = table[(u64)r * d + c];
            }
        }
    }
}

template <typename T>
__device__ __forceinline__ void gather_rows(const T* table, const int* idx, T* out, u64 count, int rows, int d, T nan,
                                            u32* error) {
    if (narrow(count * (u64)d)) gather_rows_i<u32>(table, idx, out, (u32)count, rows, (u32)d, nan, error);
    else gather_rows_i<u64>(table, idx, out, count, rows, (u64)d, nan, error);
}

extern "C" __global__ void gather_rows_b16(const u16* __restrict__ table, const int* __restrict__ idx, u16* __restrict__ out,
                                           u64 count, int rows, int d, u32* error) {
    gather_rows(table, idx, out, count, rows, d, (u16)0x7fc0u, error);
}

extern "C" __global__ void gather_rows_b32(const u32* __restrict__ table, const int* __restrict__ idx, u32* __restrict__ out,
                                           u64 count, int rows, int d, u32* error) {
    gather_rows(table, idx, out, count, rows, d, 0x7fc00000u, error);
}

template <typename I, typename T>
__device__ __forceinline__ void scatter_rows_i(T* dst, const int* idx, const T* src, I count, int rows, I d, u32* error) {
    constexpr I per = (I)(16 / sizeof(T));
    if (d % per == 0 && aligned16(dst) && aligned16(src)) {
        const I chunks = d / per;
        uint4* d4 = reinterpret_cast<uint4*>(dst);
        const uint4* s4 = reinterpret_cast<const uint4*>(src);
        ACCELAES_GRID_STRIDE_I(I, e, 0, count * chunks) {
            const I i = e / chunks, c = e - i * chunks;
            const int r = idx[i];
            if (r < 0 || r >= rows) {
                if (c == 0) atomicOr(error, 1u);
            } else {
                d4[(u64)r * chunks + c] = s4[e];
            }
        }
    } else {
        ACCELAES_GRID_STRIDE_I(I, e, 0, count * d) {
            const I i = e / d, c = e - i * d;
            const int r = idx[i];
            if (r < 0 || r >= rows) {
                if (c == 0) atomicOr(error, 1u);
            } else {
                dst[(u64)r * d + c] = src[e];
            }
        }
    }
}

template <typename T>
__device__ __forceinline__ void scatter_rows(T* dst, const int* idx, const T* src, u64 count, int rows, int d, u32* error) {
    if (narrow(count * (u64)d)) scatter_rows_i<u32>(dst, idx, src, (u32)count, rows, (u32)d, error);
    else scatter_rows_i<u64>(dst, idx, src, count, rows, (u64)d, error);
}

extern "C" __global__ void scatter_rows_b16(u16* dst, const int* __restrict__ idx, const u16* __restrict__ src, u64 count,
                                            int rows, int d, u32* error) {
    scatter_rows(dst, idx, src, count, rows, d, error);
}

extern "C" __global__ void scatter_rows_b32(u32* dst, const int* __restrict__ idx, const u32* __restrict__ src, u64 count,
                                            int rows, int d, u32* error) {
    scatter_rows(dst, idx, src, count, rows, d, error);
}

template <typename T>
__device__ __forceinline__ void upsample2x(const T* src, T* dst, u64 planes, int h, int w) {
    const u64 ow = 2 * (u64)w, oh = 2 * (u64)h;
    ACCELAES_GRID_STRIDE(e, planes * oh * ow) {
        const u64 x = e % ow;
        const u64 y = e / ow % oh;
        const u64 p = e / ow / oh;
        dst[e] = src[(p * h + y / 2) * w + x / 2];
    }
}

extern "C" __global__ void upsample_nearest2x_b16(const u16* __restrict__ src, u16* __restrict__ dst, u64 planes, int h, int w) {
    upsample2x(src, dst, planes, h, w);
}

extern "C" __global__ void upsample_nearest2x_b32(const u32* __restrict__ src, u32* __restrict__ dst, u64 planes, int h, int w) {
    upsample2x(src, dst, planes, h, w);
}
