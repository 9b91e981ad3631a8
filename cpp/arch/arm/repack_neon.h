// repack_neon.h: the NEON (SDOT) kernels over the 8-row layouts (repack_neon.cpp), which the
// i8mm tier's kernels (repack_i8mm.cpp) call for a single token, and what both tiers' kernels
// share.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "arch/arm/neon_tier.h"
#include "core/blocks.h"
#include "kernels/repack.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

// The 16 quants n (at most 15) with bit j of each byte of h as their bit 4: h shifted there (a
// negative count shifts right) and inserted with BSL, one instruction where an AND and an OR
// had taken two. Q5_K's fifth bits for sub-block j (block_q5_Kx8); Q5_0's and Q5_1's for quants
// 4j.. of a 32-byte load's low nibbles (j < 4) and 16 + 4(j - 4).. of its high ones (block_q5_0x8).
inline uint8x16_t with_fifth_bits(uint8x16_t n, uint8x16_t h, int j) {
    return vbslq_u8(vdupq_n_u8(0x10), vshlq_u8(h, vdupq_n_s8(int8_t(4 - j))), n);
}

// The six-bit scales and mins of the group's 8 rows (see block_q4_Kx8). G: block_q4_Kx8 or
// block_q5_Kx8 (the same scale bytes). Rows 0..3 of sub-blocks j and j + 4 share byte 4j + r of
// the first 16 bytes of each scale array, rows 4..7 of the next 16: v[half][w] the 16 bytes of
// sub-blocks 0..3 (w = 0) and 4..7 (w = 1), rows 4 half .. 4 half + 3, of the scales (Mins
// false) or the mins (Mins true).
template <bool Mins, class G>
inline void q4_K_six_bits(const G& g, uint8x16_t (*v)[2]) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(3);
    for (int half = 0; half < 2; ++half) {
        const uint8x16_t hi = vld1q_u8(g.hi + 16 * half);
        if constexpr (Mins) {
            const uint8x16_t ml = vld1q_u8(g.mins_lo + 16 * half);
            v[half][0] = vorrq_u8(vandq_u8(ml, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hi, 4), m3), 4));
            v[half][1] = vorrq_u8(vshrq_n_u8(ml, 4), vshlq_n_u8(vshrq_n_u8(hi, 6), 4));
        } else {
            const uint8x16_t lo = vld1q_u8(g.scales_lo + 16 * half);
            v[half][0] = vorrq_u8(vandq_u8(lo, m4), vshlq_n_u8(vandq_u8(hi, m3), 4));
            v[half][1] = vorrq_u8(vshrq_n_u8(lo, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hi, 2), m3), 4));
        }
    }
}

// The scales as int32: sc[j][r] for sub-block j, row r.
template <class G>
inline void unpack_q4_K_scales(const G& g, int32_t sc[8][8]) {
    uint8x16_t v[2][2];
    q4_K_six_bits<false>(g, v);
    for (int half = 0; half < 2; ++half) {
        for (int w = 0; w < 2; ++w) {
            const uint16x8_t a = vmovl_u8(vget_low_u8(v[half][w])), b = vmovl_high_u8(v[half][w]);
            int32_t(*dst)[8] = sc + 4 * w;
            vst1q_s32(dst[0] + 4 * half, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(a))));
            vst1q_s32(dst[1] + 4 * half, vreinterpretq_s32_u32(vmovl_high_u16(a)));
            vst1q_s32(dst[2] + 4 * half, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(b))));
            vst1q_s32(dst[3] + 4 * half, vreinterpretq_s32_u32(vmovl_high_u16(b)));
        }
    }
}

// The mins as int16, mn[j] = sub-block j's mins of rows 0..7: zipping the two halves' 32-bit
// words puts each sub-block's rows 0..3 beside its rows 4..7.
template <class G>
inline void q4_K_mins(const G& g, int16x8_t mn[8]) {
    uint8x16_t v[2][2];
    q4_K_six_bits<true>(g, v);
    for (int w = 0; w < 2; ++w) {
        const uint32x4_t a = vreinterpretq_u32_u8(v[0][w]), b = vreinterpretq_u32_u8(v[1][w]);
        const uint8x16_t z1 = vreinterpretq_u8_u32(vzip1q_u32(a, b)), z2 = vreinterpretq_u8_u32(vzip2q_u32(a, b));
        mn[4 * w] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(z1)));
        mn[4 * w + 1] = vreinterpretq_s16_u16(vmovl_high_u8(z1));
        mn[4 * w + 2] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(z2)));
        mn[4 * w + 3] = vreinterpretq_s16_u16(vmovl_high_u8(z2));
    }
}

// Rows 0..3 (*lo) and 4..7 (*hi) of the mins' integer part for one token: the sum over
// sub-blocks j of mn[j][r] times y's quant sum over sub-block j (two of its sums of 16, added
// pairwise in int16: |sum| <= 32 * 128). One SMLAL by element per sub-block and half, exact
// in int32 (|total| <= 8 * 63 * 4096).
inline void q4_K_min_sums(const int16x8_t* mn, const block_q8_K& y, int32x4_t* lo, int32x4_t* hi) {
    const int16x8_t b = vpaddq_s16(vld1q_s16(y.bsums), vld1q_s16(y.bsums + 8));
    int32x4_t l = vdupq_n_s32(0), h = vdupq_n_s32(0);
    unrolled<8>([&](auto j) {
        l = vmlal_laneq_s16(l, vget_low_s16(mn[j]), b, j);
        h = vmlal_high_laneq_s16(h, mn[j], b, j);
    });
    *lo = l;
    *hi = h;
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

// Q3_K: the 8 rows' scales of sub-blocks 2p and 2p + 1 (-32..31), byte 2r + h = row r's scale
// 2p + h (block_q3_Kx8; block_q6_Kx8's order).
inline int8x16_t q3_K_scales8(const block_q3_Kx8& g, int p) {
    const uint8x16_t lo = vld1q_u8(g.scales_lo + 16 * (p % 4)), hi = vld1q_u8(g.scales_hi + 16 * (p % 2));
    const uint8x16_t l4 = vandq_u8(vshlq_u8(lo, vdupq_n_s8(int8_t(-4 * (p / 4)))), vdupq_n_u8(15));
    const uint8x16_t h2 = vandq_u8(vshlq_u8(hi, vdupq_n_s8(int8_t(4 - 2 * (p / 2)))), vdupq_n_u8(0x30));
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l4, h2)), vdupq_n_s8(32));
}

// Q3_K: the 4 quant vectors (0..7, the value plus 4) of 16 columns c for 4 rows: the low 2 bits
// from v (16 bytes of qs), the third bits from hm (the same rows' 16 bytes of hmask), bit 4 (c % 2) + u.
inline void q3_K_quants(uint8x16_t v, uint8x16_t hm, int c, int8x16_t* q) {
    for (int u = 0; u < 4; ++u) {
        const uint8x16_t lo = vandq_u8(vshlq_u8(v, vdupq_n_s8(int8_t(-2 * u))), vdupq_n_u8(3));
        const uint8x16_t hi = vandq_u8(vshlq_u8(hm, vdupq_n_s8(int8_t(2 - 4 * (c % 2) - u))), vdupq_n_u8(4));
        q[u] = vreinterpretq_s8_u8(vorrq_u8(lo, hi));
    }
}

// Q2_K: the 4 quant vectors (0..3) of 16 columns for 4 rows from v (16 bytes of qs), bits 2u.
inline void q2_K_quants(uint8x16_t v, int8x16_t* q) {
    for (int u = 0; u < 4; ++u) q[u] = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(v, vdupq_n_s8(int8_t(-2 * u))), vdupq_n_u8(3)));
}

// The 8 rows' int8 scales of sub-blocks 2p (ev) and 2p + 1 (od), bytes 2r + h, as int32: [h][rows 0..3, 4..7].
inline void pair_scales(int8x16_t sc, int32x4_t (*scs)[2]) {
    const int16x8_t s16 = vmovl_s8(vget_low_s8(sc)), t16 = vmovl_high_s8(sc);
    const int16x8_t ev = vuzp1q_s16(s16, t16), od = vuzp2q_s16(s16, t16);
    scs[0][0] = vmovl_s16(vget_low_s16(ev));
    scs[0][1] = vmovl_high_s16(ev);
    scs[1][0] = vmovl_s16(vget_low_s16(od));
    scs[1][1] = vmovl_high_s16(od);
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

// acc[2t], acc[2t + 1] -= m_row * dy * isum, as fma(-(m * dy), isum, acc): the mins of Q4_K, Q5_K, Q2_K.
inline void fms_rows(float32x4_t* acc, float32x4_t mlo, float32x4_t mhi, float dy, int32x4_t lo, int32x4_t hi) {
    acc[0] = vfmsq_f32(acc[0], vmulq_n_f32(mlo, dy), vcvtq_f32_s32(lo));
    acc[1] = vfmsq_f32(acc[1], vmulq_n_f32(mhi, dy), vcvtq_f32_s32(hi));
}

// Q3_K and Q2_K (G: block_q3_Kx8, block_q2_Kx8): the 8 rows' scales of sub-blocks 2p, 2p + 1 as int32
// (pair_scales' order), for Q2_K also its mins (into mns), and the 4 quant vectors of 16 columns c for
// rows 0..3 (half 0) and 4..7 (half 1).
template <class G>
inline void q23_K_pair(const G& g, int p, int32x4_t (*scs)[2], int32x4_t (*mns)[2]) {
    if constexpr (std::is_same_v<G, block_q3_Kx8>) {
        pair_scales(q3_K_scales8(g, p), scs);
        (void)mns;
    } else {
        const uint8x16_t sb = vld1q_u8(g.scales + 16 * p);
        pair_scales(vreinterpretq_s8_u8(vandq_u8(sb, vdupq_n_u8(15))), scs);
        pair_scales(vreinterpretq_s8_u8(vshrq_n_u8(sb, 4)), mns);
    }
}
template <class G>
inline void q23_K_set(const G& g, int c, int8x16_t (*q)[4]) {
    for (int half = 0; half < 2; ++half) {
        const uint8x16_t v = vld1q_u8(g.qs + 32 * c + 16 * half);
        if constexpr (std::is_same_v<G, block_q3_Kx8>) {
            q3_K_quants(v, vld1q_u8(g.hmask + 32 * (c / 2) + 16 * half), c, q[half]);
        } else {
            q2_K_quants(v, q[half]);
        }
    }
}

// The 8 rows' scales of the looked-up layouts: IQ4_NL fp16; MXFP4 its E8M0 exponents halved
// (e8m0_to_fp32_half: the float bits (e - 1) << 23, or 0x00200000 << e for the two codes below
// the float normal range).
inline void row_scales(const block_iq4_nlx8& g, float32x4_t* lo, float32x4_t* hi) { load_d8(g.d, lo, hi); }
inline void row_scales(const block_mxfp4x8& g, float32x4_t* lo, float32x4_t* hi) {
    const uint16x8_t e = vmovl_u8(vld1_u8(g.e));
    const uint32x4_t es[2] = {vmovl_u16(vget_low_u16(e)), vmovl_high_u16(e)};
    float32x4_t* out[2] = {lo, hi};
    for (int h = 0; h < 2; ++h) {
        const uint32x4_t normal = vshlq_n_u32(vsubq_u32(es[h], vdupq_n_u32(1)), 23);
        const uint32x4_t tiny = vshlq_u32(vdupq_n_u32(0x00200000u), vreinterpretq_s32_u32(es[h]));
        *out[h] = vreinterpretq_f32_u32(vbslq_u32(vcltq_u32(es[h], vdupq_n_u32(2)), tiny, normal));
    }
}

// The last step of the nibble layouts from a[t] (rows 0..3, 4..7: the int32 sums of the
// unsigned quants times the activations). Q4_0, Q5_0: the quants' offset (8, 16) times y's
// quant sum taken off, then acc = fma(d_row * d_y, isum, acc). Q4_1, Q5_1: acc = fma(d_row *
// d_y, isum, acc), then acc = fma(m_row, s_y, acc), as the scalar step_min_x8.
// IQ4_NL, MXFP4 (Lookup: the nibbles were looked up in a table of signed values): no offset, the
// rows' scale (row_scales) times d_y, as step_legacy_x8 over row_dot_lookup4. Centred: Q4_0's or
// Q5_0's sums of the quants less their offset (the i8mm kernel's), so no offset here either.
template <int NT, class G, bool Lookup = false, bool Centred = false>
inline void finish_nibbles(const G& g, const nibble_act<G>* const* y, int i, const int32x4_t (*a)[2], float32x4_t* acc) {
    float32x4_t dlo, dhi;
    if constexpr (Lookup || Centred) {
        if constexpr (Lookup) row_scales(g, &dlo, &dhi); else load_d8(g.d, &dlo, &dhi);
        for (int t = 0; t < NT; ++t) fma_rows(acc + 2 * t, dlo, dhi, h2f(y[t][i].d), a[t][0], a[t][1]);
        return;
    } else {
        load_d8(g.d, &dlo, &dhi);
    }
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
void dot_q2_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q3_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_iq4_xsx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q8_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_iq4_nlx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_mxfp4x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q8_0x8_plain_act_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by,
                               int nt);

}  // namespace pyggml::PYGGML_NEON_TIER
