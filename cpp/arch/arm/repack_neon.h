// repack_neon.h: the NEON (SDOT) kernels over the 8-row layouts (repack_neon.cpp), which the
// i8mm tier's kernels (repack_i8mm.cpp) call for a single token, and what both tiers' kernels
// share.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "core/blocks.h"

namespace pyggml {

namespace {

// Bit j of each of the 16 bytes moved to bit 4 (a negative count shifts right): Q5_K's fifth
// bits for sub-block j (block_q5_Kx8); Q5_0's and Q5_1's for quants 4j.. of a 32-byte load's
// low nibbles (j < 4) and 16 + 4(j - 4).. of its high ones (block_q5_0x8).
inline uint8x16_t fifth_bits(uint8x16_t h, int j) {
    return vandq_u8(vshlq_u8(h, vdupq_n_s8(int8_t(4 - j))), vdupq_n_u8(0x10));
}

// The 8 rows' scale of IQ4_XS sub-block j less its offset of 32 (-32..31): rows 0..3 in lo,
// 4..7 in hi (see block_iq4_xsx8).
inline void iq4_xs_scales(const block_iq4_xsx8& g, int j, int32x4_t* lo, int32x4_t* hi) {
    const uint16x8_t l = vmovl_u8(vld1_u8(g.scales_l + 8 * (j / 2)));
    const uint16x8_t h = vld1q_u16(g.scales_h);
    const uint16x8_t l4 = vandq_u16(vshlq_u16(l, vdupq_n_s16(int16_t(-4 * (j % 2)))), vdupq_n_u16(15));
    const uint16x8_t h2 = vandq_u16(vshlq_u16(h, vdupq_n_s16(int16_t(-2 * j))), vdupq_n_u16(3));
    const int16x8_t s = vsubq_s16(vreinterpretq_s16_u16(vorrq_u16(l4, vshlq_n_u16(h2, 4))), vdupq_n_s16(32));
    *lo = vmovl_s16(vget_low_s16(s));
    *hi = vmovl_high_s16(s);
}

}  // namespace

void dot_q4_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q6_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_iq4_xsx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q8_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);

}  // namespace pyggml
