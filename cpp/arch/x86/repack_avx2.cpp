// repack_avx2.cpp: AVX2 dot kernels over weights repacked 8 rows at a time
// (block_q4_Kx8, block_q5_Kx8, block_q6_Kx8, block_q3_Kx8, block_q4_0x8, block_q5_0x8, block_q8_0x8, ...; kernels/repack.h); the same float operations as
// the scalar references in kernels/repack.cpp, with lane r of every vector holding row r.
//
// Q4_K: per 32-byte load of quants (4 bytes of each of the 8 rows): the low nibbles meet 4
// activations of the even sub-block, the high nibbles 4 of the odd one, each broadcast
// to the 8 lanes, through vpmaddubsw. The int16 pair sums of a sub-block's 8 loads are
// added in int16 (|sum| <= 8 * 2 * 15 * 128 = 30720) and only then scaled by the 8 rows'
// sub-block scales with one vpmaddwd. The mins meet the activation sums of 32 with
// vpmaddwd too; the super-block scales of the 8 rows are converted with one vcvtph2ps.
// Q5_K: the same, each load's fifth bits or'ed in from qh by one shift and mask.
//
// Q4_0: the same nibble scheme, one scale per 32: a block's 8 vpmaddubsw results are added
// in int16 (|sum| <= 8 * 2 * 15 * 127 = 30480), reduced with one vpmaddwd, and the
// offset of the nibbles (u = q + 8) is removed with the activation block's quant sum.
// Q5_0: as Q4_0 with the fifth bits or'ed in from qh, stored so that one shift and mask
// per 32-byte load places them; u <= 31, so the int16 sums take four loads' products.
// Q4_1 and Q5_1: as Q4_0 and Q5_0, their unsigned quants' sums scaled, and the rows' mins times
// the Q8_1 activations' d * sum added.
// Q8_0: signed times signed through the sign trick (|w| * sign(y, w)); each load's pair
// sums go to int32 at once (two would overflow int16). IQ4_NL: Q4_0's nibbles looked up in
// the grid (vpshufb), then as Q8_0 (|grid value| <= 127). MXFP4: the same with the doubled
// E2M1 values (|value| <= 12) and the rows' E8M0 exponents as scales.
//
// Compiled with -mavx2 -mfma -mf16c -mbmi2; called only after the dispatcher checked them.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/blocks.h"
#include "core/dispatch.h"
#include "kernels/repack.h"
#include "arch/x86/repack_x8.h"
#include "arch/x86/stream_groups.h"

namespace pyggml {

namespace {

// Sub-block j's scale of each row, zero-extended to int16 in both halves of lane r.
inline __m256i sub_scale(const group_scales& g, int j) {
    const int b = 4 * (j % 4);
    const __m256i ctrl = _mm256_setr_epi8(b, -1, b, -1, b + 1, -1, b + 1, -1, b + 2, -1, b + 2, -1, b + 3, -1, b + 3, -1,
                                          b, -1, b, -1, b + 1, -1, b + 1, -1, b + 2, -1, b + 2, -1, b + 3, -1, b + 3, -1);
    return _mm256_shuffle_epi8(g.s[j / 4], ctrl);
}

// Q5_K's fifth bits of quant load u (qh: its 32 bytes), for sub-block j: bit 4 of each byte.
inline __m256i fifth_bits(const uint8_t* qh, int j) {
    const __m256i h = load_again(qh);
    // 16-bit shifts: bit j of each byte lands on bit 4 of the same byte, whatever crosses over is masked
    return _mm256_and_si256(j <= 4 ? _mm256_slli_epi16(h, 4 - j) : _mm256_srli_epi16(h, j - 4), _mm256_set1_epi8(0x10));
}

// Lane r: the sum over the super-block of scale(r, j) * q(r, e) * y(e). Sub-block by
// sub-block (the low nibbles of a 64-element chunk, then its high nibbles, loaded again
// from L1), so that only NT int16 sums are live besides the NT results.
// Sub-blocks [J0, J1) only: the sums start at zero when J0 == 0 and are added to after.
// Q5_K (quants up to 31, the fifth bits or'ed in) adds 4 loads' products in int16
// (|sum| <= 4 * 2 * 31 * 128 = 31744) and scales each half of a sub-block on its own.
template <class G, int NT, int J0 = 0, int J1 = 8>
inline void quant_sums(const G& g, const group_scales& sc, const block_q8_K* const* y, int i, __m256i* sumi) {
    constexpr bool q5 = std::is_same_v<G, block_q5_Kx8>;
    constexpr int run = q5 ? 4 : 8;  // loads summed in int16
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    if (J0 == 0) {
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
    }
#pragma GCC unroll 8
    for (int j = J0; j < J1; ++j) {
        const int k = j / 2, shift = 4 * (j % 2);
#pragma GCC unroll 2
        for (int u0 = 0; u0 < 8; u0 += run) {
            __m256i a[NT];
            for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int u = u0; u < u0 + run; ++u) {
                const __m256i v = loadu(g.qs + 32 * (8 * k + u));
                __m256i q = _mm256_and_si256(shift ? _mm256_srli_epi16(v, 4) : v, m4);
                if constexpr (q5) q = _mm256_or_si256(q, fifth_bits(g.qh + 32 * u, j));
                for (int t = 0; t < NT; ++t) {
                    a[t] = _mm256_add_epi16(a[t], _mm256_maddubs_epi16(q, bcast4(y[t][i].qs + 32 * j + 4 * u)));
                    keep_in_register(a[t]);
                }
            }
            const __m256i s = sub_scale(sc, j);
            for (int t = 0; t < NT; ++t) sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(a[t], s));
        }
    }
}

// Each layout's kernel is one block step, acc[t] += the 8 rows' dot of column block i
// with token t, over a layout's activation block type Y; the driver below loops it.
// Q4_K and Q5_K (G: block_q4_Kx8 or block_q5_Kx8).
template <class G>
struct q45_K_kernel {
    using group = G;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr bool quarters = true;
    static constexpr int streams = 4;  // groups read at once for one token (see dot_groups)
    using state = group_scales;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const group_scales sc = unpack_scales(g);
        __m256i sumi[NT];
        quant_sums<G, NT>(g, sc, y, i, sumi);
        finish<NT>(g, sc, sumi, y, i, acc);
    }
    // Sub-blocks 2Q, 2Q + 1 of one token (the scales unpacked by the first quarter).
    template <int Q>
    static inline void quarter(const group& g, state& sc, const act* const* y, int i, __m256i* sumi) {
        if (Q == 0) sc = unpack_scales(g);
        quant_sums<G, 1, 2 * Q, 2 * Q + 2>(g, sc, y, i, sumi);
    }
    // acc[t] += the super-block scales times the quant sums, less the mins' part.
    template <int NT>
    static inline void finish(const group& g, const group_scales& sc, const __m256i* sumi, const act* const* y, int i,
                              __m256* acc) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.d)));
        const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.dmin)));
        for (int t = 0; t < NT; ++t) {
            const __m256 yd = _mm256_set1_ps(y[t][i].d);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, yd), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(m, yd), _mm256_cvtepi32_ps(min_sums(sc, y[t][i])), acc[t]);
        }
    }
};

// Two groups' int16 sums for load k of a 32-column block (lo: columns 4k .. 4k + 3 of each row,
// hi: 16 + 4k ..): a0[t] += lo0, hi0 times token t's activations, a1[t] the same with lo1, hi1,
// each activation broadcast once for both groups (the pair steps of Q4_0 and Q5_0).
template <int NT, class Y>
inline void nibble_pair_products(__m256i lo0, __m256i hi0, __m256i lo1, __m256i hi1, const Y* const* y, int i, int k,
                                 __m256i* a0, __m256i* a1) {
    for (int t = 0; t < NT; ++t) {
        const __m256i yl = bcast4(y[t][i].qs + 4 * k), yh = bcast4(y[t][i].qs + 16 + 4 * k);
        a0[t] = _mm256_add_epi16(a0[t], _mm256_maddubs_epi16(lo0, yl));
        a1[t] = _mm256_add_epi16(a1[t], _mm256_maddubs_epi16(lo1, yl));
        a0[t] = _mm256_add_epi16(a0[t], _mm256_maddubs_epi16(hi0, yh));
        a1[t] = _mm256_add_epi16(a1[t], _mm256_maddubs_epi16(hi1, yh));
        keep_in_register(a0[t]);
        keep_in_register(a1[t]);
    }
}

// Layouts of 32-column blocks: one token takes whole blocks, four groups at once (dot_groups).
struct whole_blocks {
    static constexpr bool quarters = false;
    static constexpr int streams = 4;
};

// Q4_0 and Q4_1 (G: block_q4_0x8 or block_q4_1x8).
template <class G>
struct q4_0_kernel : whole_blocks {
    using group = G;
    using act = nibble_act<G>;
    static constexpr int block = QK4_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
        __m256i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m256i v = loadu(g.qs + 32 * k);
            const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            for (int t = 0; t < NT; ++t) {
                a[t] = _mm256_add_epi16(a[t], _mm256_maddubs_epi16(lo, bcast4(y[t][i].qs + 4 * k)));
                a[t] = _mm256_add_epi16(a[t], _mm256_maddubs_epi16(hi, bcast4(y[t][i].qs + 16 + 4 * k)));
                keep_in_register(a[t]);
            }
        }
        for (int t = 0; t < NT; ++t) a[t] = _mm256_madd_epi16(a[t], ones);
        finish_nibbles<NT>(g, y, i, a, acc);
    }
    // Two groups at once, the same operations per row as step, each activation broadcast once.
    static constexpr bool pair_steps = true;
    template <int NT>
    static inline void step2(const group& g0, const group& g1, const act* const* y, int i, __m256* acc0,
                             __m256* acc1) {
        const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
        __m256i a0[NT], a1[NT];
        for (int t = 0; t < NT; ++t) a0[t] = a1[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m256i v0 = loadu(g0.qs + 32 * k), v1 = loadu(g1.qs + 32 * k);
            const __m256i lo0 = _mm256_and_si256(v0, m4), hi0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
            const __m256i lo1 = _mm256_and_si256(v1, m4), hi1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
            nibble_pair_products<NT>(lo0, hi0, lo1, hi1, y, i, k, a0, a1);
        }
        for (int t = 0; t < NT; ++t) a0[t] = _mm256_madd_epi16(a0[t], ones);
        for (int t = 0; t < NT; ++t) a1[t] = _mm256_madd_epi16(a1[t], ones);
        finish_nibbles<NT>(g0, y, i, a0, acc0);
        finish_nibbles<NT>(g1, y, i, a1, acc1);
    }
};

// Q5_0 / Q5_1 load k of a block (v: its 32 quant bytes, qh: the group's fifth bits): lo, the low
// nibbles with bit k of each qh byte (elements 4k + b), hi, the high ones with bit 4 + k (16 + 4k + b).
inline void q5_0_nibbles(__m256i v, __m256i qh, int k, __m256i& lo, __m256i& hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m10 = _mm256_set1_epi8(0x10);
    lo = _mm256_or_si256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4 - k), m10));
    hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, k), m10));
}

// Q5_0 and Q5_1 (G: block_q5_0x8 or block_q5_1x8).
template <class G>
struct q5_0_kernel : whole_blocks {
    using group = G;
    using act = nibble_act<G>;
    static constexpr int block = QK5_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const __m256i ones = _mm256_set1_epi16(1);
        const __m256i qh = loadu(g.qh);
        // two int16 sums of four vpmaddubsw each: |sum| <= 4 * 2 * 31 * 128 = 31744
        __m256i a[2][NT];
        for (int t = 0; t < NT; ++t) a[0][t] = a[1][t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            __m256i lo, hi;
            q5_0_nibbles(loadu(g.qs + 32 * k), qh, k, lo, hi);
            for (int t = 0; t < NT; ++t) {
                a[k / 2][t] = _mm256_add_epi16(a[k / 2][t], _mm256_maddubs_epi16(lo, bcast4(y[t][i].qs + 4 * k)));
                a[k / 2][t] = _mm256_add_epi16(a[k / 2][t], _mm256_maddubs_epi16(hi, bcast4(y[t][i].qs + 16 + 4 * k)));
                keep_in_register(a[k / 2][t]);
            }
        }
        __m256i sum[NT];
        for (int t = 0; t < NT; ++t) sum[t] = _mm256_add_epi32(_mm256_madd_epi16(a[0][t], ones), _mm256_madd_epi16(a[1][t], ones));
        finish_nibbles<NT>(g, y, i, sum, acc);
    }
    // Two groups at once, the same operations per row as step, each activation broadcast once;
    // each half's int16 sums go to int32 before the next half starts.
    static constexpr bool pair_steps = true;
    template <int NT>
    static inline void step2(const group& g0, const group& g1, const act* const* y, int i, __m256* acc0,
                             __m256* acc1) {
        const __m256i ones = _mm256_set1_epi16(1);
        __m256i s0[NT], s1[NT];
#pragma GCC unroll 2
        for (int half = 0; half < 2; ++half) {
            __m256i a0[NT], a1[NT];
            for (int t = 0; t < NT; ++t) a0[t] = a1[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
            for (int k = 2 * half; k < 2 * half + 2; ++k) {
                __m256i lo0, hi0, lo1, hi1;  // qh read from L1 at each load: no register holds it
                q5_0_nibbles(loadu(g0.qs + 32 * k), loadu(g0.qh), k, lo0, hi0);
                q5_0_nibbles(loadu(g1.qs + 32 * k), loadu(g1.qh), k, lo1, hi1);
                nibble_pair_products<NT>(lo0, hi0, lo1, hi1, y, i, k, a0, a1);
            }
            for (int t = 0; t < NT; ++t) {
                const __m256i m0 = _mm256_madd_epi16(a0[t], ones), m1 = _mm256_madd_epi16(a1[t], ones);
                s0[t] = half ? _mm256_add_epi32(s0[t], m0) : m0;
                s1[t] = half ? _mm256_add_epi32(s1[t], m1) : m1;
            }
        }
        finish_nibbles<NT>(g0, y, i, s0, acc0);
        finish_nibbles<NT>(g1, y, i, s1, acc1);
    }
};

// Y: block_q8_0s (the layout's activations; the sums serve the VNNI kernels) or block_q8_0 (rows
// decoded into Q8_0 groups).
template <typename Y>
struct q8_0_kernel : whole_blocks {
    using group = block_q8_0x8;
    using act = Y;
    static constexpr int block = QK8_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const __m256i ones = _mm256_set1_epi16(1);
        __m256i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
            const __m256i w = loadu(g.qs + 32 * k);
            const __m256i aw = _mm256_sign_epi8(w, w);
            for (int t = 0; t < NT; ++t) {
                const __m256i sy = _mm256_sign_epi8(bcast4(y[t][i].qs + 4 * k), w);
                a[t] = _mm256_add_epi32(a[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sy), ones));
                keep_in_register(a[t]);
            }
        }
        const __m256 d = load_d8(g.d);
        for (int t = 0; t < NT; ++t) {
            const __m256 dy = _mm256_set1_ps(_cvtsh_ss(y[t][i].d));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, dy), _mm256_cvtepi32_ps(a[t]), acc[t]);
        }
    }
    // Two groups at once (16 rows), the same operations per row as step: each token's activations
    // are broadcast once for both, and its scale converted once.
    static constexpr bool pair_steps = true;
    template <int NT>
    static inline void step2(const group& g0, const group& g1, const act* const* y, int i, __m256* acc0,
                             __m256* acc1) {
        const __m256i ones = _mm256_set1_epi16(1);
        __m256i a0[NT], a1[NT];
        for (int t = 0; t < NT; ++t) a0[t] = a1[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
            const __m256i w0 = loadu(g0.qs + 32 * k), w1 = loadu(g1.qs + 32 * k);
            const __m256i aw0 = _mm256_sign_epi8(w0, w0), aw1 = _mm256_sign_epi8(w1, w1);
            for (int t = 0; t < NT; ++t) {
                const __m256i yb = bcast4(y[t][i].qs + 4 * k);
                a0[t] = _mm256_add_epi32(a0[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw0, _mm256_sign_epi8(yb, w0)), ones));
                a1[t] = _mm256_add_epi32(a1[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw1, _mm256_sign_epi8(yb, w1)), ones));
                keep_in_register(a0[t]);
                keep_in_register(a1[t]);
            }
        }
        const __m256 d0 = load_d8(g0.d), d1 = load_d8(g1.d);
        for (int t = 0; t < NT; ++t) {
            const __m256 dy = _mm256_set1_ps(_cvtsh_ss(y[t][i].d));
            acc0[t] = _mm256_fmadd_ps(_mm256_mul_ps(d0, dy), _mm256_cvtepi32_ps(a0[t]), acc0[t]);
            acc1[t] = _mm256_fmadd_ps(_mm256_mul_ps(d1, dy), _mm256_cvtepi32_ps(a1[t]), acc1[t]);
        }
    }
};

// IQ4_NL and MXFP4: a 16-entry table of signed values, one scale per row and 32 columns.
template <typename G, const int8_t* Values>
struct lookup4_kernel : whole_blocks {
    using group = G;
    using act = block_q8_0s;  // (the quant sums serve the VNNI kernels)
    static constexpr int block = QK8_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
        const __m256i grid = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(Values)));
        __m256i a[NT];
        for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            const __m256i v = loadu(g.qs + 32 * k);
            const __m256i lo = _mm256_shuffle_epi8(grid, _mm256_and_si256(v, m4));
            const __m256i hi = _mm256_shuffle_epi8(grid, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
            const __m256i alo = _mm256_sign_epi8(lo, lo), ahi = _mm256_sign_epi8(hi, hi);
            for (int t = 0; t < NT; ++t) {
                const __m256i slo = _mm256_sign_epi8(bcast4(y[t][i].qs + 4 * k), lo);
                const __m256i shi = _mm256_sign_epi8(bcast4(y[t][i].qs + 16 + 4 * k), hi);
                a[t] = _mm256_add_epi32(a[t], _mm256_madd_epi16(_mm256_maddubs_epi16(alo, slo), ones));
                a[t] = _mm256_add_epi32(a[t], _mm256_madd_epi16(_mm256_maddubs_epi16(ahi, shi), ones));
                keep_in_register(a[t]);
            }
        }
        const __m256 d = row_scales(g);
        for (int t = 0; t < NT; ++t) {
            const __m256 dy = _mm256_set1_ps(_cvtsh_ss(y[t][i].d));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, dy), _mm256_cvtepi32_ps(a[t]), acc[t]);
        }
    }
};

using iq4_nl_kernel = lookup4_kernel<block_iq4_nlx8, kvalues_iq4nl>;
using mxfp4_kernel = lookup4_kernel<block_mxfp4x8, kvalues_fp4>;

// IQ4_XS: sub-block by sub-block (four 32-byte loads: the low nibbles 16 columns, the high ones
// the next 16), the nibbles looked up in the grid (vpshufb) and multiplied as Q8_0's are, |value|
// times y with value's sign (Q8_K quants lie within +-127); each VPMADDUBSW's pair sums (|sum| <=
// 2 * 127 * 127) meet the rows' sub-block scale, int16 in both halves of the lane, in VPMADDWD.
// One token goes a quarter (two sub-blocks) of each stream's block at a time, as Q4_K's does:
// whole 1088-byte blocks a stream at a time left the pass waiting on memory (a 65536 x 1536
// matrix, one thread, Zen 4: 11.4 -> 19.0 GB/s; Qwen2.5-1.5B IQ4_XS tg64 15.5 -> 21.9 t/s).
struct iq4_xs_kernel : super_block_steps<iq4_xs_kernel> {
    using group = block_iq4_xsx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr int streams = 4;
    // sumi[t] += the sums of sub-blocks [J0, J1) (zeroed first when J0 == 0).
    template <int NT, int J0 = 0, int J1 = 8>
    static inline void sums(const group& g, const act* const* y, int i, __m256i* sumi) {
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        const __m256i grid = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
        if (J0 == 0) {
            for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        }
#pragma GCC unroll 8
        for (int j = J0; j < J1; ++j) {
            const __m256i s32 = iq4_xs_scales(g, j);
            const __m256i s = _mm256_or_si256(_mm256_and_si256(s32, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(s32, 16));
#pragma GCC unroll 4
            for (int u = 0; u < 4; ++u) {
                const __m256i v = loadu(g.qs + 32 * (4 * j + u));
                const __m256i lo = _mm256_shuffle_epi8(grid, _mm256_and_si256(v, m4));
                const __m256i hi = _mm256_shuffle_epi8(grid, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                const __m256i alo = _mm256_sign_epi8(lo, lo), ahi = _mm256_sign_epi8(hi, hi);
                for (int t = 0; t < NT; ++t) {
                    const int8_t* yq = y[t][i].qs + 32 * j + 4 * u;
                    const __m256i plo = _mm256_maddubs_epi16(alo, _mm256_sign_epi8(bcast4(yq), lo));
                    const __m256i phi = _mm256_maddubs_epi16(ahi, _mm256_sign_epi8(bcast4(yq + 16), hi));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_madd_epi16(plo, s), _mm256_madd_epi16(phi, s)));
                    keep_in_register(sumi[t]);
                }
            }
        }
    }
};

// Q6_K: per set of 16 columns (three 32-byte loads, four vectors of 4 quants per row) the
// four vpmaddubsw results are added two by two in int16 (|sum| <= 2 * 2 * 63 * 128 = 32256)
// and scaled by the rows' sub-block scale with vpmaddwd; the offset of the quants (q - 32)
// is the scales times the activations' sums of 16, times 32 (|32 * scale| <= 4096 fits int16).
struct q6_K_kernel : super_block_steps<q6_K_kernel> {
    using group = block_q6_Kx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    // Two groups at once for one token: faster than four (Q4_K's kernel takes two or four
    // alike; docs/speed.md, "Notes from the code").
    static constexpr int streams = 2;
    // sumi[t] += the sums of sub-blocks [2 * P0, 2 * P1) (zeroed first when P0 == 0).
    template <int NT, int P0 = 0, int P1 = 8>
    static inline void sums(const group& g, const act* const* y, int i, __m256i* sumi) {
        const __m256i top = _mm256_set1_epi8(char(0xC0));
        const __m256i even = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4, 5, 4, 5,
                                              8, 9, 8, 9, 12, 13, 12, 13);
        const __m256i odd = _mm256_add_epi8(even, _mm256_set1_epi8(2));
        if (P0 == 0) {
            for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        }
#pragma GCC unroll 8
        for (int p = P0; p < P1; ++p) {
            // lane r: (scale(r, 2p), scale(r, 2p + 1))
            const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.scales + 16 * p)));
            const __m256i sc32 = _mm256_slli_epi16(sc, 5);
            for (int t = 0; t < NT; ++t) {
                const int16_t* bs = y[t][i].bsums + 2 * p;
                sumi[t] = _mm256_sub_epi32(sumi[t], _mm256_madd_epi16(sc32, bcast4(bs)));
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                const __m256i s = _mm256_shuffle_epi8(sc, h ? odd : even);
                const __m256i v0 = loadu(g.qs + 96 * c), v1 = loadu(g.qs + 96 * c + 32), v2 = loadu(g.qs + 96 * c + 64);
                // the top two bits of each byte (t), the six below them (v ^ t); shifting t's
                // 16-bit words moves no bit across a byte boundary
                const __m256i t0 = _mm256_and_si256(v0, top), t1 = _mm256_and_si256(v1, top),
                              t2 = _mm256_and_si256(v2, top);
                const __m256i q0 = _mm256_xor_si256(v0, t0), q1 = _mm256_xor_si256(v1, t1), q2 = _mm256_xor_si256(v2, t2);
                const __m256i q3 = _mm256_or_si256(_mm256_or_si256(_mm256_srli_epi16(t0, 6), _mm256_srli_epi16(t1, 4)),
                                                   _mm256_srli_epi16(t2, 2));
                for (int t = 0; t < NT; ++t) {
                    const int8_t* yq = y[t][i].qs + 16 * c;
                    const __m256i a = _mm256_add_epi16(_mm256_maddubs_epi16(q0, bcast4(yq)),
                                                       _mm256_maddubs_epi16(q1, bcast4(yq + 4)));
                    const __m256i b = _mm256_add_epi16(_mm256_maddubs_epi16(q2, bcast4(yq + 8)),
                                                       _mm256_maddubs_epi16(q3, bcast4(yq + 12)));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_madd_epi16(a, s), _mm256_madd_epi16(b, s)));
                    keep_in_register(sumi[t]);
                }
            }
        }
    }
};

// Q3_K and Q2_K (G: block_q3_Kx8 or block_q2_Kx8): as Q6_K, 16 columns a set: one qs load (and
// for Q3_K the pair's hmask load) give four vectors of 4 quants per row (Q3_K 0..7, the value plus
// 4; Q2_K 0..3), whose vpmaddubsw results add up in int16 (|sum| <= 4 * 2 * 7 * 128 = 7168) and meet
// the rows' sub-block scale through one vpmaddwd. Q3_K's offset (q - 4) is the scales times the
// activations' sums of 16, times 4; Q2_K's mins meet those sums in the last step, as Q4_K's do.
template <class G>
struct q23_K_kernel {
    static constexpr bool q3 = std::is_same_v<G, block_q3_Kx8>;
    using group = G;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr bool quarters = true;
    static constexpr int streams = 2;
    struct state {};
    // Lane r: (scale(r, 2p), scale(r, 2p + 1)) as int16.
    static inline __m256i pair_scales(const group& g, int p) {
        if constexpr (q3) {
            return _mm256_cvtepi8_epi16(q3_K_scales8(g, p));
        } else {
            return q2_K_scales16<false>(g, p);
        }
    }
    // sumi[t] += the sums of sub-blocks [2 * P0, 2 * P1) (zeroed first when P0 == 0).
    template <int NT, int P0 = 0, int P1 = 8>
    static inline void sums(const group& g, const act* const* y, int i, __m256i* sumi) {
        const __m256i even = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4, 5, 4, 5,
                                              8, 9, 8, 9, 12, 13, 12, 13);
        const __m256i odd = _mm256_add_epi8(even, _mm256_set1_epi8(2));
        if (P0 == 0) {
            for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        }
#pragma GCC unroll 8
        for (int p = P0; p < P1; ++p) {
            const __m256i sc = pair_scales(g, p);
            __m256i hm = _mm256_setzero_si256();
            if constexpr (q3) {
                const __m256i sc4 = _mm256_slli_epi16(sc, 2);
                for (int t = 0; t < NT; ++t) {
                    sumi[t] = _mm256_sub_epi32(sumi[t], _mm256_madd_epi16(sc4, bcast4(y[t][i].bsums + 2 * p)));
                }
                hm = loadu(g.hmask + 32 * p);
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                const __m256i s = _mm256_shuffle_epi8(sc, h ? odd : even);
                const __m256i v = loadu(g.qs + 32 * c);
                __m256i q[4];
                for (int u = 0; u < 4; ++u) q[u] = q3 ? q3_K_quants(v, hm, c, u) : q2_K_quants(v, u);
                for (int t = 0; t < NT; ++t) {
                    const int8_t* yq = y[t][i].qs + 16 * c;
                    const __m256i a = _mm256_add_epi16(_mm256_maddubs_epi16(q[0], bcast4(yq)),
                                                       _mm256_maddubs_epi16(q[1], bcast4(yq + 4)));
                    const __m256i b = _mm256_add_epi16(_mm256_maddubs_epi16(q[2], bcast4(yq + 8)),
                                                       _mm256_maddubs_epi16(q[3], bcast4(yq + 12)));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(_mm256_add_epi16(a, b), s));
                    keep_in_register(sumi[t]);
                }
            }
        }
    }
    // Sub-blocks 4Q .. 4Q + 3 of one token.
    template <int Q>
    static inline void quarter(const group& g, state&, const act* const* y, int i, __m256i* sumi) {
        sums<1, 2 * Q, 2 * Q + 2>(g, y, i, sumi);
    }
    template <int NT>
    static inline void finish(const group& g, const state&, const __m256i* sumi, const act* const* y, int i,
                              __m256* acc) {
        fma_super_block<NT>(g.d, y, i, sumi, acc);
        if constexpr (!q3) {  // Q2_K: less dmin * yd times the mins' sums
            const __m256 m = load_d8(g.dmin);
            __m256i mn[8];
            for (int p = 0; p < 8; ++p) mn[p] = q2_K_scales16<true>(g, p);
            for (int t = 0; t < NT; ++t) {
                __m256i ms = _mm256_setzero_si256();
                for (int p = 0; p < 8; ++p) ms = _mm256_add_epi32(ms, _mm256_madd_epi16(mn[p], bcast4(y[t][i].bsums + 2 * p)));
                acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(m, _mm256_set1_ps(y[t][i].d)), _mm256_cvtepi32_ps(ms), acc[t]);
            }
        }
    }
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, __m256* acc) {
        __m256i sumi[NT];
        sums<NT>(g, y, i, sumi);
        finish<NT>(g, state{}, sumi, y, i, acc);
    }
};

}  // namespace

void dot_q4_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q45_K_kernel<block_q4_Kx8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q5_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q45_K_kernel<block_q5_Kx8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q6_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q6_K_kernel>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q2_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q23_K_kernel<block_q2_Kx8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q3_Kx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q23_K_kernel<block_q3_Kx8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q4_0x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q4_0_kernel<block_q4_0x8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q5_0x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q5_0_kernel<block_q5_0x8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q4_1x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q4_0_kernel<block_q4_1x8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q5_1x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q5_0_kernel<block_q5_1x8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q8_0x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q8_0_kernel<block_q8_0s>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q8_0x8_plain_act_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by,
                               int nt) {
    dot_groups<q8_0_kernel<block_q8_0>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_iq4_xsx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<iq4_xs_kernel>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_iq4_nlx8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<iq4_nl_kernel>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_mxfp4x8_avx2(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<mxfp4_kernel>(n, s, bs, x, bx, nr, y, by, nt);
}

void register_repack_avx2_pairs(isa_kernels& k) {
    for (weight_layout l : {weight_layout_q8_0x8, weight_layout_q4_0x8, weight_layout_q4_1x8, weight_layout_q5_0x8,
                            weight_layout_q5_1x8}) {
        k.repacked_layout_groups[l] = 2;  // their kernels step through two groups at once (step2)
    }
}

void register_repack_avx2(isa_kernels& k) {
    vec_dot_fn* r = k.repacked;
    r[weight_layout_q4_Kx8] = dot_q4_Kx8_avx2;
    r[weight_layout_q5_Kx8] = dot_q5_Kx8_avx2;
    r[weight_layout_q4_0x8] = dot_q4_0x8_avx2;
    r[weight_layout_q8_0x8] = dot_q8_0x8_avx2;
    k.q8_0x8_plain_act = dot_q8_0x8_plain_act_avx2;
    r[weight_layout_q5_0x8] = dot_q5_0x8_avx2;
    r[weight_layout_q4_1x8] = dot_q4_1x8_avx2;
    r[weight_layout_q5_1x8] = dot_q5_1x8_avx2;
    r[weight_layout_q6_Kx8] = dot_q6_Kx8_avx2;
    r[weight_layout_q3_Kx8] = dot_q3_Kx8_avx2;
    r[weight_layout_q2_Kx8] = dot_q2_Kx8_avx2;
    r[weight_layout_iq4_nlx8] = dot_iq4_nlx8_avx2;
    r[weight_layout_iq4_xsx8] = dot_iq4_xsx8_avx2;
    r[weight_layout_mxfp4x8] = dot_mxfp4x8_avx2;
}

}  // namespace pyggml
