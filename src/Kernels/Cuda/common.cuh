// common.cuh — the one header every AccelAes kernel includes.
//
// What it provides: storage types for bf16 and fp16 with exact conversions, fp32 math helpers, warp and
// block reductions, and the grid-stride loop. Why it exists: the kernels are compiled at run time by
// NVRTC, and NVIDIA's cuda_bf16.h / cuda_fp16.h are not shipped with NVRTC on every system (and differ
// between CUDA versions). With our own definitions any NVRTC from 11.2 on compiles the same source, and
// the host-side reference (AccelAes.Kernels.BFloat16Bits) can match it bit for bit.
//
// Conventions for kernel files (one op family per .cu file, see KernelCatalog):
// - entry points are `extern "C" __global__ void <op>_<dtype>(...)`, written out literally (no macro-
//   generated names): the catalog reads them from the source, and the compile test checks the list
//   against the `.entry` symbols of the PTX;
// - storage is bf16 (or f32 where stated), arithmetic is fp32;
// - element counts are 64-bit (`u64`): activations of a 1024² DiT exceed 2³¹ elements in places.
//
// ACCELAES_ARCH is defined by the compiler (-DACCELAES_ARCH=80 for compute_80/sm_80, ...) so code can
// choose instructions per architecture; it is 0 when a file is compiled without it.
#pragma once

#ifndef ACCELAES_ARCH
#define ACCELAES_ARCH 0
#endif

typedef unsigned char      u8;
typedef unsigned short     u16;
typedef unsigned int       u32;
typedef unsigned long long u64;
typedef long long          i64;

// ---------------------------------------------------------------------------------------------------
// bf16: the upper half of an IEEE f32. A struct (not a typedef of u16) so it cannot be mixed up with an
// integer or with f16 by accident; 2 bytes, 2-byte aligned, passed to kernels as a plain u16.
// ---------------------------------------------------------------------------------------------------
struct __align__(2) bf16 { u16 bits; };

// fp16 (IEEE binary16), same idea; conversions use the hardware cvt instructions through inline PTX.
struct __align__(2) f16 { u16 bits; };

__device__ __forceinline__ float bf16_to_f32(bf16 v) { return __uint_as_float(((u32)v.bits) << 16); }

// Round to nearest, ties to even. NaN stays NaN: keep sign and top payload bits and set the quiet bit,
// since dropping the low 16 bits of a NaN whose payload lives there would otherwise produce infinity.
// Overflow rounds to infinity naturally (the carry walks into the exponent).
__device__ __forceinline__ bf16 f32_to_bf16(float f) {
    const u32 x = __float_as_uint(f);
    bf16 r;
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        r.bits = (u16)((x >> 16) | 0x0040u);
    } else {
        r.bits = (u16)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
    }
    return r;
}

__device__ __forceinline__ float f16_to_f32(f16 v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.bits));
    return f;
}

__device__ __forceinline__ f16 f32_to_f16(float f) {  // round to nearest even (.rn)
    f16 r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(f));
    return r;
}

// ---------------------------------------------------------------------------------------------------
// fp32 math. The accurate forms are the defaults; the *_approx forms are single SFU instructions with
// ~2 ulp error, for use where a kernel's header says the error budget allows it (e.g. softmax exp2).
// ---------------------------------------------------------------------------------------------------
__device__ __forceinline__ float exp2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ float rcp_approx(float x) {
    float y;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ float tanh_fast(float x) {
#if ACCELAES_ARCH >= 75
    float y;
    asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#else
    return tanhf(x);
#endif
}

// GELU, tanh approximation (what the DiT MLPs use): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
__device__ __forceinline__ float gelu_tanh(float x) {
    const float k0 = 0.7978845608028654f;  // sqrt(2/pi)
    const float k1 = 0.044715f;
    return 0.5f * x * (1.0f + tanhf(k0 * (x + k1 * x * x * x)));
}

// SiLU: x·σ(x).
__device__ __forceinline__ float silu(float x) { return x / (1.0f + expf(-x)); }

// Exact GELU: 0.5·x·(1 + erf(x/√2)) (CLIP-G "gelu"); erff is the accurate library function (≤ 2 ulp).
__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }

// QuickGELU: x·σ(1.702·x) (CLIP-L).
__device__ __forceinline__ float quick_gelu(float x) { return x / (1.0f + expf(-1.702f * x)); }

// Activation codes: the values of AccelAes.Engine.Tensors.Activation (None = 0, Silu = 1, GeluTanh = 2,
// Gelu = 3, QuickGelu = 4, Tanh = 5). A runtime switch, uniform across a launch, so one kernel serves all;
// an unknown code returns NaN, which the harness's NaN checks make loud.
#define ACT_NONE       0
#define ACT_SILU       1
#define ACT_GELU_TANH  2
#define ACT_GELU       3
#define ACT_QUICK_GELU 4
#define ACT_TANH       5

__device__ __forceinline__ float apply_activation(float x, int act) {
    switch (act) {
        case ACT_NONE:       return x;
        case ACT_SILU:       return silu(x);
        case ACT_GELU_TANH:  return gelu_tanh(x);
        case ACT_GELU:       return gelu_erf(x);
        case ACT_QUICK_GELU: return quick_gelu(x);
        case ACT_TANH:       return tanhf(x);
        default:             return __int_as_float(0x7fc00000);
    }
}

// ---------------------------------------------------------------------------------------------------
// Typed loads and stores: kernels that exist for both storage types are written once as templates over
// the pointer type and read/write through these, so the arithmetic is always fp32.
// ---------------------------------------------------------------------------------------------------
__device__ __forceinline__ float load_f32(const bf16* p, u64 i) { return bf16_to_f32(p[i]); }
__device__ __forceinline__ float load_f32(const float* p, u64 i) { return p[i]; }
__device__ __forceinline__ void store_f32(bf16* p, u64 i, float v) { p[i] = f32_to_bf16(v); }
__device__ __forceinline__ void store_f32(float* p, u64 i, float v) { p[i] = v; }

// Eight consecutive bf16 as one 16-byte access (p must be 16-byte aligned).
__device__ __forceinline__ void load_bf16x8(const bf16* p, float (&f)[8]) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const u32 w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        f[2 * i] = __uint_as_float(w[i] << 16);
        f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
}

__device__ __forceinline__ void store_bf16x8(bf16* p, const float (&f)[8]) {
    u32 w[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
        w[i] = (u32)f32_to_bf16(f[2 * i]).bits | ((u32)f32_to_bf16(f[2 * i + 1]).bits << 16);
    *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}

#define ACCELAES_INF __int_as_float(0x7f800000)

// ---------------------------------------------------------------------------------------------------
// Reductions. Warp reductions use the butterfly pattern (every lane ends with the result). Block
// reductions need `scratch` in shared memory with room for 32 floats, and every thread of the block
// must call them (they contain __syncthreads).
// ---------------------------------------------------------------------------------------------------
#define ACCELAES_FULL_MASK 0xffffffffu

__device__ __forceinline__ float warp_reduce_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(ACCELAES_FULL_MASK, v, offset);
    return v;
}

__device__ __forceinline__ float warp_reduce_max(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(ACCELAES_FULL_MASK, v, offset));
    return v;
}

__device__ __forceinline__ float block_reduce_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    v = warp_reduce_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? scratch[lane] : 0.0f;
        v = warp_reduce_sum(v);
        if (lane == 0) scratch[0] = v;
    }
    __syncthreads();
    v = scratch[0];
    __syncthreads();  // scratch may be reused right after
    return v;
}

__device__ __forceinline__ float block_reduce_max(float v, float* scratch) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    v = warp_reduce_max(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? scratch[lane] : -__int_as_float(0x7f800000);
        v = warp_reduce_max(v);
        if (lane == 0) scratch[0] = v;
    }
    __syncthreads();
    v = scratch[0];
    __syncthreads();
    return v;
}

// ---------------------------------------------------------------------------------------------------
// Grid-stride loop over [0, n): any grid size covers any n, so the host can size grids for occupancy
// (a few waves of blocks per SM) instead of one thread per element, and one launch shape serves all n.
// ---------------------------------------------------------------------------------------------------
#define ACCELAES_GRID_STRIDE(i, n)                                                   \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (u64)(n);          \
         i += (u64)blockDim.x * gridDim.x)
