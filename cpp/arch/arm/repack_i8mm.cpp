// repack_i8mm.cpp: kernels over the 8-row layouts (kernels/repack.h) for aarch64 with the
// int8 matrix multiply-accumulate of FEAT_I8MM (SMMLA: a 2x8 by 8x2 int8 product added into
// a 2x2 int32 tile), for two or more tokens a call; one token goes to the SDOT kernels
// (repack_neon.cpp). The same exact integer sums and float operations, in the same order,
// as the scalar references in kernels/repack.cpp, so the same bits.
//
// The layouts hold 4 quants of each row per 16 bytes (rows 0..3, then 4..7); zipping the
// 32-bit words of two such vectors (quants e..e+3 and e+4..e+7) gives two rows' 8 quants
// each, SMMLA's left operand; the right one is 8 activations of each of two tokens. Four
// SMMLA then cover 8 rows x 2 tokens x 8 quants, where SDOT takes eight. Four tokens (two
// pairs) share each decoding of the weights, two pairs of tiles side by side.
//
// The super-block kernels (Q2_K .. Q6_K, IQ4_XS) keep the tiles as SMMLA leaves them until a
// call's row is done: tile k of tokens (a, b) holds (row 2k, a), (row 2k, b), (row 2k + 1, a),
// (row 2k + 1, b). The rows' scales meet it laid out the same way (row_tiles: each value
// twice) and the tokens' as (a, b, a, b) (token_tile), so that every lane takes the scalar
// reference's operations for its row and token, and the tiles are unzipped into each token's
// rows once, at the end (run_pairs), instead of once per sub-block. The kernels over 32-column
// blocks unzip each block's tiles (see q8_0_kernel). Where the reference takes an offset times
// the activations' sum off (Q4_0's 8, Q5_0's 16, Q3_K's 4, Q6_K's 32), the quants are made
// signed before SMMLA instead (the same integer sums): one subtraction a weight vector, shared
// by the four tokens, where the offset took one per token. Q5_K's fifth bits are or'ed into
// Q4_K's nibbles as bit 4 (quants 0..31) before the zip, as are Q5_0's and Q5_1's into Q4_0's;
// Q4_0, Q4_1, Q5_0 and Q5_1 share one kernel over the group type. IQ4_XS's nibbles are looked
// up in its grid (TBL, signed int8) before the zip.
//
// Built with -march=armv8.2-a+dotprod+fp16+i8mm; core/dispatch.cpp picks these kernels only
// after getauxval(AT_HWCAP2) reported i8mm besides what the dotprod tier needs.
#include <arm_neon.h>

#include <cstring>
#include <type_traits>

#include "arch/arm/neon_tier.h"
#include "arch/arm/repack_neon.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "kernels/repack.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

// The left operands of four SMMLA: rows (0,1), (2,3), (4,5), (6,7), 8 quants each, from the
// group's 4 quants per row at e (a0: rows 0..3, a1: rows 4..7) and at e + 4 (b0, b1).
struct row_pairs {
    int8x16_t r[4];
    row_pairs(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
        const int32x4_t x0 = vreinterpretq_s32_s8(a0), x1 = vreinterpretq_s32_s8(a1);
        const int32x4_t y0 = vreinterpretq_s32_s8(b0), y1 = vreinterpretq_s32_s8(b1);
        r[0] = vreinterpretq_s8_s32(vzip1q_s32(x0, y0));
        r[1] = vreinterpretq_s8_s32(vzip2q_s32(x0, y0));
        r[2] = vreinterpretq_s8_s32(vzip1q_s32(x1, y1));
        r[3] = vreinterpretq_s8_s32(vzip2q_s32(x1, y1));
    }
};

// 8 activations of each of two tokens, SMMLA's right operand.
inline int8x16_t token_pair(const int8_t* a, const int8_t* b) { return vcombine_s8(vld1_s8(a), vld1_s8(b)); }

inline void mmla4(int32x4_t* m, const row_pairs& w, int8x16_t y) {
    for (int k = 0; k < 4; ++k) m[k] = vmmlaq_s32(m[k], w.r[k], y);
}

// P pairs of tokens over the same weights: m[p] the tiles of tokens 2p, 2p + 1, whose 8
// activations from byte off of block i SMMLA takes.
template <int P>
inline void zero_tiles(int32x4_t (*m)[4]) {
    for (int p = 0; p < P; ++p) {
        for (int k = 0; k < 4; ++k) m[p][k] = vdupq_n_s32(0);
    }
}
template <int P, class Y>
inline void mmla_tokens(int32x4_t (*m)[4], const row_pairs& w, const Y* const* y, int i, int off) {
    for (int p = 0; p < P; ++p) mmla4(m[p], w, token_pair(y[2 * p][i].qs + off, y[2 * p + 1][i].qs + off));
}

// The tiles m (rows (0,1), (2,3), (4,5), (6,7) x tokens (2p, 2p + 1)) of P pairs as each
// token's rows 0..3 and 4..7: a[t][0], a[t][1] (t < 2P).
template <int P>
inline void split_pairs(const int32x4_t (*m)[4], int32x4_t (*a)[2]) {
    for (int p = 0; p < P; ++p) {
        a[2 * p][0] = vuzp1q_s32(m[p][0], m[p][1]);
        a[2 * p + 1][0] = vuzp2q_s32(m[p][0], m[p][1]);
        a[2 * p][1] = vuzp1q_s32(m[p][2], m[p][3]);
        a[2 * p + 1][1] = vuzp2q_s32(m[p][2], m[p][3]);
    }
}

// A value of each row, rows 0..3 in lo and 4..7 in hi, as the tiles hold rows: t[k] = (v[2k],
// v[2k], v[2k + 1], v[2k + 1]).
inline void row_tiles(int32x4_t lo, int32x4_t hi, int32x4_t* t) {
    t[0] = vzip1q_s32(lo, lo);
    t[1] = vzip2q_s32(lo, lo);
    t[2] = vzip1q_s32(hi, hi);
    t[3] = vzip2q_s32(hi, hi);
}
inline void row_tiles(float32x4_t lo, float32x4_t hi, float32x4_t* t) {
    t[0] = vzip1q_f32(lo, lo);
    t[1] = vzip2q_f32(lo, lo);
    t[2] = vzip1q_f32(hi, hi);
    t[3] = vzip2q_f32(hi, hi);
}
// The 8 rows' fp16 values d as tiles.
inline void d8_tiles(const uint16_t* d, float32x4_t* t) {
    float32x4_t lo, hi;
    load_d8(d, &lo, &hi);
    row_tiles(lo, hi, t);
}
// Rows 0..3 (lo) and 4..7 (hi) of token a and of token b as tiles: t[k] = (a[2k], b[2k],
// a[2k + 1], b[2k + 1]).
inline void token_rows_tiles(int32x4_t alo, int32x4_t ahi, int32x4_t blo, int32x4_t bhi, int32x4_t* t) {
    t[0] = vzip1q_s32(alo, blo);
    t[1] = vzip2q_s32(alo, blo);
    t[2] = vzip1q_s32(ahi, bhi);
    t[3] = vzip2q_s32(ahi, bhi);
}
// A value of each of a pair's tokens as the tiles hold tokens: (a, b, a, b).
inline float32x4_t token_tile(float a, float b) {
    const float32x2_t v = vset_lane_f32(b, vdup_n_f32(a), 1);
    return vcombine_f32(v, v);
}

// acc[p][k] = fma(d_row * d_y, m[p][k], acc[p][k]) in every lane (d: row tiles, dy[p]: the
// pair's token tile), as fma_rows; fms_tiles: acc - (m_row * d_y) * mins, as fms_rows.
template <int P>
inline void fma_tiles(float32x4_t (*acc)[4], const float32x4_t* d, const float32x4_t* dy, const int32x4_t (*m)[4]) {
    for (int p = 0; p < P; ++p) {
        for (int k = 0; k < 4; ++k) acc[p][k] = vfmaq_f32(acc[p][k], vmulq_f32(d[k], dy[p]), vcvtq_f32_s32(m[p][k]));
    }
}
template <int P>
inline void fms_tiles(float32x4_t (*acc)[4], const float32x4_t* d, const float32x4_t* dy, const int32x4_t (*m)[4]) {
    for (int p = 0; p < P; ++p) {
        for (int k = 0; k < 4; ++k) acc[p][k] = vfmsq_f32(acc[p][k], vmulq_f32(d[k], dy[p]), vcvtq_f32_s32(m[p][k]));
    }
}
// sumi[p][k] += m[p][k] * s[k] (s: a scale of each row as tiles).
template <int P>
inline void mla_tiles(int32x4_t (*sumi)[4], const int32x4_t (*m)[4], const int32x4_t* s) {
    for (int p = 0; p < P; ++p) {
        for (int k = 0; k < 4; ++k) sumi[p][k] = vmlaq_s32(sumi[p][k], m[p][k], s[k]);
    }
}

// Each kernel: pairs<P>(g, y, i, acc) adds block i of the group times tokens y[0..2P) to
// acc[p] (tokens 2p, 2p + 1). Two pairs decode the weights once for four tokens. The kernels
// over 32-column blocks (tiled false) unzip each block's tiles into the tokens' rows and take
// each token's scale as a scalar, acc[p] = token 2p's rows 0..3 and 4..7, then token 2p + 1's:
// with one block a scale, their last step is cheaper on rows than on tiles (the tokens'
// scales laid out as tiles cost more than the unzip). The super-block kernels (tiled true)
// keep the tiles to the end of the row.
template <typename Y>
struct q8_0_kernel {
    using group = block_q8_0x8;
    using act = Y;
    static constexpr int block = QK8_0;
    static constexpr bool tiled = false;
    template <int P>
    static inline void pairs(const group& g, const act* const* y, int i, float32x4_t (*accs)[4]) {
        int32x4_t m[P][4];
        zero_tiles<P>(m);
        for (int k = 0; k < 8; k += 2) {
            const int8_t* q = g.qs + 32 * k;
            const row_pairs w(vld1q_s8(q), vld1q_s8(q + 16), vld1q_s8(q + 32), vld1q_s8(q + 48));
            mmla_tokens<P>(m, w, y, i, 4 * k);
        }
        int32x4_t a[2 * P][2];
        split_pairs<P>(m, a);
        float32x4_t dlo, dhi;
        load_d8(g.d, &dlo, &dhi);
        float32x4_t* acc = accs[0];
        for (int t = 0; t < 2 * P; ++t) fma_rows(acc + 2 * t, dlo, dhi, h2f(y[t][i].d), a[t][0], a[t][1]);
    }
};

// Q4_0, Q4_1 and, with the fifth bits or'ed in as bit 4 before the zip, Q5_0 and Q5_1 (G:
// block_q4_0x8, block_q4_1x8, block_q5_0x8 or block_q5_1x8). Q4_0's and Q5_0's quants less
// their offset (8, 16: centred, |q| <= 16), Q4_1's and Q5_1's as they are (at most 31); IQ4_NL
// and MXFP4 (Values): the nibbles looked up (TBL) as the SDOT kernel's, |value| <= 127. With
// |y| <= 128 a block's tile sums |m| <= 32 * 127 * 128 = 520192. The last step as the SDOT
// kernel's finish_nibbles, with no offset for the centred quants.
template <class G, const int8_t* Values = nullptr>
struct nibbles_kernel {
    using group = G;
    using act = nibble_act<G>;
    static constexpr int block = QK4_0;
    static constexpr bool tiled = false;
    static constexpr bool centred = !has_min<G> && Values == nullptr;
    template <int P>
    static inline void pairs(const group& g, const act* const* y, int i, float32x4_t (*accs)[4]) {
        const uint8x16_t m4 = vdupq_n_u8(0x0F);
        int32x4_t m[P][4];
        zero_tiles<P>(m);
        for (int k = 0; k < 4; k += 2) {
            const uint8_t* q = g.qs + 32 * k;
            const uint8x16_t c0 = vld1q_u8(q), c1 = vld1q_u8(q + 16), c2 = vld1q_u8(q + 32), c3 = vld1q_u8(q + 48);
            // the low (high) nibbles of the 16 bytes v at offset o of load k + o / 32, which hold
            // quants 4(k + o / 32).. (16 + 4(k + o / 32)..) of rows 0..3 (o % 32 == 0) or 4..7
            // nibbles n (with their fifth bits, j: which) as the int8 values SMMLA takes
            auto values = [&](uint8x16_t n, int o, int j) {
                if constexpr (has_fifth_bit<G>) n = with_fifth_bits(n, vld1q_u8(g.qh + o % 32), j);
                if constexpr (Values != nullptr) return vqtbl1q_s8(vld1q_s8(Values), n);
                if constexpr (centred) return vsubq_s8(vreinterpretq_s8_u8(n), vdupq_n_s8(has_fifth_bit<G> ? 16 : 8));
                return vreinterpretq_s8_u8(n);
            };
            auto lo = [&](uint8x16_t v, int o) { return values(vandq_u8(v, m4), o, k + o / 32); };
            auto hi = [&](uint8x16_t v, int o) { return values(vshrq_n_u8(v, 4), o, 4 + k + o / 32); };
            mmla_tokens<P>(m, row_pairs(lo(c0, 0), lo(c1, 16), lo(c2, 32), lo(c3, 48)), y, i, 4 * k);
            mmla_tokens<P>(m, row_pairs(hi(c0, 0), hi(c1, 16), hi(c2, 32), hi(c3, 48)), y, i, 16 + 4 * k);
        }
        int32x4_t a[2 * P][2];
        split_pairs<P>(m, a);
        finish_nibbles<2 * P, G, Values != nullptr, centred>(g, y, i, a, accs[0]);
    }
};

// Q4_K and Q5_K (G: block_q4_Kx8 or block_q5_Kx8). Bounds as the SDOT kernel's, Q5_K's
// quants at most 31: a sub-block's tile sums |m| <= 32 * 31 * 128 = 126976, |sumi| < 2^26.
template <class G>
struct q45_K_kernel {
    using group = G;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr bool tiled = true;
    template <int P>
    static inline void pairs(const group& g, const act* const* y, int i, float32x4_t (*acc)[4]) {
        constexpr bool q5 = std::is_same_v<G, block_q5_Kx8>;
        int32_t sc[8][8];
        unpack_q4_K_scales(g, sc);
        const uint8x16_t m4 = vdupq_n_u8(0x0F);
        int32x4_t sumi[P][4];
        zero_tiles<P>(sumi);
        for (int j = 0; j < 8; ++j) {
            const uint8_t* qk = g.qs + 256 * (j / 2);  // the sub-block pair's quants, 32 bytes a group
            // the 16 quant bytes at offset o of loads u, u + 1 (qh at the same offset from qh + 32u)
            auto quants = [&](int u, int o) {
                const uint8x16_t v = vld1q_u8(qk + 32 * u + o);
                uint8x16_t q = j % 2 ? vshrq_n_u8(v, 4) : vandq_u8(v, m4);
                if constexpr (q5) q = with_fifth_bits(q, vld1q_u8(g.qh + 32 * u + o), j);
                return vreinterpretq_s8_u8(q);
            };
            int32x4_t m[P][4];
            zero_tiles<P>(m);
            for (int u = 0; u < 8; u += 2) {
                mmla_tokens<P>(m, row_pairs(quants(u, 0), quants(u, 16), quants(u, 32), quants(u, 48)), y, i,
                               32 * j + 4 * u);
            }
            int32x4_t s[4];
            row_tiles(vld1q_s32(sc[j]), vld1q_s32(sc[j] + 4), s);
            mla_tiles<P>(sumi, m, s);
        }
        float32x4_t d[4], dm[4], dy[P];
        d8_tiles(g.d, d);
        d8_tiles(g.dmin, dm);
        int16x8_t mn[8];
        q4_K_mins(g, mn);
        int32x4_t mins[P][4];
        for (int p = 0; p < P; ++p) {
            dy[p] = token_tile(y[2 * p][i].d, y[2 * p + 1][i].d);
            int32x4_t alo, ahi, blo, bhi;
            q4_K_min_sums(mn, y[2 * p][i], &alo, &ahi);
            q4_K_min_sums(mn, y[2 * p + 1][i], &blo, &bhi);
            token_rows_tiles(alo, ahi, blo, bhi, mins[p]);
        }
        fma_tiles<P>(acc, d, dy, sumi);
        fms_tiles<P>(acc, dm, dy, mins);
    }
};

// Q6_K, Q3_K and Q2_K: set c's 16 quants of the 8 rows (q[rows 0..3, 4..7][quants 4u..4u + 3])
// times the 16 activations at 16c of each token, as tiles m.
template <int P>
inline void set_tiles(const int8x16_t (*q)[4], const block_q8_K* const* y, int i, int c, int32x4_t (*m)[4]) {
    zero_tiles<P>(m);
    mmla_tokens<P>(m, row_pairs(q[0][0], q[1][0], q[0][1], q[1][1]), y, i, 16 * c);
    mmla_tokens<P>(m, row_pairs(q[0][2], q[1][2], q[0][3], q[1][3]), y, i, 16 * c + 8);
}

// Q6_K: the quants less 32 (-32..31), so that no offset meets the activations' sums.
struct q6_K_kernel {
    using group = block_q6_Kx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr bool tiled = true;
    template <int P>
    static inline void pairs(const group& g, const act* const* y, int i, float32x4_t (*acc)[4]) {
        const uint8x16_t m6 = vdupq_n_u8(0x3F);
        const int8x16_t c32 = vdupq_n_s8(32);
        auto centred = [&](uint8x16_t v) { return vsubq_s8(vreinterpretq_s8_u8(v), c32); };
        int32x4_t sumi[P][4];
        zero_tiles<P>(sumi);
        for (int p = 0; p < 8; ++p) {
            // (row r, sub-block 2p + h) at byte 2r + h: even bytes are sub-block 2p, odd 2p + 1
            int32x4_t scs[2][2];
            pair_scales(vld1q_s8(g.scales + 16 * p), scs);
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                int8x16_t q[2][4];  // [rows 0..3, 4..7][quants 4u..4u + 3 of the set]
                for (int half = 0; half < 2; ++half) {
                    const uint8_t* b = g.qs + 96 * c + 16 * half;
                    const uint8x16_t v0 = vld1q_u8(b), v1 = vld1q_u8(b + 32), v2 = vld1q_u8(b + 64);
                    q[half][0] = centred(vandq_u8(v0, m6));
                    q[half][1] = centred(vandq_u8(v1, m6));
                    q[half][2] = centred(vandq_u8(v2, m6));
                    q[half][3] = centred(
                        vorrq_u8(vorrq_u8(vshrq_n_u8(v0, 6), vshlq_n_u8(vshrq_n_u8(v1, 6), 2)), vshlq_n_u8(vshrq_n_u8(v2, 6), 4)));
                }
                int32x4_t m[P][4], s[4];
                set_tiles<P>(q, y, i, c, m);
                row_tiles(scs[h][0], scs[h][1], s);
                mla_tiles<P>(sumi, m, s);
            }
        }
        float32x4_t d[4], dy[P];
        d8_tiles(g.d, d);
        for (int p = 0; p < P; ++p) dy[p] = token_tile(y[2 * p][i].d, y[2 * p + 1][i].d);
        fma_tiles<P>(acc, d, dy, sumi);
    }
};

// Q3_K and Q2_K: as Q6_K, the quants from q23_K_set; Q3_K's less 4 (-4..3); Q2_K's mins as the
// SDOT kernel's, per token, laid out as tiles at the end.
template <class G>
struct q23_K_kernel {
    static constexpr bool q3 = std::is_same_v<G, block_q3_Kx8>;
    using group = G;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr bool tiled = true;
    template <int P>
    static inline void pairs(const group& g, const act* const* y, int i, float32x4_t (*acc)[4]) {
        int32x4_t sumi[P][4], summ[2 * P][2];
        zero_tiles<P>(sumi);
        for (int t = 0; t < 2 * P; ++t) summ[t][0] = summ[t][1] = vdupq_n_s32(0);
        for (int p = 0; p < 8; ++p) {
            int32x4_t scs[2][2], mns[2][2];
            q23_K_pair(g, p, scs, mns);
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                int8x16_t q[2][4];  // [rows 0..3, 4..7][quants 4u..4u + 3 of the set]
                q23_K_set(g, c, q);
                if constexpr (q3) {
                    for (int half = 0; half < 2; ++half) {
                        for (int u = 0; u < 4; ++u) q[half][u] = vsubq_s8(q[half][u], vdupq_n_s8(4));
                    }
                }
                int32x4_t m[P][4], s[4];
                set_tiles<P>(q, y, i, c, m);
                row_tiles(scs[h][0], scs[h][1], s);
                mla_tiles<P>(sumi, m, s);
                if constexpr (!q3) {
                    for (int t = 0; t < 2 * P; ++t) {
                        for (int half = 0; half < 2; ++half) summ[t][half] = vmlaq_n_s32(summ[t][half], mns[h][half], y[t][i].bsums[c]);
                    }
                }
            }
        }
        float32x4_t d[4], dy[P];
        d8_tiles(g.d, d);
        for (int p = 0; p < P; ++p) dy[p] = token_tile(y[2 * p][i].d, y[2 * p + 1][i].d);
        fma_tiles<P>(acc, d, dy, sumi);
        if constexpr (!q3) {
            float32x4_t dm[4];
            int32x4_t mins[P][4];
            d8_tiles(g.dmin, dm);
            for (int p = 0; p < P; ++p) token_rows_tiles(summ[2 * p][0], summ[2 * p][1], summ[2 * p + 1][0], summ[2 * p + 1][1], mins[p]);
            fms_tiles<P>(acc, dm, dy, mins);
        }
    }
};

// IQ4_XS: per sub-block two pairs of loads (u, u + 1: quants 4u..4u + 7 in the low nibbles,
// 16 + 4u.. in the high ones), the nibbles looked up in the grid (vqtbl1q_s8 over
// kvalues_iq4nl, signed int8 as SMMLA takes them), the tiles' sums times the rows' scale less
// 32. Bounds as the SDOT kernel's, |grid| <= 127 and |y| <= 128: a sub-block's tile sums
// |m| <= 32 * 127 * 128 = 520192, times |scale| <= 32 over 8 sub-blocks |sumi| < 2^27.
struct iq4_xs_kernel {
    using group = block_iq4_xsx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    static constexpr bool tiled = true;
    template <int P>
    static inline void pairs(const group& g, const act* const* y, int i, float32x4_t (*acc)[4]) {
        const int8x16_t grid = vld1q_s8(kvalues_iq4nl);
        const uint8x16_t m4 = vdupq_n_u8(0x0F);
        auto lo = [&](uint8x16_t v) { return vqtbl1q_s8(grid, vandq_u8(v, m4)); };
        auto hi = [&](uint8x16_t v) { return vqtbl1q_s8(grid, vshrq_n_u8(v, 4)); };
        int32x4_t sumi[P][4];
        zero_tiles<P>(sumi);
        for (int j = 0; j < 8; ++j) {
            int32x4_t m[P][4];
            zero_tiles<P>(m);
            const uint8_t* qj = g.qs + 128 * j;  // the sub-block's quants, 32 bytes a group
            for (int u = 0; u < 4; u += 2) {
                const uint8_t* q = qj + 32 * u;
                const uint8x16_t c0 = vld1q_u8(q), c1 = vld1q_u8(q + 16), c2 = vld1q_u8(q + 32), c3 = vld1q_u8(q + 48);
                mmla_tokens<P>(m, row_pairs(lo(c0), lo(c1), lo(c2), lo(c3)), y, i, 32 * j + 4 * u);
                mmla_tokens<P>(m, row_pairs(hi(c0), hi(c1), hi(c2), hi(c3)), y, i, 32 * j + 4 * u + 16);
            }
            int32x4_t s0, s1, s[4];
            iq4_xs_scales(g, j, &s0, &s1);
            row_tiles(s0, s1, s);
            mla_tiles<P>(sumi, m, s);
        }
        float32x4_t d[4], dy[P];
        d8_tiles(g.d, d);
        for (int p = 0; p < P; ++p) dy[p] = token_tile(y[2 * p][i].d, y[2 * p + 1][i].d);
        fma_tiles<P>(acc, d, dy, sumi);
    }
};

// Tokens t..t + 2P of one group: P pairs over each block (s: the group's first row), tiles
// (K::tiled) unzipped into each token's rows 0..3 and 4..7 at the end. Not inlined: each count of pairs
// gets a function of its own to allocate registers in.
template <class K, int P>
__attribute__((noinline)) void run_pairs(int n, float* s, size_t bs, const typename K::group* xg, const char* yb, size_t by, int t) {
    using Y = typename K::act;
    const Y* y[2 * P];
    for (int k = 0; k < 2 * P; ++k) y[k] = reinterpret_cast<const Y*>(yb + (t + k) * by);
    float32x4_t acc[P][4];
    for (int p = 0; p < P; ++p) {
        for (int k = 0; k < 4; ++k) acc[p][k] = vdupq_n_f32(0.0f);
    }
    for (int i = 0; i < n / K::block; ++i) K::template pairs<P>(xg[i], y, i, acc);
    for (int p = 0; p < P; ++p) {
        float* a = s + (t + 2 * p) * bs;
        float* b = a + bs;
        if constexpr (K::tiled) {
            vst1q_f32(a, vuzp1q_f32(acc[p][0], acc[p][1]));
            vst1q_f32(a + 4, vuzp1q_f32(acc[p][2], acc[p][3]));
            vst1q_f32(b, vuzp2q_f32(acc[p][0], acc[p][1]));
            vst1q_f32(b + 4, vuzp2q_f32(acc[p][2], acc[p][3]));
        } else {
            for (int k = 0; k < 2; ++k) {
                vst1q_f32(a + 4 * k, acc[p][k]);
                vst1q_f32(b + 4 * k, acc[p][2 + k]);
            }
        }
    }
}

// Tokens in fours (two pairs over one decoding of the weights) and a last pair through SMMLA;
// an odd last token through OneToken (the SDOT kernel).
template <class K, vec_dot_fn OneToken>
void dot_groups(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* vy, size_t by, int nt) {
    const char* yb = static_cast<const char*>(vy);
    if (nt % 2) OneToken(n, s + (nt - 1) * bs, bs, x, bx, nr, yb + (nt - 1) * by, by, 1);
    for (int g = 0; g < nr / REPACK_ROWS; ++g) {
        const auto* xg = reinterpret_cast<const typename K::group*>(static_cast<const char*>(x) + g * bx);
        float* sg = s + g * REPACK_ROWS;
        int t = 0;
        for (; t + 3 < nt; t += 4) run_pairs<K, 2>(n, sg, bs, xg, yb, by, t);
        if (t + 1 < nt) run_pairs<K, 1>(n, sg, bs, xg, yb, by, t);
    }
}

}  // namespace

void register_repack_i8mm(isa_kernels& k) {
    vec_dot_fn* r = k.repacked;
    r[weight_layout_q4_Kx8] = dot_groups<q45_K_kernel<block_q4_Kx8>, dot_q4_Kx8_neon>;
    r[weight_layout_q5_Kx8] = dot_groups<q45_K_kernel<block_q5_Kx8>, dot_q5_Kx8_neon>;
    r[weight_layout_q6_Kx8] = dot_groups<q6_K_kernel, dot_q6_Kx8_neon>;
    r[weight_layout_q3_Kx8] = dot_groups<q23_K_kernel<block_q3_Kx8>, dot_q3_Kx8_neon>;
    r[weight_layout_q2_Kx8] = dot_groups<q23_K_kernel<block_q2_Kx8>, dot_q2_Kx8_neon>;
    r[weight_layout_q4_0x8] = dot_groups<nibbles_kernel<block_q4_0x8>, dot_q4_0x8_neon>;
    r[weight_layout_q5_0x8] = dot_groups<nibbles_kernel<block_q5_0x8>, dot_q5_0x8_neon>;
    r[weight_layout_q4_1x8] = dot_groups<nibbles_kernel<block_q4_1x8>, dot_q4_1x8_neon>;
    r[weight_layout_q5_1x8] = dot_groups<nibbles_kernel<block_q5_1x8>, dot_q5_1x8_neon>;
    r[weight_layout_q8_0x8] = dot_groups<q8_0_kernel<block_q8_0s>, dot_q8_0x8_neon>;
    k.q8_0x8_plain_act = dot_groups<q8_0_kernel<block_q8_0>, dot_q8_0x8_plain_act_neon>;
    r[weight_layout_iq4_xsx8] = dot_groups<iq4_xs_kernel, dot_iq4_xsx8_neon>;
    r[weight_layout_iq4_nlx8] = dot_groups<nibbles_kernel<block_iq4_nlx8, kvalues_iq4nl>, dot_iq4_nlx8_neon>;
    r[weight_layout_mxfp4x8] = dot_groups<nibbles_kernel<block_mxfp4x8, kvalues_fp4>, dot_mxfp4x8_neon>;
}

}  // namespace pyggml::PYGGML_NEON_TIER
