// neon_tier.h: what differs between the two compiles of the NEON files (arch/arm/*_neon.cpp).
//
// CMakeLists.txt compiles each NEON file twice: for the dotprod tier (-march=armv8.2-a+dotprod+fp16:
// Cortex-A55 / A76 and later, Neoverse, Apple M, Snapdragon X) and for the neon tier (-march=armv8-a:
// ARMv8.0 cores without the dot product, the Cortex-A53 and A72 of a Raspberry Pi 3 or 4 among them).
// Each compile's external names live in a namespace of its own, PYGGML_NEON_TIER (dotprod or neon),
// so that the linker never takes one compile's code for the other's. The i8mm file builds on the
// dotprod compile and shares its namespace.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "core/dispatch.h"

#if defined(__ARM_FEATURE_DOTPROD)
#define PYGGML_NEON_TIER dotprod
#else
#define PYGGML_NEON_TIER neon
#endif

namespace pyggml::PYGGML_NEON_TIER {

namespace {

// acc plus, in each int32 lane i, the sum of a[4i + j] * b[4i + j] over j = 0..3: SDOT where the
// compile has it. On ARMv8.0 SMULL and SMULL2 give the 16 products in int16, ADDP adds
// neighbouring products in int16 and SADALP adds neighbouring pairs of those into acc's int32
// lanes: four instructions, the products grouped as SDOT groups them. Exact, so the same sums,
// while one of the operands holds no -128: then a product is within +-128 * 127 and a pair's
// sum within +-32512, inside int16. Every call passes activations as b, and every activation
// quantizer maps to -127..127 (Q8_0, Q8_1 and Q8_K: test_kernels.py holds them to it; the int8
// formats' a8 clamps to it, quant/int8_formats.cpp).
inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
#endif
}

// 16 N activation bytes as sdot_group takes them: N vectors, whose int32 lanes SDOT by element
// reads as they are, where the compile has SDOT; on ARMv8.0 their address, from which each use
// loads its four bytes broadcast (no registers held across the uses).
template <int N>
struct acts {
#if defined(__ARM_FEATURE_DOTPROD)
    int8x16_t v[N];
    acts() = default;
    explicit acts(const int8_t* p) {
        for (int i = 0; i < N; ++i) v[i] = vld1q_s8(p + 16 * i);
    }
#else
    const int8_t* p;
    acts() = default;
    explicit acts(const int8_t* q) : p(q) {}
#endif
};

// acc plus SDOT of a with group g of y (its bytes 4g .. 4g + 3, g < 4N) in every lane. SDOT by
// element encodes the lane in the instruction, so g must be a constant by the time the compiler
// emits it: the callers' loops over groups go through for_groups.
template <int N>
__attribute__((always_inline)) inline int32x4_t sdot_group(int32x4_t acc, int8x16_t a, const acts<N>& y, int g) {
#if defined(__ARM_FEATURE_DOTPROD)
    const int8x16_t v = y.v[g / 4];
    switch (g % 4) {
        case 0: return vdotq_laneq_s32(acc, a, v, 0);
        case 1: return vdotq_laneq_s32(acc, a, v, 1);
        case 2: return vdotq_laneq_s32(acc, a, v, 2);
        default: return vdotq_laneq_s32(acc, a, v, 3);
    }
#else
    int32_t w;
    std::memcpy(&w, y.p + 4 * g, 4);
    return sdot(acc, a, vreinterpretq_s8_s32(vdupq_n_s32(w)));
#endif
}

// f(k) for k = 0 .. N - 1, in order, unrolled: k a std::integral_constant, for the intrinsics
// that encode a lane in the instruction (SDOT, SMLAL by element).
template <class F, int... K>
__attribute__((always_inline)) inline void unrolled(F& f, std::integer_sequence<int, K...>) {
    (f(std::integral_constant<int, K>{}), ...);
}
template <int N, class F>
__attribute__((always_inline)) inline void unrolled(F&& f) {
    unrolled(f, std::make_integer_sequence<int, N>{});
}

// f(k) for k = 0 .. N - 1, in order: with SDOT unrolled, so that every sdot_group in f gets its
// group as a constant; on ARMv8.0 a plain loop over an int (the group only moves a load's
// address, and the loop keeps fewer values live than its unrolled body would).
#if defined(__ARM_FEATURE_DOTPROD)
template <int N, class F>
__attribute__((always_inline)) inline void for_groups(F&& f) {
    unrolled<N>(f);
}
#else
template <int N, class F>
inline void for_groups(F&& f) {
    for (int k = 0; k < N; ++k) f(k);
}
#endif

}  // namespace

// Each NEON file's registration (the kernels it puts over the references'), and tier_neon.cpp's of
// them all, in the order they override one another.
void register_quantize_act_neon(isa_kernels& k);     // quantize_act_neon.cpp
void register_vec_dot_neon(isa_kernels& k);          // vec_dot_neon.cpp
void register_repack_neon(isa_kernels& k);           // repack_neon.cpp (the 8-row layouts)
void register_vec_dot_ternary_neon(isa_kernels& k);  // vec_dot_ternary_neon.cpp
void register_vec_dot_fp4_neon(isa_kernels& k);      // vec_dot_fp4_neon.cpp
void register_vec_dot_q1_0_neon(isa_kernels& k);     // vec_dot_q1_0_neon.cpp
void register_vec_dot_iq_neon(isa_kernels& k);       // vec_dot_iq_neon.cpp
void register_vec_dot_int8_neon(isa_kernels& k);     // vec_dot_int8_neon.cpp
void register_vec_dot_bnb4_neon(isa_kernels& k);     // vec_dot_bnb4_neon.cpp
void register_ops_neon(isa_kernels& k);              // ops_neon.cpp (RMSNorm, the activations, the attention tile)
void register_neon_tier(isa_kernels& k);             // tier_neon.cpp: all of the above
void register_repack_i8mm(isa_kernels& k);           // repack_i8mm.cpp (dotprod namespace only)

}  // namespace pyggml::PYGGML_NEON_TIER
