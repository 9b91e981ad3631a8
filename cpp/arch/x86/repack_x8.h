// repack_x8.h: what the x86 tiers' kernels over the 8-row layouts (kernels/repack.h) share:
// the AVX2 helpers that unpack a group's scales and sum a Q8_K block's mins, and the AVX2
// kernels themselves, which the higher tiers call for one token (a memory-bound pass that
// their wider dot products do not speed up; but see repack_vnni.h).
//
// Included only by arch/x86/repack_*.cpp, each compiled for its own tier: the helpers have
// internal linkage, so that every file keeps its own copy, encoded for its own flags.
#pragma once

#include <immintrin.h>

#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "kernels/repack.h"
#include "kernels/vec_dot.h"

namespace pyggml {

// repack_avx2.cpp: the AVX2 kernels (vec_dot_fn over the layout, see kernels/repack.h).
void dot_q4_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q6_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q2_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q3_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_0x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_0x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_1x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_1x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_iq4_xsx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q8_0x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q8_0x8_plain_act_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by,
                               int nt);
void dot_iq4_nlx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_mxfp4x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);

namespace {

inline __m256 load_d8(const uint16_t* d) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d))); }

// The 8 rows' MXFP4 scales, halved (e8m0_to_fp32_half): 2^(e - 128) as the float bits
// (e - 1) << 23, or 0x00200000 << e for the two codes below the float normal range.
inline __m256 load_e8m0_8(const uint8_t* e) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(e)));
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(v, _mm256_set1_epi32(1)), 23);
    const __m256i tiny = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), v);
    const __m256i is_tiny = _mm256_cmpgt_epi32(_mm256_set1_epi32(2), v);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(normal, tiny, is_tiny));
}

// The 8 rows' scales of the layouts with one scale per row and 32 columns (Q4_0, Q5_0 and
// IQ4_NL: fp16, MXFP4: E8M0), one overload each, for the kernels written once for several of them.
inline __m256 row_scales(const block_q4_0x8& g) { return load_d8(g.d); }
inline __m256 row_scales(const block_q5_0x8& g) { return load_d8(g.d); }
inline __m256 row_scales(const block_iq4_nlx8& g) { return load_d8(g.d); }
inline __m256 row_scales(const block_mxfp4x8& g) { return load_e8m0_8(g.e); }

// acc[t] += d_row * d_y * (isum[t] - offset * y's quant sum): the last step of the layouts whose
// quants carry an offset (Q4_0 8, Q5_0 16, the looked-up IQ4_NL and MXFP4 values 128).
template <int NT>
inline void finish_legacy(__m256 d, const block_q8_0s* const* y, int i, const __m256i* isum, int offset, __m256* acc) {
    for (int t = 0; t < NT; ++t) {
        const __m256i s = _mm256_sub_epi32(isum[t], _mm256_set1_epi32(offset * y[t][i].sum));
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(_cvtsh_ss(y[t][i].d))), _mm256_cvtepi32_ps(s), acc[t]);
    }
}

// acc[t] += d_row * d_y * isum[t], then m_row * s_y (s: d_y times the sum of y's quants): the
// last step of Q4_1 and Q5_1, whose quants are unsigned with a min per block.
template <int NT>
inline void finish_min(__m256 d, __m256 m, const block_q8_1* const* y, int i, const __m256i* isum, __m256* acc) {
    for (int t = 0; t < NT; ++t) {
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(_cvtsh_ss(y[t][i].d))), _mm256_cvtepi32_ps(isum[t]), acc[t]);
        acc[t] = _mm256_fmadd_ps(m, _mm256_set1_ps(_cvtsh_ss(y[t][i].s)), acc[t]);
    }
}

// The last step of the nibble layouts (has_min, nibble_act: kernels/repack.h) from the int32 sums of
// unsigned quants times activations.
template <int NT, class G>
inline void finish_nibbles(const G& g, const nibble_act<G>* const* y, int i, const __m256i* isum, __m256* acc) {
    if constexpr (has_min<G>) {
        finish_min<NT>(load_d8(g.d), load_d8(g.m), y, i, isum, acc);
    } else {
        finish_legacy<NT>(load_d8(g.d), y, i, isum, has_fifth_bit<G> ? 16 : 8, acc);
    }
}

// acc[t] += (d_row * d_y) * sumi[t]: the last step of the super-block layouts (d: the group's 8
// fp16 scales, y: Q8_K activations).
template <int NT>
inline void fma_super_block(const uint16_t* d8, const block_q8_K* const* y, int i, const __m256i* sumi, __m256* acc) {
    const __m256 d = load_d8(d8);
    for (int t = 0; t < NT; ++t) {
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y[t][i].d)), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
    }
}

// The 8 rows' scale of IQ4_XS sub-block j less its offset of 32 (-32..31), as int32 in lane r.
inline __m256i iq4_xs_scales(const block_iq4_xsx8& g, int j) {
    const __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g.scales_l + 8 * (j / 2))));
    const __m256i hi = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales_h)));
    const __m256i l4 = _mm256_and_si256(_mm256_srli_epi32(lo, 4 * (j % 2)), _mm256_set1_epi32(15));
    const __m256i h2 = _mm256_and_si256(_mm256_srli_epi32(hi, 2 * j), _mm256_set1_epi32(3));
    return _mm256_sub_epi32(_mm256_or_si256(l4, _mm256_slli_epi32(h2, 4)), _mm256_set1_epi32(32));
}

// Q3_K: the 8 rows' scales of sub-blocks 2p and 2p + 1 (-32..31) as int8, byte 2r + h = row r's
// scale 2p + h: block_q6_Kx8's order.
inline __m128i q3_K_scales8(const block_q3_Kx8& g, int p) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales_lo + 16 * (p % 4)));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales_hi + 16 * (p % 2)));
    // 16-bit shifts: the mask keeps only bits of the byte's own
    const __m128i l4 = _mm_and_si128(p / 4 ? _mm_srli_epi16(lo, 4) : lo, _mm_set1_epi8(0x0F));
    const int up = 4 - 2 * (p / 2);  // bits 2 (p / 2) .. to bits 4, 5
    const __m128i h2 = _mm_and_si128(up >= 0 ? _mm_slli_epi16(hi, up) : _mm_srli_epi16(hi, -up), _mm_set1_epi8(0x30));
    return _mm_sub_epi8(_mm_or_si128(l4, h2), _mm_set1_epi8(32));
}

// Q3_K: quant vector u (0..7, bytes 4r + b: row r's quant 16c + 4u + b) of 16 columns c from that
// set's qs load v and its pair's hmask load hm (bit 4 (c % 2) + u).
inline __m256i q3_K_quants(__m256i v, __m256i hm, int c, int u) {
    const int bit = 4 * (c % 2) + u;  // to bit 2; 16-bit shifts, masked to the byte's own bits
    const __m256i lo = _mm256_and_si256(u ? _mm256_srli_epi16(v, 2 * u) : v, _mm256_set1_epi8(3));
    const __m256i hi = bit >= 2 ? _mm256_srli_epi16(hm, bit - 2) : _mm256_slli_epi16(hm, 2 - bit);
    return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(4)));
}

// Q2_K: the 8 rows' scales (Min false) or mins (Min true) of sub-blocks 2p and 2p + 1 as int16,
// lane r = (row r's 2p, row r's 2p + 1).
template <bool Min>
inline __m256i q2_K_scales16(const block_q2_Kx8& g, int p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales + 16 * p));
    return _mm256_cvtepu8_epi16(_mm_and_si128(Min ? _mm_srli_epi16(b, 4) : b, _mm_set1_epi8(0x0F)));
}

// Q2_K: quant vector u (0..3, bytes 4r + b: row r's quant 16c + 4u + b) of a set's qs load v.
inline __m256i q2_K_quants(__m256i v, int u) {
    return _mm256_and_si256(u ? _mm256_srli_epi16(v, 2 * u) : v, _mm256_set1_epi8(3));
}

// The group's six-bit scales and mins as bytes: S[h] byte 16 * (r / 4) + 4 * (j % 4) + r % 4
// holds scale(r, 4h + j % 4), M[h] the min.
struct group_scales {
    __m256i s[2], m[2];
};

// G: block_q4_Kx8 or block_q5_Kx8 (the same scale bytes).
template <class G>
inline group_scales unpack_scales(const G& g) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    const __m256i sl = loadu(g.scales_lo), ml = loadu(g.mins_lo), hi = loadu(g.hi);
    group_scales r;
    r.s[0] = _mm256_or_si256(_mm256_and_si256(sl, m4), _mm256_and_si256(_mm256_slli_epi16(hi, 4), m2));
    r.s[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(sl, 4), m4), _mm256_and_si256(_mm256_slli_epi16(hi, 2), m2));
    r.m[0] = _mm256_or_si256(_mm256_and_si256(ml, m4), _mm256_and_si256(hi, m2));
    r.m[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ml, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hi, 2), m2));
    return r;
}

// Lane r: sum_j min(r, j) * (bsums[2j] + bsums[2j + 1]).
inline __m256i min_sums(const group_scales& g, const block_q8_K& y) {
    const __m256i b = loadu(y.bsums);
    // (sum_0, sum_1), (sum_2, sum_3), ... as 4 int32 words, in both lanes
    const __m256i pairs =
        _mm256_broadcastsi128_si256(_mm_hadd_epi16(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1)));
    __m256i acc = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {  // sub-blocks 2p, 2p + 1
        const int b0 = 4 * ((2 * p) % 4), b1 = b0 + 4;
        const __m256i ctrl = _mm256_setr_epi8(b0, -1, b1, -1, b0 + 1, -1, b1 + 1, -1, b0 + 2, -1, b1 + 2, -1, b0 + 3, -1,
                                              b1 + 3, -1, b0, -1, b1, -1, b0 + 1, -1, b1 + 1, -1, b0 + 2, -1, b1 + 2, -1,
                                              b0 + 3, -1, b1 + 3, -1);
        const __m256i mins = _mm256_shuffle_epi8(g.m[p / 2], ctrl);
        __m256i ys;
        switch (p) {
            case 0: ys = _mm256_shuffle_epi32(pairs, 0x00); break;
            case 1: ys = _mm256_shuffle_epi32(pairs, 0x55); break;
            case 2: ys = _mm256_shuffle_epi32(pairs, 0xAA); break;
            default: ys = _mm256_shuffle_epi32(pairs, 0xFF); break;
        }
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(mins, ys));
    }
    return acc;
}

}  // namespace

}  // namespace pyggml
