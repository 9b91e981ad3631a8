// repack_neon.cpp: NEON dot kernels (aarch64 with SDOT) over weights repacked 8 rows at a
// time (block_q4_Kx8, block_q5_Kx8, block_q6_Kx8, block_q3_Kx8, block_q2_Kx8, block_q4_0x8, block_q4_1x8, block_q5_0x8,
// block_q5_1x8, block_q8_0x8, block_iq4_xsx8, block_iq4_nlx8, block_mxfp4x8; kernels/repack.h): the same exact integer sums
// and the same float operations, in the same order, as the scalar references in
// kernels/repack.cpp, so that they give the same bits.
//
// A 32-byte load of quants holds 4 bytes of each of the 8 rows: rows 0..3 in its first 16
// bytes, rows 4..7 in the second, exactly the shape SDOT takes (four int8 products summed
// into each int32 lane), against 4 activation bytes in every lane: SDOT by element, which
// takes them from a lane of a 16-byte activation load (sdot_group, neon_tier.h). Lane r of
// the first of each pair of vectors holds row r, of the second row 4 + r. Quants are
// unsigned and at most 63, so signed int8 takes them as they are; a sub-block's scale
// meets its int32 sum with one multiply-accumulate. Q5_K: Q4_K's nibbles with the fifth
// bits, which block_q5_Kx8 lays out byte for byte as the quant loads, or'ed in as bit 4.
// Q4_0, Q4_1, Q5_0, Q5_1: one kernel over the group type; one int32 sum per row and block of
// the unsigned quants (Q5_0 / Q5_1: the fifth bits, laid out as one quant load, or'ed in as
// bit 4), then Q4_0's / Q5_0's offset (8, 16) times the quant sum of the block_q8_0s
// activations taken off, or Q4_1's / Q5_1's min times the Q8_1 activations' d * sum added.
// IQ4_XS: the nibbles index the non-linear grid (TBL over its 16 signed values), whose signed
// int8 values SDOT takes as they are; each sub-block's sum meets the rows' scale less 32.
//
// Built twice (arch/arm/neon_tier.h): with -march=armv8.2-a+dotprod+fp16 for the dotprod tier,
// which core/cpu.cpp allows only where getauxval(AT_HWCAP) reports asimddp and asimdhp, and with
// -march=armv8-a for the neon tier, where sdot() takes SDOT's sums without SDOT (and each
// activation group is loaded broadcast where it is used).
#include <arm_neon.h>

#include <type_traits>

#include "arch/arm/neon_tier.h"
#include "arch/arm/repack_neon.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "kernels/repack.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

// Q4_0, Q4_1 and, with the fifth bits (block_q5_0x8's qh, laid out as one quant load) or'ed in
// as bit 4, Q5_0 and Q5_1 (G: block_q4_0x8, block_q4_1x8, block_q5_0x8 or block_q5_1x8); and,
// the nibbles looked up in a table of 16 signed values (Values: TBL), IQ4_NL (the non-linear
// grid, |value| <= 127) and MXFP4 (the doubled E2M1 values).
// Bounds, quants at most 31 (or |value| <= 127) and |y| <= 128: a block's SDOT sums
// |a| <= 32 * 127 * 128 = 520192, the offset |16 * sum| <= 16 * 32 * 128 = 65536: inside int32.
template <class G, const int8_t* Values = nullptr>
struct nibbles_kernel {
    using group = G;
    using act = nibble_act<G>;
    static constexpr int block = QK4_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, float32x4_t* acc) {
        const uint8x16_t m4 = vdupq_n_u8(0x0F);
        int32x4_t a[NT][2];
        for (int t = 0; t < NT; ++t) a[t][0] = a[t][1] = vdupq_n_s32(0);
        acts<2> yv[NT];
        for (int t = 0; t < NT; ++t) yv[t] = acts<2>(y[t][i].qs);
        for_groups<4>([&](auto k) {
            const uint8x16_t v0 = vld1q_u8(g.qs + 32 * k), v1 = vld1q_u8(g.qs + 32 * k + 16);
            uint8x16_t n0 = vandq_u8(v0, m4), n1 = vandq_u8(v1, m4);
            uint8x16_t h0 = vshrq_n_u8(v0, 4), h1 = vshrq_n_u8(v1, 4);
            if constexpr (has_fifth_bit<G>) {
                const uint8x16_t b0 = vld1q_u8(g.qh), b1 = vld1q_u8(g.qh + 16);
                n0 = with_fifth_bits(n0, b0, k);
                n1 = with_fifth_bits(n1, b1, k);
                h0 = with_fifth_bits(h0, b0, 4 + k);
                h1 = with_fifth_bits(h1, b1, 4 + k);
            }
            int8x16_t lo0 = vreinterpretq_s8_u8(n0), lo1 = vreinterpretq_s8_u8(n1);
            int8x16_t hi0 = vreinterpretq_s8_u8(h0), hi1 = vreinterpretq_s8_u8(h1);
            if constexpr (Values != nullptr) {
                const int8x16_t grid = vld1q_s8(Values);
                lo0 = vqtbl1q_s8(grid, n0);
                lo1 = vqtbl1q_s8(grid, n1);
                hi0 = vqtbl1q_s8(grid, h0);
                hi1 = vqtbl1q_s8(grid, h1);
            }
            for (int t = 0; t < NT; ++t) {
                a[t][0] = sdot_group(sdot_group(a[t][0], lo0, yv[t], k), hi0, yv[t], 4 + k);
                a[t][1] = sdot_group(sdot_group(a[t][1], lo1, yv[t], k), hi1, yv[t], 4 + k);
            }
        });
        finish_nibbles<NT, G, Values != nullptr>(g, y, i, a, acc);
    }
};

// Y: block_q8_0s (the layout's activations) or block_q8_0 (rows decoded into Q8_0 groups).
template <typename Y>
struct q8_0_kernel {
    using group = block_q8_0x8;
    using act = Y;
    static constexpr int block = QK8_0;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, float32x4_t* acc) {
        int32x4_t a[NT][2];
        for (int t = 0; t < NT; ++t) a[t][0] = a[t][1] = vdupq_n_s32(0);
        acts<2> yv[NT];
        for (int t = 0; t < NT; ++t) yv[t] = acts<2>(y[t][i].qs);
        for_groups<8>([&](auto k) {
            const int8x16_t w0 = vld1q_s8(g.qs + 32 * k), w1 = vld1q_s8(g.qs + 32 * k + 16);
            for (int t = 0; t < NT; ++t) {
                a[t][0] = sdot_group(a[t][0], w0, yv[t], k);
                a[t][1] = sdot_group(a[t][1], w1, yv[t], k);
            }
        });
        float32x4_t dlo, dhi;
        load_d8(g.d, &dlo, &dhi);
        for (int t = 0; t < NT; ++t) fma_rows(acc + 2 * t, dlo, dhi, h2f(y[t][i].d), a[t][0], a[t][1]);
    }
};

// Q4_K and Q5_K (G: block_q4_Kx8 or block_q5_Kx8). Bounds, Q5_K's quants at most 31 and
// |y| <= 128: a sub-block's SDOT sums |a| <= 32 * 31 * 128 = 126976, scaled by at most 63
// and added over 8 sub-blocks, |sumi| <= 8 * 63 * 126976 < 2^26; the mins' sums
// |min| <= 8 * 63 * 32 * 128 < 2^21: all well inside int32.
template <class G>
struct q45_K_kernel {
    using group = G;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, float32x4_t* acc) {
        constexpr bool q5 = std::is_same_v<G, block_q5_Kx8>;
        int32_t sc[8][8];
        unpack_q4_K_scales(g, sc);
        const uint8x16_t m4 = vdupq_n_u8(0x0F);
        int32x4_t sumi[NT][2];
        for (int t = 0; t < NT; ++t) sumi[t][0] = sumi[t][1] = vdupq_n_s32(0);
        // sub-blocks 2k (low nibbles) and 2k + 1 (high) share their quant bytes; the nibble a
        // constant of each call of sub_block, so that no compiler selects between the two per load
        auto sub_block = [&](int k, auto high) {
            const int j = 2 * k + high;
            const uint8_t* qk = g.qs + 256 * k;  // the pair's quants, 32 bytes a group
            int32x4_t a[NT][2];
            for (int t = 0; t < NT; ++t) a[t][0] = a[t][1] = vdupq_n_s32(0);
            acts<2> yv[NT];
            for (int t = 0; t < NT; ++t) yv[t] = acts<2>(y[t][i].qs + 32 * j);
            for_groups<8>([&](auto u) {
                const uint8x16_t v0 = vld1q_u8(qk + 32 * u), v1 = vld1q_u8(qk + 32 * u + 16);
                uint8x16_t n0 = high ? vshrq_n_u8(v0, 4) : vandq_u8(v0, m4);
                uint8x16_t n1 = high ? vshrq_n_u8(v1, 4) : vandq_u8(v1, m4);
                if constexpr (q5) {
                    n0 = with_fifth_bits(n0, vld1q_u8(g.qh + 32 * u), j);
                    n1 = with_fifth_bits(n1, vld1q_u8(g.qh + 32 * u + 16), j);
                }
                const int8x16_t q0 = vreinterpretq_s8_u8(n0), q1 = vreinterpretq_s8_u8(n1);
                for (int t = 0; t < NT; ++t) {
                    a[t][0] = sdot_group(a[t][0], q0, yv[t], u);
                    a[t][1] = sdot_group(a[t][1], q1, yv[t], u);
                }
            });
            const int32x4_t s0 = vld1q_s32(sc[j]), s1 = vld1q_s32(sc[j] + 4);
            for (int t = 0; t < NT; ++t) {
                sumi[t][0] = vmlaq_s32(sumi[t][0], a[t][0], s0);
                sumi[t][1] = vmlaq_s32(sumi[t][1], a[t][1], s1);
            }
        };
        for (int k = 0; k < 4; ++k) {
            sub_block(k, std::false_type{});
            sub_block(k, std::true_type{});
        }
        float32x4_t dlo, dhi, mlo, mhi;
        load_d8(g.d, &dlo, &dhi);
        load_d8(g.dmin, &mlo, &mhi);
        int16x8_t mn[8];
        q4_K_mins(g, mn);
        for (int t = 0; t < NT; ++t) {
            int32x4_t min0, min1;
            q4_K_min_sums(mn, y[t][i], &min0, &min1);
            const float yd = y[t][i].d;
            float32x4_t* ac = acc + 2 * t;
            fma_rows(ac, dlo, dhi, yd, sumi[t][0], sumi[t][1]);
            fms_rows(ac, mlo, mhi, yd, min0, min1);
        }
    }
};

struct q6_K_kernel {
    using group = block_q6_Kx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, float32x4_t* acc) {
        const uint8x16_t m6 = vdupq_n_u8(0x3F);
        int32x4_t sumi[NT][2];
        for (int t = 0; t < NT; ++t) sumi[t][0] = sumi[t][1] = vdupq_n_s32(0);
        for (int p = 0; p < 8; ++p) {
            // (row r, sub-block 2p + h) at byte 2r + h: even bytes are sub-block 2p, odd 2p + 1
            int32x4_t scs[2][2];
            pair_scales(vld1q_s8(g.scales + 16 * p), scs);
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                int8x16_t q[2][4];
                for (int half = 0; half < 2; ++half) {
                    const uint8_t* b = g.qs + 96 * c + 16 * half;
                    const uint8x16_t v0 = vld1q_u8(b), v1 = vld1q_u8(b + 32), v2 = vld1q_u8(b + 64);
                    q[half][0] = vreinterpretq_s8_u8(vandq_u8(v0, m6));
                    q[half][1] = vreinterpretq_s8_u8(vandq_u8(v1, m6));
                    q[half][2] = vreinterpretq_s8_u8(vandq_u8(v2, m6));
                    q[half][3] = vreinterpretq_s8_u8(
                        vorrq_u8(vorrq_u8(vshrq_n_u8(v0, 6), vshlq_n_u8(vshrq_n_u8(v1, 6), 2)), vshlq_n_u8(vshrq_n_u8(v2, 6), 4)));
                }
                for (int t = 0; t < NT; ++t) {
                    const acts<1> yc(y[t][i].qs + 16 * c);
                    int32x4_t a[2];
                    a[0] = a[1] = vdupq_n_s32(-32 * y[t][i].bsums[c]);
                    for_groups<4>([&](auto u) {
                        a[0] = sdot_group(a[0], q[0][u], yc, u);
                        a[1] = sdot_group(a[1], q[1][u], yc, u);
                    });
                    for (int half = 0; half < 2; ++half) sumi[t][half] = vmlaq_s32(sumi[t][half], a[half], scs[h][half]);
                }
            }
        }
        float32x4_t dlo, dhi;
        load_d8(g.d, &dlo, &dhi);
        for (int t = 0; t < NT; ++t) fma_rows(acc + 2 * t, dlo, dhi, y[t][i].d, sumi[t][0], sumi[t][1]);
    }
};

// Q3_K and Q2_K (G: block_q3_Kx8 or block_q2_Kx8): as Q6_K, per 16 columns one qs load (and for
// Q3_K the pair's hmask load) per 4 rows (q23_K_set: Q3_K 0..7, the value plus 4; Q2_K 0..3), SDOT,
// each sub-block's sum times the rows' scale; Q3_K's offset 4 * bsums, Q2_K's mins times the
// activations' sums of 16, then acc = fma(d * yd, sum, acc) and acc = fma(-(dmin * yd), min_sum, acc).
// Bounds: a set's sum |a| <= 16 * 7 * 128 + 4 * 16 * 128, times |scale| <= 32 over 16 sets: inside int32.
template <class G>
struct q23_K_kernel {
    static constexpr bool q3 = std::is_same_v<G, block_q3_Kx8>;
    using group = G;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, float32x4_t* acc) {
        int32x4_t sumi[NT][2], summ[NT][2];
        for (int t = 0; t < NT; ++t) sumi[t][0] = sumi[t][1] = summ[t][0] = summ[t][1] = vdupq_n_s32(0);
        for (int p = 0; p < 8; ++p) {
            int32x4_t scs[2][2], mns[2][2];
            q23_K_pair(g, p, scs, mns);
            for (int h = 0; h < 2; ++h) {
                const int c = 2 * p + h;
                int8x16_t q[2][4];
                q23_K_set(g, c, q);
                for (int t = 0; t < NT; ++t) {
                    const acts<1> yc(y[t][i].qs + 16 * c);
                    int32x4_t a[2];
                    a[0] = a[1] = vdupq_n_s32(q3 ? -4 * y[t][i].bsums[c] : 0);
                    for_groups<4>([&](auto u) {
                        a[0] = sdot_group(a[0], q[0][u], yc, u);
                        a[1] = sdot_group(a[1], q[1][u], yc, u);
                    });
                    for (int half = 0; half < 2; ++half) {
                        sumi[t][half] = vmlaq_s32(sumi[t][half], a[half], scs[h][half]);
                        if constexpr (!q3) summ[t][half] = vmlaq_n_s32(summ[t][half], mns[h][half], y[t][i].bsums[c]);
                    }
                }
            }
        }
        float32x4_t dlo, dhi, mlo, mhi;
        load_d8(g.d, &dlo, &dhi);
        if constexpr (!q3) load_d8(g.dmin, &mlo, &mhi);
        for (int t = 0; t < NT; ++t) {
            fma_rows(acc + 2 * t, dlo, dhi, y[t][i].d, sumi[t][0], sumi[t][1]);
            if constexpr (!q3) fms_rows(acc + 2 * t, mlo, mhi, y[t][i].d, summ[t][0], summ[t][1]);
        }
    }
};

// IQ4_XS: sub-block by sub-block, four 32-byte loads (4 bytes of each row: the low nibbles
// quants 4u..4u + 3 of the sub-block, the high ones 16 + 4u..), the nibbles looked up in the
// grid (vqtbl1q_s8 over kvalues_iq4nl, -127..113) and multiplied with SDOT, then each sub-block's
// sum times the rows' scale less 32; acc = fma(d_row * d_y, isum, acc) as step_iq4_xsx8.
// Bounds, |grid| <= 127 and |y| <= 128: a sub-block's SDOT sums |a| <= 32 * 127 * 128 = 520192,
// times |scale| <= 32 and added over 8 sub-blocks, |sumi| <= 8 * 32 * 520192 < 2^27: inside int32.
struct iq4_xs_kernel {
    using group = block_iq4_xsx8;
    using act = block_q8_K;
    static constexpr int block = QK_K;
    template <int NT>
    static inline void step(const group& g, const act* const* y, int i, float32x4_t* acc) {
        const int8x16_t grid = vld1q_s8(kvalues_iq4nl);
        const uint8x16_t m4 = vdupq_n_u8(0x0F);
        int32x4_t sumi[NT][2];
        for (int t = 0; t < NT; ++t) sumi[t][0] = sumi[t][1] = vdupq_n_s32(0);
        for (int j = 0; j < 8; ++j) {
            int32x4_t a[NT][2];
            for (int t = 0; t < NT; ++t) a[t][0] = a[t][1] = vdupq_n_s32(0);
            acts<2> yv[NT];
            for (int t = 0; t < NT; ++t) yv[t] = acts<2>(y[t][i].qs + 32 * j);
            const uint8_t* qj = g.qs + 128 * j;  // the sub-block's quants, 32 bytes a group
            for_groups<4>([&](auto u) {
                const uint8_t* q = qj + 32 * u;
                const uint8x16_t v0 = vld1q_u8(q), v1 = vld1q_u8(q + 16);
                const int8x16_t lo0 = vqtbl1q_s8(grid, vandq_u8(v0, m4)), lo1 = vqtbl1q_s8(grid, vandq_u8(v1, m4));
                const int8x16_t hi0 = vqtbl1q_s8(grid, vshrq_n_u8(v0, 4)), hi1 = vqtbl1q_s8(grid, vshrq_n_u8(v1, 4));
                for (int t = 0; t < NT; ++t) {
                    a[t][0] = sdot_group(sdot_group(a[t][0], lo0, yv[t], u), hi0, yv[t], 4 + u);
                    a[t][1] = sdot_group(sdot_group(a[t][1], lo1, yv[t], u), hi1, yv[t], 4 + u);
                }
            });
            int32x4_t s0, s1;
            iq4_xs_scales(g, j, &s0, &s1);
            for (int t = 0; t < NT; ++t) {
                sumi[t][0] = vmlaq_s32(sumi[t][0], a[t][0], s0);
                sumi[t][1] = vmlaq_s32(sumi[t][1], a[t][1], s1);
            }
        }
        float32x4_t dlo, dhi;
        load_d8(g.d, &dlo, &dhi);
        for (int t = 0; t < NT; ++t) fma_rows(acc + 2 * t, dlo, dhi, y[t][i].d, sumi[t][0], sumi[t][1]);
    }
};

template <class K, int NT>
inline void run_group(int n, float* s, size_t bs, const typename K::group* xg, const void* vy, size_t by) {
    using Y = typename K::act;
    const Y* y[NT];
    float32x4_t acc[2 * NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = reinterpret_cast<const Y*>(static_cast<const char*>(vy) + t * by);
        acc[2 * t] = acc[2 * t + 1] = vdupq_n_f32(0.0f);
    }
    for (int b = 0; b < n / K::block; ++b) K::template step<NT>(xg[b], y, b, acc);
    for (int t = 0; t < NT; ++t) {
        vst1q_f32(s + t * bs, acc[2 * t]);
        vst1q_f32(s + t * bs + 4, acc[2 * t + 1]);
    }
}

template <class K>
void dot_groups(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    for (int g = 0; g < nr / REPACK_ROWS; ++g) {
        float* sg = s + g * REPACK_ROWS;
        const auto* xg = reinterpret_cast<const typename K::group*>(static_cast<const char*>(x) + g * bx);
        switch (nt) {
            case 1: run_group<K, 1>(n, sg, bs, xg, y, by); break;
            case 2: run_group<K, 2>(n, sg, bs, xg, y, by); break;
            case 3: run_group<K, 3>(n, sg, bs, xg, y, by); break;
            default: run_group<K, 4>(n, sg, bs, xg, y, by); break;
        }
    }
}

}  // namespace

void dot_q4_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q45_K_kernel<block_q4_Kx8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q5_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q45_K_kernel<block_q5_Kx8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q6_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q6_K_kernel>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q2_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q23_K_kernel<block_q2_Kx8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q3_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q23_K_kernel<block_q3_Kx8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q4_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<nibbles_kernel<block_q4_0x8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q5_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<nibbles_kernel<block_q5_0x8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q4_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<nibbles_kernel<block_q4_1x8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q5_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<nibbles_kernel<block_q5_1x8>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q8_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<q8_0_kernel<block_q8_0s>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_iq4_nlx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<nibbles_kernel<block_iq4_nlx8, kvalues_iq4nl>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_mxfp4x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<nibbles_kernel<block_mxfp4x8, kvalues_fp4>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q8_0x8_plain_act_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by,
                               int nt) {
    dot_groups<q8_0_kernel<block_q8_0>>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_iq4_xsx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_groups<iq4_xs_kernel>(n, s, bs, x, bx, nr, y, by, nt);
}

void register_repack_neon(isa_kernels& k) {
    vec_dot_fn* r = k.repacked;
    r[weight_layout_q4_Kx8] = dot_q4_Kx8_neon;
    r[weight_layout_q5_Kx8] = dot_q5_Kx8_neon;
    r[weight_layout_q6_Kx8] = dot_q6_Kx8_neon;
    r[weight_layout_q3_Kx8] = dot_q3_Kx8_neon;
    r[weight_layout_q2_Kx8] = dot_q2_Kx8_neon;
    r[weight_layout_q4_0x8] = dot_q4_0x8_neon;
    r[weight_layout_q5_0x8] = dot_q5_0x8_neon;
    r[weight_layout_q4_1x8] = dot_q4_1x8_neon;
    r[weight_layout_q5_1x8] = dot_q5_1x8_neon;
    r[weight_layout_q8_0x8] = dot_q8_0x8_neon;
    r[weight_layout_iq4_nlx8] = dot_iq4_nlx8_neon;
    r[weight_layout_mxfp4x8] = dot_mxfp4x8_neon;
    k.q8_0x8_plain_act = dot_q8_0x8_plain_act_neon;
    r[weight_layout_iq4_xsx8] = dot_iq4_xsx8_neon;
}

}  // namespace pyggml::PYGGML_NEON_TIER
