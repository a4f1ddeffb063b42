// emu_mma.h — CPU versions of the inline-PTX helpers of common.cuh and mma.cuh (test infrastructure).
//
// Each function implements the PTX ISA's definition of the instruction, independently of how the kernels
// use it: the fragment layouts below are transcribed from the PTX ISA tables ("Matrix Fragments for
// mma.m16n8k16 with floating point type", "ldmatrix") and agree with CUTLASS's SM80_16x8x16 traits
// (A: (t,v) → row g + 8·v1, col 2t + v0 + 8·v2; B: row 2t + v0 + 8·v1, col g; C: row g + 8·v1, col 2t + v0,
// with g = lane / 4, t = lane % 4). A kernel whose index math is wrong computes wrong results here too.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

// ---- common.cuh's asm helpers ----------------------------------------------------------------------
inline float exp2_approx(float x) { return std::exp2f(x); }
inline float rcp_approx(float x) { return 1.0f / x; }
inline float tanh_fast(float x) { return std::tanh(x); }

inline float emu_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal: normalise
            exp = 1;
            while ((mant & 0x400u) == 0) { mant <<= 1; exp--; }
            mant &= 0x3ffu;
            bits = sign | (uint32_t)(exp + 112) << 23 | mant << 13;
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | mant << 13;
    else bits = sign | (uint32_t)(exp + 112) << 23 | mant << 13;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// f16 (struct with .bits) conversions; the struct is defined by common.cuh before this header is included.
#define EMU_F16_HELPERS                                                                  \
    inline float f16_to_f32(f16 v) { return emu_half_to_float(v.bits); }                 \
    inline f16 f32_to_f16(float f) {                                                     \
        f16 r;                                                                           \
        _Float16 h = (_Float16)f;                                                        \
        std::memcpy(&r.bits, &h, 2);                                                     \
        return r;                                                                        \
    }

// ---- mma.cuh ------------------------------------------------------------------------------------------
// Shared-memory "addresses" are offsets into the block's dynamic shared memory (the only shared memory the
// kernels use with these instructions).
inline uint32_t smem_u32(const void* p) {
    const std::ptrdiff_t off = static_cast<const unsigned char*>(p) - emu_dynamic_smem();
    if (off < 0 || off > (1 << 20)) __builtin_trap();
    return (uint32_t)off;
}

inline void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
    unsigned char* d = emu_dynamic_smem() + dst;
    if (src_bytes > 0) std::memcpy(d, src, (size_t)src_bytes);
    if (src_bytes < 16) std::memset(d + src_bytes, 0, (size_t)(16 - src_bytes));
}
inline void cp_async_commit() {}
template <int N>
inline void cp_async_wait() {}

inline uint16_t emu_smem_u16(uint32_t byte_address) {
    uint16_t v;
    std::memcpy(&v, emu_dynamic_smem() + byte_address, 2);
    return v;
}

// ldmatrix .x4: lanes 8i..8i+7 give the row addresses of matrix i. Without .trans lane l receives row l/4,
// elements 2(l%4), 2(l%4)+1 of each matrix; with .trans, elements (row 2(l%4), col l/4) and (row 2(l%4)+1, col l/4).
inline void emu_ldmatrix_x4(uint32_t (&r)[4], uint32_t addr, bool trans) {
    uint64_t* slots = emu_warp_slots();
    const int lane = emu_lane();
    slots[lane] = addr;
    emu_warp_sync();
    for (int i = 0; i < 4; ++i) {
        uint16_t lo, hi;
        if (!trans) {
            const uint32_t row = (uint32_t)slots[8 * i + lane / 4];
            lo = emu_smem_u16(row + 2 * (2 * (lane % 4)));
            hi = emu_smem_u16(row + 2 * (2 * (lane % 4) + 1));
        } else {
            lo = emu_smem_u16((uint32_t)slots[8 * i + 2 * (lane % 4)] + 2 * (lane / 4));
            hi = emu_smem_u16((uint32_t)slots[8 * i + 2 * (lane % 4) + 1] + 2 * (lane / 4));
        }
        r[i] = (uint32_t)lo | (uint32_t)hi << 16;
    }
    emu_warp_sync();
}

inline void ldmatrix_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t addr) {
    uint32_t r[4];
    emu_ldmatrix_x4(r, addr, false);
    r0 = r[0]; r1 = r[1]; r2 = r[2]; r3 = r[3];
}

inline void ldmatrix_x4_trans(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t addr) {
    uint32_t r[4];
    emu_ldmatrix_x4(r, addr, true);
    r0 = r[0]; r1 = r[1]; r2 = r[2]; r3 = r[3];
}

inline float emu_bf16_lo(uint32_t w) { uint32_t b = w << 16; float f; std::memcpy(&f, &b, 4); return f; }
inline float emu_bf16_hi(uint32_t w) { uint32_t b = w & 0xffff0000u; float f; std::memcpy(&f, &b, 4); return f; }

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32: d = A·B + d, gathered from and scattered to the fragments.
inline void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    uint64_t* s = emu_warp_slots();   // per lane: a[0..3] in words 0..3 (two lanes' worth packed per slot pair)
    uint64_t* s2 = emu_warp_slots2(); // per lane: b0, b1
    const int lane = emu_lane();
    static_assert(sizeof(uint64_t) == 8, "");
    // Slots hold 32 × 8 words per bank; lane L uses words [8L, 8L+8) of bank 1 and [8L, 8L+2) of bank 2.
    uint32_t* sa = reinterpret_cast<uint32_t*>(s);
    uint32_t* sb = reinterpret_cast<uint32_t*>(s2);
    for (int i = 0; i < 4; ++i) sa[8 * lane + i] = a[i];
    sb[8 * lane] = b0;
    sb[8 * lane + 1] = b1;
    emu_warp_sync();
    auto A = [&](int row, int k) {  // A[row][k], row-major 16×16
        const int holder = (row % 8) * 4 + (k % 8) / 2;
        const int reg = row / 8 + 2 * (k / 8);
        const uint32_t w = sa[8 * holder + reg];
        return (k % 2) ? emu_bf16_hi(w) : emu_bf16_lo(w);
    };
    auto B = [&](int k, int n) {    // B[k][n], 16×8
        const int holder = n * 4 + (k % 8) / 2;
        const uint32_t w = sb[8 * holder + k / 8];
        return (k % 2) ? emu_bf16_hi(w) : emu_bf16_lo(w);
    };
    const int g = lane / 4, t = lane % 4;
    float out[4];
    for (int e = 0; e < 4; ++e) {
        const int row = g + 8 * (e / 2), col = 2 * t + (e % 2);
        float acc = d[e];
        for (int k = 0; k < 16; ++k) acc += A(row, k) * B(k, col);
        out[e] = acc;
    }
    emu_warp_sync();
    for (int e = 0; e < 4; ++e) d[e] = out[e];
}

inline uint32_t emu_f32_to_bf16_bits(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return ((x >> 16) | 0x40u) & 0xffffu;
    return ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16) & 0xffffu;
}

// cvt.rn.bf16x2.f32 d, hi, lo: lo in bits 0..15.
inline uint32_t pack_bf16x2(float lo, float hi) { return emu_f32_to_bf16_bits(lo) | emu_f32_to_bf16_bits(hi) << 16; }
