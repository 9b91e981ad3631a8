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

#include "core/dispatch.h"

#if defined(__ARM_FEATURE_DOTPROD)
#define PYGGML_NEON_TIER dotprod
#else
#define PYGGML_NEON_TIER neon
#endif

namespace pyggml::PYGGML_NEON_TIER {

namespace {

// acc plus, in each int32 lane i, the sum of a[4i + j] * b[4i + j] over j = 0..3: SDOT where the
// compile has it. On ARMv8.0 SMULL and SMULL2 give the 16 products in int16 (each within
// +-16384), SADDLP sums neighbours into int32 and ADDP neighbouring pairs of those: exact
// integer arithmetic grouped as SDOT groups it, so the same sums.
inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
#endif
}

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
