// repack_vnni.h: dot kernels over the 8-row layouts (kernels/repack.h) for the x86 tiers
// with VPDPBUSD (u8 x s8, four products summed into each int32 lane) and VPDPWSSD
// (int16 pairs likewise): one source for the AVX-VNNI tier (VEX encoding, 16 registers,
// repack_avxvnni.cpp) and the AVX-512 tier (EVEX encoding of the same 256-bit operations,
// 32 registers, so more tokens at once; repack_avx512.cpp, whose own 512-bit kernels take
// two groups a step and leave these a last odd group and calls of fewer than 8 tokens). Each
// file passes its own instructions as V::dpbusd / V::dpwssd (V::dpbusd_at / V::dpwssd_at:
// with the 4 activation bytes at an address, an embedded broadcast in EVEX) and includes
// this header inside its own translation unit (internal linkage: no copy is shared between
// tiers).
//
// Lane r of every vector holds row r of the group, as in the AVX2 kernels
// (repack_avx2.cpp); the integer sums are exact and the float operations per row the
// same, in the same order, as the scalar references' in kernels/repack.cpp, so every
// tier gives the same bits. What changes is the integer work: VPDPBUSD adds four
// products straight into int32 where AVX2 needs VPMADDUBSW, int16 adds and VPMADDWD.
//
// Q4_K: a sub-block's 32 quants are summed in two halves of 16 (|sum| <= 16 * 15 * 128 =
// 30720, so each int32 lane holds an int16 value), and each half meets the rows'
// sub-block scale through VPDPWSSD with the scale in the low half of the lane and zero in
// the high half: exactly sum * scale. Q5_K: quants up to 31 (the fifth bits or'ed in), so
// a sub-block's sum (|sum| <= 32 * 31 * 128) stays in int32 and meets the scale through
// VPMULLD, as Q6_K's do. Q6_K: four VPDPBUSD per 16 quants (|sum| <=
// 16 * 63 * 128, beyond int16), scaled with VPMULLD, the quants' offset of 32 taken off
// through VPDPWSSD of minus 32 times the scales with the activations' sums; Q3_K the same, its sums of 16 within int16
// (quants up to 7), so scaled through VPDPWSSD as Q4_K's halves. Q4_0 / Q5_0 / Q4_1 / Q5_1 / Q8_0: one int32
// sum per block, as the AVX2 kernels form it.
//
// One token (token generation) streams the weights from memory once: the AVX2 kernels,
// tuned for that (prefetch, several streams), serve it in every tier, but for IQ4_XS, Q3_K and
// Q2_K, whose AVX2 kernels do not keep up with memory on one core (IQ4_XS's grid lookups and
// sign steps, Q3_K's and Q2_K's bit unpacking): their kernels here go through the same driver
// (stream_groups.h, a quarter of a super-block at a time). A matrix of 65536 x 1536 from
// memory, one thread, Zen 4: IQ4_XS 19.0 GB/s with the AVX2 kernel, 25.6 with VPDPBUSD; Q3_K
// 16.3 and 18.1; Q2_K 19.1 and 22.7. The 32-column layouts read faster through the AVX2 ones
// (VNNI one-token kernels through the same driver: Q8_0 26 -> 21-24 GB/s, Q4_0 27 -> 23-25 in
// the whole token's matrices, benchmarks/matvec_sequence.py); Q4_K's, Q5_K's and Q6_K's VNNI
// kernels have no quarters, and stepping whole blocks read slower (Q4_K 26 -> 17-21).
#pragma once

#include <type_traits>

#include "arch/x86/repack_x8.h"
#include "arch/x86/stream_groups.h"
#include "core/dispatch.h"
#include "kernels/repack.h"

namespace pyggml {

namespace {

// Sub-block j's scale of each row, zero-extended to int32 in lane r.
inline __m256i scale32_q4_K(const group_scales& g, int j) {
    const int b = 4 * (j % 4);
    const __m256i ctrl = _mm256_setr_epi8(b, -1, -1, -1, b + 1, -1, -1, -1, b + 2, -1, -1, -1, b + 3, -1, -1, -1, b, -1, -1,
                                          -1, b + 1, -1, -1, -1, b + 2, -1, -1, -1, b + 3, -1, -1, -1);
    return _mm256_shuffle_epi8(g.s[j / 4], ctrl);
}

// Q4_K and Q5_K (G: block_q4_Kx8 or block_q5_Kx8).
template <class V, class G = block_q4_Kx8>
struct q45_K_vnni {
    using group = G;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr bool q5 = std::is_same_v<G, block_q5_Kx8>;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const group_scales sc = unpack_scales(g);
        const __m256i m4 = _mm256_set1_epi8(0x0F), m10 = _mm256_set1_epi8(0x10);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            const int k = j / 2, shift = 4 * (j % 2);
            const __m256i s = scale32_q4_K(sc, j);
            // Q4_K: halves of 16 quants, scaled by VPDPWSSD; Q5_K: all 32 in int32, then VPMULLD
#pragma GCC unroll 2
            for (int h = 0; h < (q5 ? 1 : 2); ++h) {
                __m256i a[NT];
                for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int u = 4 * h; u < (q5 ? 8 : 4 * h + 4); ++u) {
                    const __m256i v = loadu(g.qs + 32 * (8 * k + u));
                    __m256i q = _mm256_and_si256(shift ? _mm256_srli_epi16(v, 4) : v, m4);
                    if constexpr (q5) {
                        const __m256i qh = load_again(g.qh + 32 * u);
                        q = _mm256_or_si256(q, _mm256_and_si256(j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4), m10));
                    }
                    for (int t = 0; t < NT; ++t) a[t] = V::dpbusd_at(a[t], q, y[t][i].qs + 32 * j + 4 * u);
                }
                for (int t = 0; t < NT; ++t) {
                    if constexpr (q5) {
                        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_mullo_epi32(a[t], s));
                        keep_in_register(sumi[t]);
                    } else {
                        sumi[t] = V::dpwssd(sumi[t], a[t], s);
                    }
                }
            }
        }
        const __m256 d = load_d8(g.d), m = load_d8(g.dmin);
        for (int t = 0; t < NT; ++t) {
            const __m256 yd = _mm256_set1_ps(y[t][i].d);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, yd), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(m, yd), _mm256_cvtepi32_ps(min_sums(sc, y[t][i])), acc[t]);
        }
    }
};
template <class V>
using q4_K_vnni = q45_K_vnni<V, block_q4_Kx8>;
template <class V>
using q5_K_vnni = q45_K_vnni<V, block_q5_Kx8>;

template <class V>
struct q6_K_vnni {
    using group = block_q6_Kx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const __m256i top = _mm256_set1_epi8(char(0xC0));
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int p = 0; p < 8; ++p) {
            // lane r: (scale(r, 2p), scale(r, 2p + 1)) as int16
            const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales + 16 * p)));
            // the quants' offset: minus 32 times the scales, with the activations' sums of 16
            const __m256i off = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, 5));
            for (int t = 0; t < NT; ++t) sumi[t] = V::dpwssd_at(sumi[t], off, y[t][i].bsums + 2 * p);
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                const __m256i s = h ? _mm256_srai_epi32(sc, 16) : _mm256_srai_epi32(_mm256_slli_epi32(sc, 16), 16);
                const __m256i v0 = loadu(g.qs + 96 * c), v1 = loadu(g.qs + 96 * c + 32), v2 = loadu(g.qs + 96 * c + 64);
                const __m256i t0 = _mm256_and_si256(v0, top), t1 = _mm256_and_si256(v1, top),
                              t2 = _mm256_and_si256(v2, top);
                const __m256i q0 = _mm256_xor_si256(v0, t0), q1 = _mm256_xor_si256(v1, t1), q2 = _mm256_xor_si256(v2, t2);
                const __m256i q3 = _mm256_or_si256(_mm256_or_si256(_mm256_srli_epi16(t0, 6), _mm256_srli_epi16(t1, 4)),
                                                   _mm256_srli_epi16(t2, 2));
                for (int t = 0; t < NT; ++t) {
                    const int8_t* yq = y[t][i].qs + 16 * c;
                    __m256i a = V::dpbusd_at(_mm256_setzero_si256(), q0, yq);
                    a = V::dpbusd_at(a, q1, yq + 4);
                    a = V::dpbusd_at(a, q2, yq + 8);
                    a = V::dpbusd_at(a, q3, yq + 12);
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_mullo_epi32(a, s));
                    keep_in_register(sumi[t]);
                }
            }
        }
        fma_super_block<NT>(g.d, y, i, sumi, acc);
    }
};

// Q3_K and Q2_K (G: block_q3_Kx8 or block_q2_Kx8): four VPDPBUSD per 16 quants (Q3_K 0..7, Q2_K
// 0..3: |sum| <= 16 * 7 * 128 = 14336, within int16), scaled through VPDPWSSD with the rows' scale
// in the low half of each lane and zero in the high half, as Q4_K's halves. Q3_K's offset (q - 4)
// goes in through VPDPWSSD of minus 4 times the scales with the activations' sums of 16, Q2_K's
// mins the same way into sums of their own, taken off in the last step.
template <class V, class G>
struct q23_K_vnni {
    static constexpr bool q3 = std::is_same_v<G, block_q3_Kx8>;
    using group = G;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr bool quarters = true;  // one token: stream_groups.h
    static constexpr int streams = 2;
    struct state {
        __m256i summ;  // Q2_K: the mins' sums of one token
    };
    // sumi[t] (and Q2_K's summ[t]) += the sums of pairs of sets [P0, P1) (zeroed first when P0 == 0).
    template <int NT, int P0 = 0, int P1 = 8>
    static inline void sums(const group& g, const act* const* y, int i, __m256i* sumi, __m256i* summ) {
        if (P0 == 0) {
            for (int t = 0; t < NT; ++t) sumi[t] = summ[t] = _mm256_setzero_si256();
        }
#pragma GCC unroll 8
        for (int p = P0; p < P1; ++p) {
            // lane r: (scale(r, 2p), scale(r, 2p + 1)) as int16
            __m256i sc, hm = _mm256_setzero_si256();
            if constexpr (q3) {
                sc = _mm256_cvtepi8_epi16(q3_K_scales8(g, p));
                const __m256i off = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, 2));
                for (int t = 0; t < NT; ++t) sumi[t] = V::dpwssd_at(sumi[t], off, y[t][i].bsums + 2 * p);
                hm = loadu(g.hmask + 32 * p);
            } else {
                sc = q2_K_scales16<false>(g, p);
                const __m256i mn = q2_K_scales16<true>(g, p);
                for (int t = 0; t < NT; ++t) summ[t] = V::dpwssd_at(summ[t], mn, y[t][i].bsums + 2 * p);
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                const __m256i s = h ? _mm256_srli_epi32(sc, 16) : _mm256_and_si256(sc, _mm256_set1_epi32(0xFFFF));
                const __m256i v = loadu(g.qs + 32 * c);
                __m256i q[4];
                for (int u = 0; u < 4; ++u) q[u] = q3 ? q3_K_quants(v, hm, c, u) : q2_K_quants(v, u);
                for (int t = 0; t < NT; ++t) {
                    const int8_t* yq = y[t][i].qs + 16 * c;
                    __m256i a = V::dpbusd_at(_mm256_setzero_si256(), q[0], yq);
                    a = V::dpbusd_at(a, q[1], yq + 4);
                    a = V::dpbusd_at(a, q[2], yq + 8);
                    a = V::dpbusd_at(a, q[3], yq + 12);
                    sumi[t] = V::dpwssd(sumi[t], a, s);
                    keep_in_register(sumi[t]);
                }
            }
        }
    }
    template <int NT>
    static inline void finish_sums(const group& g, const __m256i* sumi, const __m256i* summ, const act* const* y, int i,
                                   __m256* acc) {
        const __m256 d = load_d8(g.d);
        for (int t = 0; t < NT; ++t) {
            const __m256 yd = _mm256_set1_ps(y[t][i].d);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, yd), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            if constexpr (!q3) {
                acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(load_d8(g.dmin), yd), _mm256_cvtepi32_ps(summ[t]), acc[t]);
            }
        }
    }
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        __m256i sumi[NT], summ[NT];
        sums<NT>(g, y, i, sumi, summ);
        finish_sums<NT>(g, sumi, summ, y, i, acc);
    }
    // Pairs of sets 2Q, 2Q + 1 of one token, and its last step.
    template <int Q>
    static inline void quarter(const group& g, state& st, const act* const* y, int i, __m256i* sumi) {
        sums<1, 2 * Q, 2 * Q + 2>(g, y, i, sumi, &st.summ);
    }
    template <int NT>
    static inline void finish(const group& g, const state& st, const __m256i* sumi, const act* const* y, int i,
                              __m256* acc) {
        static_assert(NT == 1, "one token");
        finish_sums<1>(g, sumi, &st.summ, y, i, acc);
    }
};

// Q4_0 and Q4_1 (G: block_q4_0x8 or block_q4_1x8).
template <class V, class G = block_q4_0x8>
struct q4_0_vnni {
    using group = G;
    using act = nibble_act<G>;
    static constexpr int block = QK4_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m256i v = loadu(g.qs + 32 * k);
            const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            for (int t = 0; t < NT; ++t) {
                a[t] = V::dpbusd_at(a[t], lo, y[t][i].qs + 4 * k);
                a[t] = V::dpbusd_at(a[t], hi, y[t][i].qs + 16 + 4 * k);
            }
        }
        finish_nibbles<NT>(g, y, i, a, acc);
    }
};

// Q5_0 and Q5_1 (G: block_q5_0x8 or block_q5_1x8).
template <class V, class G = block_q5_0x8>
struct q5_0_vnni {
    using group = G;
    using act = nibble_act<G>;
    static constexpr int block = QK5_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const __m256i m4 = _mm256_set1_epi8(0x0F), m10 = _mm256_set1_epi8(0x10);
        const __m256i qh = loadu(g.qh);
        __m256i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m256i v = loadu(g.qs + 32 * k);
            // bit k of each qh byte: elements 4k + b (low nibbles); bit 4 + k: 16 + 4k + b
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4 - k), m10));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                               _mm256_and_si256(_mm256_srli_epi16(qh, k), m10));
            for (int t = 0; t < NT; ++t) {
                a[t] = V::dpbusd_at(a[t], lo, y[t][i].qs + 4 * k);
                a[t] = V::dpbusd_at(a[t], hi, y[t][i].qs + 16 + 4 * k);
            }
        }
        finish_nibbles<NT>(g, y, i, a, acc);
    }
};

// Q8_0 (Y: block_q8_0s, the layout's activations): the weights plus 128 (XOR 0x80) as VPDPBUSD's
// unsigned operand, so that a load serves every token as it is, and the offset, 128 times y's
// quant sum, comes off once per block (|sum| <= 32 * 255 * 128, inside int32). Y = block_q8_0
// (rows decoded into Q8_0 groups, which come without sums): the sign trick, |w| times y with w's
// sign, an operation more per token and load.
template <class V, typename Y = block_q8_0s>
struct q8_0_vnni {
    using group = block_q8_0x8;
    using act = Y;
    static constexpr int block = QK8_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        __m256i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
            const __m256i w = loadu(g.qs + 32 * k);
            if constexpr (std::is_same_v<Y, block_q8_0s>) {
                // the weights plus 128 (unsigned) times y: the offset comes off with y's sum below
                const __m256i u = _mm256_xor_si256(w, _mm256_set1_epi8(char(0x80)));
                for (int t = 0; t < NT; ++t) a[t] = V::dpbusd_at(a[t], u, y[t][i].qs + 4 * k);
            } else {
                // signed x signed as |w| x (y with w's sign); y is never -128 (Q8_0 quants are
                // rounded from at most 127 times their scale)
                const __m256i aw = _mm256_sign_epi8(w, w);
                for (int t = 0; t < NT; ++t) a[t] = V::dpbusd(a[t], aw, _mm256_sign_epi8(bcast4(y[t][i].qs + 4 * k), w));
            }
        }
        if constexpr (std::is_same_v<Y, block_q8_0s>) {
            finish_legacy<NT>(load_d8(g.d), y, i, a, 128, acc);
        } else {
            const __m256 d = load_d8(g.d);
            for (int t = 0; t < NT; ++t) {
                const __m256 dy = _mm256_set1_ps(_cvtsh_ss(y[t][i].d));
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, dy), _mm256_cvtepi32_ps(a[t]), acc[t]);
            }
        }
    }
};

// IQ4_NL and MXFP4: Q4_0's nibbles looked up in the table of values plus 128 (vpshufb;
// unsigned: IQ4_NL 1..241, MXFP4 116..140), whose offset comes off as Q4_0's does:
// isum = sum u * y - 128 * sum y.
template <class V, typename G, const int8_t* Values>
struct lookup4_vnni {
    using group = G;
    using act = block_q8_0s;
    static constexpr int block = QK8_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        const __m256i grid = _mm256_xor_si256(
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(Values))),
            _mm256_set1_epi8(char(0x80)));
        __m256i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m256i v = loadu(g.qs + 32 * k);
            const __m256i lo = _mm256_shuffle_epi8(grid, _mm256_and_si256(v, m4));
            const __m256i hi = _mm256_shuffle_epi8(grid, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
            for (int t = 0; t < NT; ++t) {
                a[t] = V::dpbusd_at(a[t], lo, y[t][i].qs + 4 * k);
                a[t] = V::dpbusd_at(a[t], hi, y[t][i].qs + 16 + 4 * k);
            }
        }
        finish_legacy<NT>(row_scales(g), y, i, a, 128, acc);
    }
};
template <class V>
using iq4_nl_vnni = lookup4_vnni<V, block_iq4_nlx8, kvalues_iq4nl>;
template <class V>
using mxfp4_vnni = lookup4_vnni<V, block_mxfp4x8, kvalues_fp4>;

// IQ4_XS: as lookup4_vnni, the grid values plus 128 (1..241) times y summed over a sub-block
// (|sum| <= 32 * 241 * 128) in int32; the offset, 128 times the sub-block's activation sum
// (the Q8_K sums of 16 against -128 through one VPDPWSSD), comes off before the rows' scale
// multiplies it (VPMULLD).
template <class V>
struct iq4_xs_vnni : super_block_steps<iq4_xs_vnni<V>> {
    using group = block_iq4_xsx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr int streams = 4;
    // sumi[t] += the sums of sub-blocks [J0, J1) (zeroed first when J0 == 0).
    template <int NT, int J0 = 0, int J1 = 8>
    static inline void sums(const group& g, const act* const* y, int i, __m256i* sumi) {
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        const __m256i grid = _mm256_xor_si256(
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl))),
            _mm256_set1_epi8(char(0x80)));
        if (J0 == 0) {
            for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        }
#pragma GCC unroll 8
        for (int j = J0; j < J1; ++j) {
            const __m256i s = iq4_xs_scales(g, j);
            __m256i a[NT];
            for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int u = 0; u < 4; ++u) {
                const __m256i v = loadu(g.qs + 32 * (4 * j + u));
                const __m256i lo = _mm256_shuffle_epi8(grid, _mm256_and_si256(v, m4));
                const __m256i hi = _mm256_shuffle_epi8(grid, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                for (int t = 0; t < NT; ++t) {
                    a[t] = V::dpbusd_at(a[t], lo, y[t][i].qs + 32 * j + 4 * u);
                    a[t] = V::dpbusd_at(a[t], hi, y[t][i].qs + 32 * j + 16 + 4 * u);
                }
            }
            for (int t = 0; t < NT; ++t) {
                // less 128 times the sub-block's activation sum: -128 against its two sums of 16
                a[t] = V::dpwssd_at(a[t], _mm256_set1_epi16(-128), y[t][i].bsums + 2 * j);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_mullo_epi32(a[t], s));
                keep_in_register(sumi[t]);
            }
        }
    }
};

// A few tokens at once (a decode step of several sequences) use each weight byte a few times
// only, so the weights still arrive from memory and the hardware prefetchers alone leave
// the pass waiting for them: from kVnniPrefetchTokens tokens on, each group's blocks are
// asked for kVnniPrefetchBytes ahead (4 Q4_K groups). Qwen2.5-Coder-1.5B Q4_K_M, one thread,
// a decode step of 8 sequences: 153 -> 128 ms of CPU; with 2 to 4 tokens the prefetches cost
// more than they save (2: 46 -> 61 ms), so those go without.
constexpr int kVnniPrefetchTokens = 5;
constexpr int kVnniPrefetchBytes = 4608;

// One group of 8 rows times NT tokens, column block after column block.
template <class K, int NT>
inline void run_group(int n, float* s, size_t bs, const typename K::group* xg, const void* vy, size_t by) {
    using Y = typename K::act;
    const Y* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = reinterpret_cast<const Y*>(static_cast<const char*>(vy) + t * by);
        acc[t] = _mm256_setzero_ps();
    }
    for (int i = 0; i < n / K::block; ++i) {
        if (NT >= kVnniPrefetchTokens) {
            const char* p = reinterpret_cast<const char*>(xg + i) + kVnniPrefetchBytes;
            for (size_t o = 0; o < sizeof(typename K::group); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
        }
        K::template step<NT>(xg[i], y, i, acc);
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(s + t * bs, acc[t]);
}

// The kernel (vec_dot_fn) of layout K for up to MaxNT tokens a call; one token goes to OneToken.
template <class K, int MaxNT, vec_dot_fn OneToken>
void dot_groups_vnni(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    static_assert(MaxNT >= 2 && MaxNT <= 8, "tokens per call");
    if (nt == 1) return OneToken(n, s, bs, x, bx, nr, y, by, nt);
    for (int g = 0; g < nr / REPACK_ROWS; ++g) {
        float* sg = s + g * REPACK_ROWS;
        const auto* xg = reinterpret_cast<const typename K::group*>(static_cast<const char*>(x) + g * bx);
        switch (nt) {
            case 2: run_group<K, 2>(n, sg, bs, xg, y, by); break;
            case 3: run_group<K, 3>(n, sg, bs, xg, y, by); break;
            case 4: run_group<K, 4>(n, sg, bs, xg, y, by); break;
            case 5: if constexpr (MaxNT >= 5) run_group<K, 5>(n, sg, bs, xg, y, by); break;
            case 6: if constexpr (MaxNT >= 6) run_group<K, 6>(n, sg, bs, xg, y, by); break;
            case 7: if constexpr (MaxNT >= 7) run_group<K, 7>(n, sg, bs, xg, y, by); break;
            default: if constexpr (MaxNT >= 8) run_group<K, 8>(n, sg, bs, xg, y, by); break;
        }
    }
}

// The VNNI policy V for one token's pass (dot_groups, stream_groups.h), where several groups'
// streams run over the same activations and one broadcast register serves them all: the
// activations are broadcast as values, not folded into each product as V::dpbusd_at does
// where the encoding allows (EVEX). On a Zen 4, a 65536 x 1536 Q3_K matrix, one thread: 40
// GMAC/s folded, 42 so.
template <class V>
struct one_token_policy : V {
    static inline __m256i dpbusd_at(__m256i acc, __m256i u8, const void* p) { return V::dpbusd(acc, u8, bcast4(p)); }
    static inline __m256i dpwssd_at(__m256i acc, __m256i a, const void* p) { return V::dpwssd(acc, a, bcast4(p)); }
};

// The tier's table: its kernels for every 8-row layout, MaxNT tokens a call.
template <class V, int MaxNT>
void register_repack_vnni(isa_kernels& k) {
    vec_dot_fn* r = k.repacked;
    r[weight_layout_q4_Kx8] = dot_groups_vnni<q4_K_vnni<V>, MaxNT, dot_q4_Kx8_avx2>;
    r[weight_layout_q5_Kx8] = dot_groups_vnni<q5_K_vnni<V>, MaxNT, dot_q5_Kx8_avx2>;
    r[weight_layout_q6_Kx8] = dot_groups_vnni<q6_K_vnni<V>, MaxNT, dot_q6_Kx8_avx2>;
    r[weight_layout_q3_Kx8] = dot_groups_vnni<q23_K_vnni<V, block_q3_Kx8>, MaxNT, dot_groups<q23_K_vnni<one_token_policy<V>, block_q3_Kx8>>>;
    r[weight_layout_q2_Kx8] = dot_groups_vnni<q23_K_vnni<V, block_q2_Kx8>, MaxNT, dot_groups<q23_K_vnni<one_token_policy<V>, block_q2_Kx8>>>;
    r[weight_layout_q4_0x8] = dot_groups_vnni<q4_0_vnni<V>, MaxNT, dot_q4_0x8_avx2>;
    r[weight_layout_q5_0x8] = dot_groups_vnni<q5_0_vnni<V>, MaxNT, dot_q5_0x8_avx2>;
    r[weight_layout_q4_1x8] = dot_groups_vnni<q4_0_vnni<V, block_q4_1x8>, MaxNT, dot_q4_1x8_avx2>;
    r[weight_layout_q5_1x8] = dot_groups_vnni<q5_0_vnni<V, block_q5_1x8>, MaxNT, dot_q5_1x8_avx2>;
    r[weight_layout_q8_0x8] = dot_groups_vnni<q8_0_vnni<V>, MaxNT, dot_q8_0x8_avx2>;
    k.q8_0x8_plain_act = dot_groups_vnni<q8_0_vnni<V, block_q8_0>, MaxNT, dot_q8_0x8_plain_act_avx2>;
    r[weight_layout_iq4_nlx8] = dot_groups_vnni<iq4_nl_vnni<V>, MaxNT, dot_iq4_nlx8_avx2>;
    r[weight_layout_iq4_xsx8] = dot_groups_vnni<iq4_xs_vnni<V>, MaxNT, dot_groups<iq4_xs_vnni<one_token_policy<V>>>>;
    r[weight_layout_mxfp4x8] = dot_groups_vnni<mxfp4_vnni<V>, MaxNT, dot_mxfp4x8_avx2>;
    k.repacked_max_nt = MaxNT;
}

}  // namespace

}  // namespace pyggml
