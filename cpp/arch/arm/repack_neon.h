// repack_neon.h: the NEON (SDOT) kernels over the 8-row layouts (repack_neon.cpp), which the
// i8mm tier's kernels (repack_i8mm.cpp) call for a single token, and what both tiers' kernels
// share.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/blocks.h"
#include "kernels/repack.h"

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

inline float h2f(uint16_t h) {
    __fp16 f;
    std::memcpy(&f, &h, 2);
    return float(f);
}

// Rows 0..3 and 4..7 of 8 fp16 values as float32.
inline void load_d8(const uint16_t* d, float32x4_t* lo, float32x4_t* hi) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(d));
    *lo = vcvt_f32_f16(vget_low_f16(h));
    *hi = vcvt_high_f32_f16(h);
}

// acc[2t], acc[2t + 1] (rows 0..3, 4..7) += d_row * dy * isum, as fma(d * dy, isum, acc).
inline void fma_rows(float32x4_t* acc, float32x4_t dlo, float32x4_t dhi, float dy, int32x4_t lo, int32x4_t hi) {
    acc[0] = vfmaq_f32(acc[0], vmulq_n_f32(dlo, dy), vcvtq_f32_s32(lo));
    acc[1] = vfmaq_f32(acc[1], vmulq_n_f32(dhi, dy), vcvtq_f32_s32(hi));
}


// The last step of the nibble layouts from a[t] (rows 0..3, 4..7: the int32 sums of the
// unsigned quants times the activations). Q4_0, Q5_0: the quants' offset (8, 16) times y's
// quant sum taken off, then acc = fma(d_row * d_y, isum, acc). Q4_1, Q5_1: acc = fma(d_row *
// d_y, isum, acc), then acc = fma(m_row, s_y, acc), as the scalar step_min_x8.
template <int NT, class G>
inline void finish_nibbles(const G& g, const nibble_act<G>* const* y, int i, const int32x4_t (*a)[2], float32x4_t* acc) {
    float32x4_t dlo, dhi;
    load_d8(g.d, &dlo, &dhi);
    if constexpr (has_min<G>) {
        float32x4_t mlo, mhi;
        load_d8(g.m, &mlo, &mhi);
        for (int t = 0; t < NT; ++t) {
            float32x4_t* ac = acc + 2 * t;
            fma_rows(ac, dlo, dhi, h2f(y[t][i].d), a[t][0], a[t][1]);
            const float32x4_t s = vdupq_n_f32(h2f(y[t][i].s));
            ac[0] = vfmaq_f32(ac[0], mlo, s);
            ac[1] = vfmaq_f32(ac[1], mhi, s);
        }
    } else {
        for (int t = 0; t < NT; ++t) {
            const int32x4_t off = vdupq_n_s32((has_fifth_bit<G> ? 16 : 8) * y[t][i].sum);
            fma_rows(acc + 2 * t, dlo, dhi, h2f(y[t][i].d), vsubq_s32(a[t][0], off), vsubq_s32(a[t][1], off));
        }
    }
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
