// emu.h — the CUDA device built-ins the AccelAes kernels use, for compiling them with g++ and running them on
// the CPU (test infrastructure; see README.md).
//
// Execution model: a launch runs its blocks one after another; a block runs every CUDA thread as a fiber of the
// launching OS thread (fake_cuda.cpp, "thread model"), switched when it waits, so __syncthreads is a real barrier
// and warp collectives (shuffles, ldmatrix, mma) are real exchanges between the 32 lanes of a warp. __shared__
// variables become `static`: correct because only one block runs at a time. A thread that returns drops out of its
// block's and warp's barriers (as exited threads do on Volta and newer).
#pragma once
#include <cmath>
#include <math.h>
#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define __restrict__ __restrict

struct uint3_ { unsigned x, y, z; };
struct dim3_ { unsigned x, y, z; };
struct uint4 { unsigned x, y, z, w; };
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

// Per-thread and per-block coordinates.
extern uint3_ threadIdx;  // set by the scheduler before it resumes each thread
extern uint3_ blockIdx;
extern dim3_ blockDim;
extern dim3_ gridDim;

// Block and warp synchronisation (implemented in fake_cuda.cpp).
void __syncthreads();
void emu_warp_sync();              // all (non-exited) lanes of the calling thread's warp
uint64_t* emu_warp_slots();        // 32 × 8 scratch words of the calling thread's warp
uint64_t* emu_warp_slots2();       // a second bank (mma needs A, B and C at once)
unsigned char* emu_dynamic_smem(); // the block's dynamic shared memory
int emu_lane();

inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline float __uint_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned v; std::memcpy(&v, &f, 4); return v; }
inline int __float_as_int(float f) { int v; std::memcpy(&v, &f, 4); return v; }

// Correctly rounded single operations (the emulator is built with -ffp-contract=off: nothing is fused).
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fmaf(a, b, c); }


template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int lane_mask) {
    static_assert(sizeof(T) <= 8, "shuffle of a wide type");
    uint64_t* slots = emu_warp_slots();
    const int lane = emu_lane();
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    slots[lane] = bits;
    emu_warp_sync();
    const uint64_t other = slots[lane ^ lane_mask];
    emu_warp_sync();
    T r;
    std::memcpy(&r, &other, sizeof(T));
    return r;
}

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicOr(unsigned* p, unsigned v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
