// repack_avx512.cpp: the AVX-512 tier's kernels over the 8-row layouts (AMD Zen 4 and Zen 5,
// Intel Xeon since Cascade Lake).
//
// Several tokens, two groups a step: a 512-bit register holds group g's 8 rows in lanes 0-7
// and group g + 1's in lanes 8-15, so one VPDPBUSD on 512 bits does the work of two on 256.
// Cores with two 512-bit multiply-add units (Intel Xeon, AMD Zen 5) issue as many of either
// width per cycle, so a step of 16 rows costs about half the multiply-add issue slots and half
// the unpacking of two 8-row steps; on Zen 4, which splits 512-bit operations in two, the
// issue slots still halve. Each lane does the same integer sums and the same float
// operations, in the same order, as the 256-bit kernels (repack_vnni.h) and the scalar
// references, so every tier gives the same bits. A call's last odd group, and one token (the
// memory-bound pass), take the 256-bit kernels of repack_vnni.h, EVEX-encoded with 32
// registers (eight tokens' sums at once).
//
// Compiled with -mavx2 -mfma -mf16c -mbmi2 -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mavx512vnni; called only after the dispatcher checked them (core/cpu.h).
// GCC 12 warns of the undefined source operand inside its own 512-bit intrinsics at -O3.
#if defined(__GNUC__) && !defined(__clang__)  // (clang has no such warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "arch/x86/pairs_avx512.h"
#include "arch/x86/repack_vnni.h"

namespace pyggml {

namespace {

// acc[t] += d_row * d_y * (isum[t] - offset * y's quant sum): finish_legacy on 16 rows.
template <int NT>
inline void finish_legacy16(__m512 d, const block_q8_0s* const* y, int i, const __m512i* isum, int offset, __m512* acc) {
    for (int t = 0; t < NT; ++t) {
        const __m512i s = _mm512_sub_epi32(isum[t], _mm512_set1_epi32(offset * y[t][i].sum));
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(_cvtsh_ss(y[t][i].d))), _mm512_cvtepi32_ps(s), acc[t]);
    }
}

// acc[t] += d_row * d_y * isum[t], then m_row * s_y: finish_min on 16 rows.
template <int NT>
inline void finish_min16(__m512 d, __m512 m, const block_q8_1* const* y, int i, const __m512i* isum, __m512* acc) {
    for (int t = 0; t < NT; ++t) {
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(_cvtsh_ss(y[t][i].d))), _mm512_cvtepi32_ps(isum[t]), acc[t]);
        acc[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(_cvtsh_ss(y[t][i].s)), acc[t]);
    }
}

// The last step of the nibble layouts (finish_nibbles) on 16 rows; Offset: the quants' offset
// where they have one.
template <int NT, int Offset, class G>
inline void finish_nibbles16(const G& ga, const G& gb, const nibble_act<G>* const* y, int i, const __m512i* isum,
                             __m512* acc) {
    if constexpr (has_min<G>) {
        finish_min16<NT>(join(load_d8(ga.d), load_d8(gb.d)), join(load_d8(ga.m), load_d8(gb.m)), y, i, isum, acc);
    } else {
        finish_legacy16<NT>(join(row_scales(ga), row_scales(gb)), y, i, isum, Offset, acc);
    }
}

// Q4_0, Q4_1 and, through a table of values plus 128 (vpshufb in each 128-bit lane), IQ4_NL and
// MXFP4: as q4_0_vnni / lookup4_vnni.
template <typename G, const int8_t* Values, int Offset>
struct nibbles16 {
    using group = G;
    using act = nibble_act<G>;
    static constexpr int block = QK8_0;
    template <int NT>
    static inline void step(const group& ga, const group& gb, const act* const* y, int i, __m512* acc) {
        const __m512i m4 = _mm512_set1_epi8(0x0F);
        __m512i grid = _mm512_setzero_si512();
        if constexpr (Values != nullptr) {
            grid = _mm512_xor_si512(_mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(Values))),
                                    _mm512_set1_epi8(char(0x80)));
        }
        __m512i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m512i v = load2(ga.qs + 32 * k, gb.qs + 32 * k);
            __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            if constexpr (Values != nullptr) {
                lo = _mm512_shuffle_epi8(grid, lo);
                hi = _mm512_shuffle_epi8(grid, hi);
            }
            for (int t = 0; t < NT; ++t) {
                a[t] = dpbusd_bcast(a[t], lo, y[t][i].qs + 4 * k);
                a[t] = dpbusd_bcast(a[t], hi, y[t][i].qs + 16 + 4 * k);
            }
        }
        finish_nibbles16<NT, Offset>(ga, gb, y, i, a, acc);
    }
};
using q4_0_x16 = nibbles16<block_q4_0x8, nullptr, 8>;
using q4_1_x16 = nibbles16<block_q4_1x8, nullptr, 0>;
using iq4_nl_x16 = nibbles16<block_iq4_nlx8, kvalues_iq4nl, 128>;
using mxfp4_x16 = nibbles16<block_mxfp4x8, kvalues_fp4, 128>;

// Q5_0 and Q5_1: as q5_0_vnni.
template <class G>
struct q5_x16 {
    using group = G;
    using act = nibble_act<G>;
    static constexpr int block = QK5_0;
    template <int NT>
    static inline void step(const group& ga, const group& gb, const act* const* y, int i, __m512* acc) {
        const __m512i m4 = _mm512_set1_epi8(0x0F), m10 = _mm512_set1_epi8(0x10);
        const __m512i qh = load2(ga.qh, gb.qh);
        __m512i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m512i v = load2(ga.qs + 32 * k, gb.qs + 32 * k);
            const __m512i lo = _mm512_or_si512(_mm512_and_si512(v, m4), _mm512_and_si512(_mm512_slli_epi16(qh, 4 - k), m10));
            const __m512i hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4),
                                               _mm512_and_si512(_mm512_srli_epi16(qh, k), m10));
            for (int t = 0; t < NT; ++t) {
                a[t] = dpbusd_bcast(a[t], lo, y[t][i].qs + 4 * k);
                a[t] = dpbusd_bcast(a[t], hi, y[t][i].qs + 16 + 4 * k);
            }
        }
        finish_nibbles16<NT, 16>(ga, gb, y, i, a, acc);
    }
};

// Q8_0: as q8_0_vnni. Y = block_q8_0s: the weights plus 128 as unsigned, the offset off once per
// block. Y = block_q8_0: |w| times y with w's sign; AVX-512 has no VPSIGNB, so y is negated under
// the mask of w's sign bits (y is never -128; where w is 0, |w| is too).
template <typename Y>
struct q8_0_x16 {
    using group = block_q8_0x8;
    using act = Y;
    static constexpr int block = QK8_0;
    template <int NT>
    static inline void step(const group& ga, const group& gb, const act* const* y, int i, __m512* acc) {
        const __m512i zero = _mm512_setzero_si512();
        __m512i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
            const __m512i w = load2(ga.qs + 32 * k, gb.qs + 32 * k);
            if constexpr (std::is_same_v<Y, block_q8_0s>) {
                const __m512i u = _mm512_xor_si512(w, _mm512_set1_epi8(char(0x80)));
                for (int t = 0; t < NT; ++t) a[t] = dpbusd_bcast(a[t], u, y[t][i].qs + 4 * k);
            } else {
                const __m512i aw = _mm512_abs_epi8(w);
                const __mmask64 neg = _mm512_movepi8_mask(w);
                for (int t = 0; t < NT; ++t) {
                    const __m512i yb = bcast4x16(y[t][i].qs + 4 * k);
                    a[t] = _mm512_dpbusd_epi32(a[t], aw, _mm512_mask_sub_epi8(yb, neg, zero, yb));
                }
            }
        }
        const __m512 d = join(load_d8(ga.d), load_d8(gb.d));
        if constexpr (std::is_same_v<Y, block_q8_0s>) {
            finish_legacy16<NT>(d, y, i, a, 128, acc);
        } else {
            for (int t = 0; t < NT; ++t) {
                const __m512 dy = _mm512_set1_ps(_cvtsh_ss(y[t][i].d));
                acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, dy), _mm512_cvtepi32_ps(a[t]), acc[t]);
            }
        }
    }
};

// Q4_K and Q5_K: as q45_K_vnni, the two groups' scale bytes side by side (group_scales per
// 256 bits), but Q4_K's sub-blocks too are summed whole in int32 (|sum| <= 32 * 15 * 128) and
// scaled with one VPMULLD, where q45_K_vnni takes two halves through VPDPWSSD: one multiply
// instead of two per sub-block and token, the same integers. On a Zen 4, 64 tokens over
// 1536 x 1536, one thread: 150 -> 154 GMAC/s; 256 tokens over 8960 x 1536: 132 -> 139.
template <class G>
struct q45_K_x16 {
    using group = G;
    static constexpr bool q5 = std::is_same_v<G, block_q5_Kx8>;
    using act = block_q8_K;
    static constexpr int block = QK_K;

    // Lane r: sum_j min(r, j) * (bsums[2j] + bsums[2j + 1]), as min_sums (a VPDPWSSD per pair of j).
    static inline __m512i min_sums16(const __m512i* m, const block_q8_K& y) {
        const __m256i b = loadu(y.bsums);
        const __m512i pairs =
            _mm512_broadcast_i32x4(_mm_hadd_epi16(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1)));
        __m512i acc = _mm512_setzero_si512();
        for (int p = 0; p < 4; ++p) {
            const int b0 = 4 * ((2 * p) % 4), b1 = b0 + 4;
            const __m512i ctrl = _mm512_broadcast_i32x4(_mm_setr_epi8(b0, -1, b1, -1, b0 + 1, -1, b1 + 1, -1, b0 + 2, -1,
                                                                      b1 + 2, -1, b0 + 3, -1, b1 + 3, -1));
            const __m512i mins = _mm512_shuffle_epi8(m[p / 2], ctrl);
            __m512i ys;
            switch (p) {
                case 0: ys = _mm512_shuffle_epi32(pairs, _MM_PERM_AAAA); break;
                case 1: ys = _mm512_shuffle_epi32(pairs, _MM_PERM_BBBB); break;
                case 2: ys = _mm512_shuffle_epi32(pairs, _MM_PERM_CCCC); break;
                default: ys = _mm512_shuffle_epi32(pairs, _MM_PERM_DDDD); break;
            }
            acc = _mm512_dpwssd_epi32(acc, mins, ys);
        }
        return acc;
    }

    template <int NT>
    static inline void step(const group& ga, const group& gb, const act* const* y, int i, __m512* acc) {
        const group_scales sa = unpack_scales(ga), sb = unpack_scales(gb);
        const __m512i sc[2] = {join(sa.s[0], sb.s[0]), join(sa.s[1], sb.s[1])};
        const __m512i mn[2] = {join(sa.m[0], sb.m[0]), join(sa.m[1], sb.m[1])};
        const __m512i m4 = _mm512_set1_epi8(0x0F);
        __m512i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            const int k = j / 2, shift = 4 * (j % 2), b = 4 * (j % 4);
            // sub-block j's scale of each row, zero-extended to int32 (scale32_q4_K)
            const __m512i s = _mm512_shuffle_epi8(
                sc[j / 4], _mm512_broadcast_i32x4(_mm_setr_epi8(b, -1, -1, -1, b + 1, -1, -1, -1, b + 2, -1, -1, -1, b + 3,
                                                                -1, -1, -1)));
            __m512i a[NT];
            for (int t = 0; t < NT; ++t) a[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int u = 0; u < 8; ++u) {
                const __m512i v = load2(ga.qs + 32 * (8 * k + u), gb.qs + 32 * (8 * k + u));
                __m512i q = _mm512_and_si512(shift ? _mm512_srli_epi16(v, 4) : v, m4);
                if constexpr (q5) {
                    const __m512i qh = join(load_again(ga.qh + 32 * u), load_again(gb.qh + 32 * u));
                    q = _mm512_or_si512(q, _mm512_and_si512(j <= 4 ? _mm512_slli_epi16(qh, 4 - j) : _mm512_srli_epi16(qh, j - 4),
                                                            _mm512_set1_epi8(0x10)));
                }
                for (int t = 0; t < NT; ++t) a[t] = dpbusd_bcast(a[t], q, y[t][i].qs + 32 * j + 4 * u);
            }
            for (int t = 0; t < NT; ++t) sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(a[t], s));
        }
        const __m512 d = join(load_d8(ga.d), load_d8(gb.d)), m = join(load_d8(ga.dmin), load_d8(gb.dmin));
        for (int t = 0; t < NT; ++t) {
            const __m512 yd = _mm512_set1_ps(y[t][i].d);
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, yd), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(m, yd), _mm512_cvtepi32_ps(min_sums16(mn, y[t][i])), acc[t]);
        }
    }
};

// Q6_K: as q6_K_vnni.
struct q6_K_x16 {
    using group = block_q6_Kx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    template <int NT>
    static inline void step(const group& ga, const group& gb, const act* const* y, int i, __m512* acc) {
        const __m512i top = _mm512_set1_epi8(char(0xC0));
        __m512i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int p = 0; p < 8; ++p) {
            // lane r: (scale(r, 2p), scale(r, 2p + 1)) as int16
            const __m512i sc = _mm512_cvtepi8_epi16(
                _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gb.scales + 16 * p)),
                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(ga.scales + 16 * p))));
            const __m512i off = _mm512_sub_epi16(_mm512_setzero_si512(), _mm512_slli_epi16(sc, 5));
            for (int t = 0; t < NT; ++t) sumi[t] = dpwssd_bcast(sumi[t], off, y[t][i].bsums + 2 * p);
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                const __m512i s = h ? _mm512_srai_epi32(sc, 16) : _mm512_srai_epi32(_mm512_slli_epi32(sc, 16), 16);
                const __m512i v0 = load2(ga.qs + 96 * c, gb.qs + 96 * c), v1 = load2(ga.qs + 96 * c + 32, gb.qs + 96 * c + 32),
                              v2 = load2(ga.qs + 96 * c + 64, gb.qs + 96 * c + 64);
                const __m512i t0 = _mm512_and_si512(v0, top), t1 = _mm512_and_si512(v1, top),
                              t2 = _mm512_and_si512(v2, top);
                const __m512i q0 = _mm512_xor_si512(v0, t0), q1 = _mm512_xor_si512(v1, t1), q2 = _mm512_xor_si512(v2, t2);
                const __m512i q3 = _mm512_or_si512(_mm512_or_si512(_mm512_srli_epi16(t0, 6), _mm512_srli_epi16(t1, 4)),
                                                   _mm512_srli_epi16(t2, 2));
                for (int t = 0; t < NT; ++t) {
                    const int8_t* yq = y[t][i].qs + 16 * c;
                    __m512i a = dpbusd_bcast(_mm512_setzero_si512(), q0, yq);
                    a = dpbusd_bcast(a, q1, yq + 4);
                    a = dpbusd_bcast(a, q2, yq + 8);
                    a = dpbusd_bcast(a, q3, yq + 12);
                    sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(a, s));
                }
            }
        }
        const __m512 d = join(load_d8(ga.d), load_d8(gb.d));
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(y[t][i].d)), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
};

// Q3_K and Q2_K: as q23_K_vnni, the two groups' scales side by side.
template <class G>
struct q23_K_x16 {
    static constexpr bool q3 = std::is_same_v<G, block_q3_Kx8>;
    using group = G;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    // quant vector u of 16 columns c of both groups: q3_K_quants / q2_K_quants on 512 bits
    static inline __m512i quants(__m512i v, __m512i hm, int c, int u) {
        const __m512i lo = _mm512_and_si512(u ? _mm512_srli_epi16(v, 2 * u) : v, _mm512_set1_epi8(3));
        if constexpr (!q3) return lo;
        const int bit = 4 * (c % 2) + u;
        const __m512i hi = bit >= 2 ? _mm512_srli_epi16(hm, bit - 2) : _mm512_slli_epi16(hm, 2 - bit);
        return _mm512_or_si512(lo, _mm512_and_si512(hi, _mm512_set1_epi8(4)));
    }
    template <int NT>
    static inline void step(const group& ga, const group& gb, const act* const* y, int i, __m512* acc) {
        __m512i sumi[NT], summ[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = summ[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int p = 0; p < 8; ++p) {
            // lane r: (scale(r, 2p), scale(r, 2p + 1)) as int16
            __m512i sc, hm = _mm512_setzero_si512();
            if constexpr (q3) {
                sc = _mm512_cvtepi8_epi16(_mm256_set_m128i(q3_K_scales8(gb, p), q3_K_scales8(ga, p)));
                const __m512i off = _mm512_sub_epi16(_mm512_setzero_si512(), _mm512_slli_epi16(sc, 2));
                for (int t = 0; t < NT; ++t) sumi[t] = dpwssd_bcast(sumi[t], off, y[t][i].bsums + 2 * p);
                hm = load2(ga.hmask + 32 * p, gb.hmask + 32 * p);
            } else {
                sc = join(q2_K_scales16<false>(ga, p), q2_K_scales16<false>(gb, p));
                const __m512i mn = join(q2_K_scales16<true>(ga, p), q2_K_scales16<true>(gb, p));
                for (int t = 0; t < NT; ++t) summ[t] = dpwssd_bcast(summ[t], mn, y[t][i].bsums + 2 * p);
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                const __m512i s = h ? _mm512_srli_epi32(sc, 16) : _mm512_and_si512(sc, _mm512_set1_epi32(0xFFFF));
                const __m512i v = load2(ga.qs + 32 * c, gb.qs + 32 * c);
                __m512i q[4];
                for (int u = 0; u < 4; ++u) q[u] = quants(v, hm, c, u);
                for (int t = 0; t < NT; ++t) {
                    const int8_t* yq = y[t][i].qs + 16 * c;
                    __m512i a = dpbusd_bcast(_mm512_setzero_si512(), q[0], yq);
                    a = dpbusd_bcast(a, q[1], yq + 4);
                    a = dpbusd_bcast(a, q[2], yq + 8);
                    a = dpbusd_bcast(a, q[3], yq + 12);
                    sumi[t] = _mm512_dpwssd_epi32(sumi[t], a, s);
                }
            }
        }
        const __m512 d = join(load_d8(ga.d), load_d8(gb.d));
        for (int t = 0; t < NT; ++t) {
            const __m512 yd = _mm512_set1_ps(y[t][i].d);
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, yd), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
            if constexpr (!q3) {
                const __m512 m = join(load_d8(ga.dmin), load_d8(gb.dmin));
                acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(m, yd), _mm512_cvtepi32_ps(summ[t]), acc[t]);
            }
        }
    }
};

// IQ4_XS: as iq4_xs_vnni, the two groups' scales side by side.
struct iq4_xs_x16 {
    using group = block_iq4_xsx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    template <int NT>
    static inline void step(const group& ga, const group& gb, const act* const* y, int i, __m512* acc) {
        const __m512i m4 = _mm512_set1_epi8(0x0F);
        const __m512i grid = _mm512_xor_si512(
            _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl))),
            _mm512_set1_epi8(char(0x80)));
        const __m512i minus128 = _mm512_set1_epi16(-128);
        __m512i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            const __m512i s = join(iq4_xs_scales(ga, j), iq4_xs_scales(gb, j));
            __m512i a[NT];
            for (int t = 0; t < NT; ++t) a[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int u = 0; u < 4; ++u) {
                const __m512i v = load2(ga.qs + 32 * (4 * j + u), gb.qs + 32 * (4 * j + u));
                const __m512i lo = _mm512_shuffle_epi8(grid, _mm512_and_si512(v, m4));
                const __m512i hi = _mm512_shuffle_epi8(grid, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
                for (int t = 0; t < NT; ++t) {
                    a[t] = dpbusd_bcast(a[t], lo, y[t][i].qs + 32 * j + 4 * u);
                    a[t] = dpbusd_bcast(a[t], hi, y[t][i].qs + 32 * j + 16 + 4 * u);
                }
            }
            for (int t = 0; t < NT; ++t) {
                a[t] = dpwssd_bcast(a[t], minus128, y[t][i].bsums + 2 * j);  // less 128 times the sub-block's sum
                sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(a[t], s));
            }
        }
        const __m512 d = join(load_d8(ga.d), load_d8(gb.d));
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(y[t][i].d)), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
};

// Groups a and b (16 rows) times NT tokens, column block after column block.
template <class K, int NT>
inline void run_pair(int n, float* s, size_t bs, const typename K::group* xa, const typename K::group* xb,
                     const void* vy, size_t by) {
    using Y = typename K::act;
    const Y* y[NT];
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = reinterpret_cast<const Y*>(static_cast<const char*>(vy) + t * by);
        acc[t] = _mm512_setzero_ps();
    }
    for (int i = 0; i < n / K::block; ++i) {
        if (NT >= kVnniPrefetchTokens) {
            const char* pa = reinterpret_cast<const char*>(xa + i) + kVnniPrefetchBytes;
            const char* pb = reinterpret_cast<const char*>(xb + i) + kVnniPrefetchBytes;
            for (size_t o = 0; o < sizeof(typename K::group); o += 64) {
                _mm_prefetch(pa + o, _MM_HINT_T0);
                _mm_prefetch(pb + o, _MM_HINT_T0);
            }
        }
        K::template step<NT>(xa[i], xb[i], y, i, acc);
    }
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(s + t * bs, acc[t]);
}

// Layout K16's kernel: pairs of groups at 8 tokens, the rest through Single (pairs_avx512.h).
static_assert(REPACK_ROWS == 8, "dot_in_pairs takes groups of 8 rows");
template <class K16, vec_dot_fn Single>
constexpr vec_dot_fn dot_pairs = dot_in_pairs<typename K16::group, run_pair<K16, 8>, Single>;

}  // namespace

void register_repack_avx512(isa_kernels& k) {
    register_repack_vnni<evex_vnni, 8>(k);
    vec_dot_fn* r = k.repacked;
    r[weight_layout_q4_Kx8] = dot_pairs<q45_K_x16<block_q4_Kx8>, dot_groups_vnni<q4_K_vnni<evex_vnni>, 8, dot_q4_Kx8_avx2>>;
    r[weight_layout_q5_Kx8] = dot_pairs<q45_K_x16<block_q5_Kx8>, dot_groups_vnni<q5_K_vnni<evex_vnni>, 8, dot_q5_Kx8_avx2>>;
    r[weight_layout_q6_Kx8] = dot_pairs<q6_K_x16, dot_groups_vnni<q6_K_vnni<evex_vnni>, 8, dot_q6_Kx8_avx2>>;
    r[weight_layout_q3_Kx8] = dot_pairs<q23_K_x16<block_q3_Kx8>, dot_groups_vnni<q23_K_vnni<evex_vnni, block_q3_Kx8>, 8, dot_groups<q23_K_vnni<one_token_policy<evex_vnni>, block_q3_Kx8>>>>;
    r[weight_layout_q2_Kx8] = dot_pairs<q23_K_x16<block_q2_Kx8>, dot_groups_vnni<q23_K_vnni<evex_vnni, block_q2_Kx8>, 8, dot_groups<q23_K_vnni<one_token_policy<evex_vnni>, block_q2_Kx8>>>>;
    r[weight_layout_q4_0x8] = dot_pairs<q4_0_x16, dot_groups_vnni<q4_0_vnni<evex_vnni>, 8, dot_q4_0x8_avx2>>;
    r[weight_layout_q5_0x8] = dot_pairs<q5_x16<block_q5_0x8>, dot_groups_vnni<q5_0_vnni<evex_vnni>, 8, dot_q5_0x8_avx2>>;
    r[weight_layout_q4_1x8] =
        dot_pairs<q4_1_x16, dot_groups_vnni<q4_0_vnni<evex_vnni, block_q4_1x8>, 8, dot_q4_1x8_avx2>>;
    r[weight_layout_q5_1x8] =
        dot_pairs<q5_x16<block_q5_1x8>, dot_groups_vnni<q5_0_vnni<evex_vnni, block_q5_1x8>, 8, dot_q5_1x8_avx2>>;
    r[weight_layout_q8_0x8] =
        dot_pairs<q8_0_x16<block_q8_0s>, dot_groups_vnni<q8_0_vnni<evex_vnni>, 8, dot_q8_0x8_avx2>>;
    k.q8_0x8_plain_act = dot_pairs<q8_0_x16<block_q8_0>,
                                   dot_groups_vnni<q8_0_vnni<evex_vnni, block_q8_0>, 8, dot_q8_0x8_plain_act_avx2>>;
    r[weight_layout_iq4_nlx8] = dot_pairs<iq4_nl_x16, dot_groups_vnni<iq4_nl_vnni<evex_vnni>, 8, dot_iq4_nlx8_avx2>>;
    r[weight_layout_iq4_xsx8] = dot_pairs<iq4_xs_x16, dot_groups_vnni<iq4_xs_vnni<evex_vnni>, 8, dot_groups<iq4_xs_vnni<one_token_policy<evex_vnni>>>>>;
    r[weight_layout_mxfp4x8] = dot_pairs<mxfp4_x16, dot_groups_vnni<mxfp4_vnni<evex_vnni>, 8, dot_mxfp4x8_avx2>>;
    k.repacked_groups = 2;
}

}  // namespace pyggml
