// repack.cpp: the 8-row layouts (see repack.h): conversion from plain rows, the scalar
// reference dot kernels over them, their activations, and the choice of layout per weight.
#include "kernels/repack.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#endif

#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp16.h"
#include "core/fp8.h"
#include "quant/kquant_scales.h"

namespace pyggml {

namespace {

// Position of (row r, sub-block j) in the 32-byte scale vectors (see block_q4_Kx8).
inline int scale_slot(int r, int j) { return 16 * (r / 4) + 4 * (j % 4) + r % 4; }

// Q4_K and Q5_K: the scales and the nibbles alike; Q5_K's fifth bits beside them.
template <typename B, typename G>
void pack_group(const B* const rows[REPACK_ROWS], G& out) {
    std::memset(out.hi, 0, sizeof(out.hi));
    for (int r = 0; r < REPACK_ROWS; ++r) {
        const B& b = *rows[r];
        out.d[r] = b.d;
        out.dmin[r] = b.dmin;
        uint8_t sc[8], mn[8];
        unpack_scales_mins_k4(b.scales, sc, mn);
        for (int j = 0; j < 4; ++j) {
            const int slot = scale_slot(r, j);
            out.scales_lo[slot] = uint8_t((sc[j] & 15) | (sc[j + 4] & 15) << 4);
            out.mins_lo[slot] = uint8_t((mn[j] & 15) | (mn[j + 4] & 15) << 4);
            out.hi[slot] = uint8_t((sc[j] >> 4) | (sc[j + 4] >> 4) << 2 | (mn[j] >> 4) << 4 | (mn[j + 4] >> 4) << 6);
        }
        for (int q = 0; q < QK_K / 8; ++q) std::memcpy(out.qs + 32 * q + 4 * r, b.qs + 4 * q, 4);
        if constexpr (std::is_same_v<G, block_q5_Kx8>) {
            for (int u = 0; u < 8; ++u) std::memcpy(out.qh + 32 * u + 4 * r, b.qh + 4 * u, 4);
        }
    }
}

// The six-bit scales and mins of the 8 rows: sc[r][j], mn[r][j].
template <typename G>
void unpack_group_scales(const G& g, uint8_t sc[8][8], uint8_t mn[8][8]) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        for (int j = 0; j < 4; ++j) {
            const int slot = scale_slot(r, j);
            const int hi = g.hi[slot];
            sc[r][j] = uint8_t((g.scales_lo[slot] & 15) | (hi & 3) << 4);
            sc[r][j + 4] = uint8_t((g.scales_lo[slot] >> 4) | ((hi >> 2) & 3) << 4);
            mn[r][j] = uint8_t((g.mins_lo[slot] & 15) | ((hi >> 4) & 3) << 4);
            mn[r][j + 4] = uint8_t((g.mins_lo[slot] >> 4) | ((hi >> 6) & 3) << 4);
        }
    }
}

// The scalar references' loop: for each group of 8 rows and each token, acc[r] (row r) takes
// one column block after the other through Step (x block, y block, acc); the AVX2 kernels do
// the same float operations in the same order, lane r = row r.
template <typename G, typename Y, int QK, void (*Step)(const G&, const Y&, float*)>
void dot_x8(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    for (int g = 0; g < nr / REPACK_ROWS; ++g) {
        const G* xg = reinterpret_cast<const G*>(static_cast<const char*>(x) + g * bx);
        for (int t = 0; t < nt; ++t) {
            const Y* yt = reinterpret_cast<const Y*>(static_cast<const char*>(y) + t * by);
            float acc[REPACK_ROWS] = {};
            for (int i = 0; i < n / QK; ++i) Step(xg[i], yt[i], acc);
            for (int r = 0; r < REPACK_ROWS; ++r) s[t * bs + g * REPACK_ROWS + r] = acc[r];
        }
    }
}

// Q4_K and Q5_K: per row the exact integer sums, then acc = fma(d * yd, sum, acc);
// acc = fma(-(dmin * yd), min_sum, acc).
template <typename G>
void step_q45_Kx8(const G& x, const block_q8_K& y, float* acc) {
    uint8_t sc[8][8], mn[8][8];
    unpack_group_scales(x, sc, mn);
    for (int r = 0; r < REPACK_ROWS; ++r) {
        int isum = 0, isum_min = 0;
        for (int e = 0; e < QK_K; ++e) {
            // element e: 64-chunk k, quad u, byte b; high nibble for the second 32
            const int k = e / 64, u = (e % 32) / 4, b = e % 4;
            const uint8_t byte = x.qs[32 * (8 * k + u) + 4 * r + b];
            int q = (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
            if constexpr (std::is_same_v<G, block_q5_Kx8>) q |= ((x.qh[32 * u + 4 * r + b] >> (e / 32)) & 1) << 4;
            isum += sc[r][e / 32] * q * y.qs[e];
        }
        for (int j = 0; j < 8; ++j) isum_min += mn[r][j] * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
        const float d = fp16_to_fp32(x.d[r]) * y.d;
        const float m = fp16_to_fp32(x.dmin[r]) * y.d;
        acc[r] = std::fma(d, float(isum), acc[r]);
        acc[r] = std::fma(-m, float(isum_min), acc[r]);
    }
}

void pack_q6_K(const block_q6_K* const rows[REPACK_ROWS], block_q6_Kx8& out) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        const block_q6_K& b = *rows[r];
        out.d[r] = b.d;
        for (int j = 0; j < QK_K / 16; ++j) out.scales[16 * (j / 2) + 2 * r + j % 2] = b.scales[j];
        uint8_t q[QK_K];
        unpack_quants_q6_K(b, q);
        for (int c = 0; c < QK_K / 16; ++c) {
            const uint8_t* v = q + 16 * c;
            for (int k = 0; k < 3; ++k) {
                le_store32(out.qs + 96 * c + 32 * k + 4 * r,
                           le_load32(v + 4 * k) | ((le_load32(v + 12) >> (2 * k)) & uint32_t(byte_splat(3))) << 6);
            }
        }
    }
}

// Row r's six-bit quant (0..63) of element e in a Q6_K group (see block_q6_Kx8).
int q6_Kx8_value(const block_q6_Kx8& g, int r, int e) {
    const int c = e / 16, u = (e % 16) / 4, b = e % 4;
    const uint8_t* v = g.qs + 96 * c + 4 * r + b;
    if (u < 3) return v[32 * u] & 63;
    return (v[0] >> 6) | (v[32] >> 6) << 2 | (v[64] >> 6) << 4;
}

// Q6_K: per row the exact integer sum sum sc * q * y - 32 * sum_j sc[j] * bsums[j]
// (quants q - 32), then acc = fma(d * yd, sum, acc).
void step_q6_Kx8(const block_q6_Kx8& x, const block_q8_K& y, float* acc) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        int isum = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            const int sc = x.scales[16 * (j / 2) + 2 * r + j % 2];
            int part = -32 * y.bsums[j];
            for (int e = 16 * j; e < 16 * j + 16; ++e) part += q6_Kx8_value(x, r, e) * y.qs[e];
            isum += sc * part;
        }
        acc[r] = std::fma(fp16_to_fp32(x.d[r]) * y.d, float(isum), acc[r]);
    }
}

// One row's bytes 32 * c + 4 * r + k of block_q2_Kx8 / block_q3_Kx8 qs: the low 2 bits of the
// quants (unpack_quants_q2_K / _q3_K) of elements 16c + 4u + k in bits 2u, 4 bytes (k = 0..3) at a time.
inline void pack_2bit(const uint8_t* q, int r, uint8_t* qs) {
    const uint32_t m3 = uint32_t(byte_splat(3));
    for (int c = 0; c < QK_K / 16; ++c) {
        const uint8_t* v = q + 16 * c;
        le_store32(qs + 32 * c + 4 * r, (le_load32(v) & m3) | (le_load32(v + 4) & m3) << 2 |
                                            (le_load32(v + 8) & m3) << 4 | (le_load32(v + 12) & m3) << 6);
    }
}

void pack_q3_K(const block_q3_K* const rows[REPACK_ROWS], block_q3_Kx8& out) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        const block_q3_K& b = *rows[r];
        out.d[r] = b.d;
        int8_t sc[16];
        unpack_scales_q3_K(b.scales, sc);
        int v[16];  // the six-bit scales of sub-blocks j = 2p + h
        for (int j = 0; j < 16; ++j) v[j] = sc[j] + 32;
        for (int h = 0; h < 2; ++h) {
            for (int p = 0; p < 4; ++p) {  // pairs p and p + 4: the low and the high nibble
                out.scales_lo[16 * p + 2 * r + h] = uint8_t((v[2 * p + h] & 15) | (v[2 * p + 8 + h] & 15) << 4);
            }
            for (int p = 0; p < 2; ++p) {  // pairs p, p + 2, p + 4, p + 6: bits 0, 2, 4, 6
                out.scales_hi[16 * p + 2 * r + h] =
                    uint8_t((v[2 * p + h] >> 4) | (v[2 * p + 4 + h] >> 4) << 2 | (v[2 * p + 8 + h] >> 4) << 4 |
                            (v[2 * p + 12 + h] >> 4) << 6);
            }
        }
        uint8_t q[QK_K];
        unpack_quants_q3_K(b, q);
        pack_2bit(q, r, out.qs);
        // bit 4 * (c % 2) + u of hmask[32 * (c / 2) + 4 * r + k]: element 16c + 4u + k's third bit
        for (int c2 = 0; c2 < QK_K / 32; ++c2) {
            uint32_t bits = 0;
            for (int j = 0; j < 8; ++j) bits |= ((le_load32(q + 32 * c2 + 4 * j) >> 2) & uint32_t(byte_splat(1))) << j;
            le_store32(out.hmask + 32 * c2 + 4 * r, bits);
        }
    }
}

void pack_q2_K(const block_q2_K* const rows[REPACK_ROWS], block_q2_Kx8& out) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        const block_q2_K& b = *rows[r];
        out.d[r] = b.d;
        out.dmin[r] = b.dmin;
        for (int j = 0; j < 16; ++j) out.scales[16 * (j / 2) + 2 * r + j % 2] = b.scales[j];
        uint8_t q[QK_K];
        unpack_quants_q2_K(b.qs, q);
        pack_2bit(q, r, out.qs);
    }
}

// Q2_K: per row the exact integer sums sum sc * q * y and sum m * (sum of y over the sub-block),
// then acc = fma(d * yd, sum, acc); acc = fma(-(dmin * yd), min_sum, acc).
void step_q2_Kx8(const block_q2_Kx8& x, const block_q8_K& y, float* acc) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        int isum = 0, isum_min = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            const int sc = x.scales[16 * (j / 2) + 2 * r + j % 2];
            int part = 0;
            for (int e = 16 * j; e < 16 * j + 16; ++e) {
                const int c = e / 16, u = (e % 16) / 4, k = e % 4;
                part += ((x.qs[32 * c + 4 * r + k] >> (2 * u)) & 3) * y.qs[e];
            }
            isum += (sc & 15) * part;
            isum_min += (sc >> 4) * y.bsums[j];
        }
        const float d = fp16_to_fp32(x.d[r]) * y.d;
        const float m = fp16_to_fp32(x.dmin[r]) * y.d;
        acc[r] = std::fma(d, float(isum), acc[r]);
        acc[r] = std::fma(-m, float(isum_min), acc[r]);
    }
}

// Row r's scale of sub-block j in a Q3_K group (-32..31), and its quant of element e (0..7: the
// value plus 4).
int q3_Kx8_scale(const block_q3_Kx8& g, int r, int j) {
    const int p = j / 2, h = j % 2;
    const int lo = (g.scales_lo[16 * (p % 4) + 2 * r + h] >> (4 * (p / 4))) & 15;
    const int hi = (g.scales_hi[16 * (p % 2) + 2 * r + h] >> (2 * (p / 2))) & 3;
    return (lo | hi << 4) - 32;
}
int q3_Kx8_value(const block_q3_Kx8& g, int r, int e) {
    const int c = e / 16, u = (e % 16) / 4, k = e % 4;
    const int lo = (g.qs[32 * c + 4 * r + k] >> (2 * u)) & 3;
    const int hi = (g.hmask[32 * (c / 2) + 4 * r + k] >> (4 * (c % 2) + u)) & 1;
    return lo | hi << 2;
}

// Q3_K: per row the exact integer sum sum sc * q * y - 4 * sum_j sc[j] * bsums[j] (quants
// q - 4), then acc = fma(d * yd, sum, acc).
void step_q3_Kx8(const block_q3_Kx8& x, const block_q8_K& y, float* acc) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        int isum = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            int part = -4 * y.bsums[j];
            for (int e = 16 * j; e < 16 * j + 16; ++e) part += q3_Kx8_value(x, r, e) * y.qs[e];
            isum += q3_Kx8_scale(x, r, j) * part;
        }
        acc[r] = std::fma(fp16_to_fp32(x.d[r]) * y.d, float(isum), acc[r]);
    }
}

// Q4_0 / Q8_0 groups: the 8 rows' scales side by side, then 4 bytes of quants per row in turn.
template <typename B, typename G>
void pack_legacy_group(const B* const rows[REPACK_ROWS], G& out) {
    constexpr int n_chunks = int(sizeof(B::qs)) / 4;
    for (int r = 0; r < REPACK_ROWS; ++r) {
        out.d[r] = rows[r]->d;
        for (int k = 0; k < n_chunks; ++k) std::memcpy(out.qs + 32 * k + 4 * r, rows[r]->qs + 4 * k, 4);
    }
}

void pack_mxfp4(const block_mxfp4* const rows[REPACK_ROWS], block_mxfp4x8& out) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        out.e[r] = rows[r]->e;
        for (int k = 0; k < 4; ++k) std::memcpy(out.qs + 32 * k + 4 * r, rows[r]->qs + 4 * k, 4);
    }
}

// Row r's fifth bits (qh of a Q5_0 or Q5_1 block) as block_q5_0x8 holds them.
void pack_fifth_bits(const uint8_t* qh, int r, uint8_t* out) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    for (int b = 0; b < 4; ++b) {
        uint8_t v = 0;
        for (int k = 0; k < 8; ++k) v |= uint8_t(((bits >> (4 * k + b)) & 1) << k);
        out[4 * r + b] = v;
    }
}

// Q5_0, Q4_1 and Q5_1: scales (and mins), fifth bits where the type has them, nibbles as Q4_0's.
template <typename B, typename G>
void pack_nibble_group(const B* const rows[REPACK_ROWS], G& out) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        out.d[r] = rows[r]->d;
        if constexpr (std::is_same_v<B, block_q4_1> || std::is_same_v<B, block_q5_1>) out.m[r] = rows[r]->m;
        if constexpr (std::is_same_v<B, block_q5_0> || std::is_same_v<B, block_q5_1>) pack_fifth_bits(rows[r]->qh, r, out.qh);
        for (int k = 0; k < 4; ++k) std::memcpy(out.qs + 32 * k + 4 * r, rows[r]->qs + 4 * k, 4);
    }
}

void pack_iq4_xs(const block_iq4_xs* const rows[REPACK_ROWS], block_iq4_xsx8& out) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        const block_iq4_xs& b = *rows[r];
        out.d[r] = b.d;
        out.scales_h[r] = b.scales_h;
        for (int p = 0; p < QK_K / 64; ++p) out.scales_l[8 * p + r] = b.scales_l[p];
        for (int q = 0; q < QK_K / 8; ++q) std::memcpy(out.qs + 32 * q + 4 * r, b.qs + 4 * q, 4);
    }
}

// Regroups rows [row0, row1) of plain blocks B into 8-row blocks G (the tail stays plain).
template <typename B, typename G, void (*Pack)(const B* const*, G&)>
void repack_blocks(const void* src, int64_t n_rows, int64_t nb, void* dst, int64_t row0, int64_t row1) {
    const size_t row_bytes = size_t(nb) * sizeof(B);
    const int64_t n_grouped = n_rows - n_rows % REPACK_ROWS;
    const char* in = static_cast<const char*>(src);
    char* out = static_cast<char*>(dst);
    for (int64_t r = row0; r < row1; r += REPACK_ROWS) {
        if (r >= n_grouped) {  // the plain tail
            std::memcpy(out + r * row_bytes, in + r * row_bytes, size_t(row1 - r) * row_bytes);
            break;
        }
        G* g = reinterpret_cast<G*>(out + r * row_bytes);
        for (int64_t i = 0; i < nb; ++i) {
            const B* rows[REPACK_ROWS];
            for (int k = 0; k < REPACK_ROWS; ++k) rows[k] = reinterpret_cast<const B*>(in + (r + k) * row_bytes) + i;
            Pack(rows, g[i]);
        }
    }
}

// Row r's scale: fp16, or MXFP4's halved E8M0 exponent.
template <typename G>
float row_scale(const G& x, int r) {
    return fp16_to_fp32(x.d[r]);
}
template <>
float row_scale<block_mxfp4x8>(const block_mxfp4x8& x, int r) {
    return e8m0_to_fp32_half(x.e[r]);
}

// Legacy layouts (32 columns a block): per row the exact integer dot (RowDot), then
// acc = fma(d_row * d_y, isum, acc).
template <typename G, typename Y, int (*RowDot)(const G&, const Y&, int)>
void step_legacy_x8(const G& x, const Y& y, float* acc) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        const float d = row_scale(x, r) * fp16_to_fp32(y.d);
        acc[r] = std::fma(d, float(RowDot(x, y, r)), acc[r]);
    }
}

// Q4_0 quants are nibbles u = q + 8: isum = sum u * y - 8 * sum y.
int row_dot_q4_0(const block_q4_0x8& x, const block_q8_0s& y, int r) {
    int isum = 0;
    for (int e = 0; e < QK4_0; ++e) {
        const uint8_t byte = x.qs[32 * ((e % 16) / 4) + 4 * r + e % 4];
        isum += (e < 16 ? byte & 0xF : byte >> 4) * y.qs[e];
    }
    return isum - 8 * y.sum;
}

// Q5_0: quants u = nibble | fifth bit << 4 = q + 16: isum = sum u * y - 16 * sum y.
int row_dot_q5_0(const block_q5_0x8& x, const block_q8_0s& y, int r) {
    int isum = 0;
    for (int e = 0; e < QK5_0; ++e) {
        const uint8_t byte = x.qs[32 * ((e % 16) / 4) + 4 * r + e % 4];
        const int hb = (x.qh[4 * r + e % 4] >> (e / 4)) & 1;
        isum += ((e < 16 ? byte & 0xF : byte >> 4) | hb << 4) * y.qs[e];
    }
    return isum - 16 * y.sum;
}

// Q4_1 and Q5_1 read Q8_1 activations (d, s = d * sum of the quants), as the plain kernels do:
// per row the exact integer dot of the unsigned quants (nibbles, and the fifth bits of Q5_1),
// then acc = fma(d_row * d_y, isum, acc) and acc = fma(m_row, s_y, acc).
template <typename G>
void step_min_x8(const G& x, const block_q8_1& y, float* acc) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        int isum = 0;
        for (int e = 0; e < QK8_1; ++e) {
            const uint8_t byte = x.qs[32 * ((e % 16) / 4) + 4 * r + e % 4];
            int u = e < 16 ? byte & 0xF : byte >> 4;
            if constexpr (std::is_same_v<G, block_q5_1x8>) u |= ((x.qh[4 * r + e % 4] >> (e / 4)) & 1) << 4;
            isum += u * y.qs[e];
        }
        acc[r] = std::fma(fp16_to_fp32(x.d[r]) * fp16_to_fp32(y.d), float(isum), acc[r]);
        acc[r] = std::fma(fp16_to_fp32(x.m[r]), fp16_to_fp32(y.s), acc[r]);
    }
}

// Row r's six-bit scale of sub-block j of an IQ4_XS group, less its offset of 32.
int iq4_xs_scale(const block_iq4_xsx8& x, int r, int j) {
    return (((x.scales_l[8 * (j / 2) + r] >> (4 * (j % 2))) & 15) | ((x.scales_h[r] >> (2 * j)) & 3) << 4) - 32;
}

// IQ4_XS: per row the exact integer sum over sub-blocks of scale * sum grid(q) * y, then
// acc = fma(d * yd, isum, acc).
void step_iq4_xsx8(const block_iq4_xsx8& x, const block_q8_K& y, float* acc) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        int isum = 0;
        for (int j = 0; j < QK_K / 32; ++j) {
            int part = 0;
            for (int e = 0; e < 32; ++e) {
                const uint8_t byte = x.qs[32 * (4 * j + (e % 16) / 4) + 4 * r + e % 4];
                part += kvalues_iq4nl[e < 16 ? byte & 0xF : byte >> 4] * y.qs[32 * j + e];
            }
            isum += iq4_xs_scale(x, r, j) * part;
        }
        acc[r] = std::fma(fp16_to_fp32(x.d[r]) * y.d, float(isum), acc[r]);
    }
}

// IQ4_NL and MXFP4: the nibbles (placed as Q4_0's) index a table of 16 values (the
// non-linear grid; the doubled E2M1 values).
template <typename G, const int8_t* Values>
int row_dot_lookup4(const G& x, const block_q8_0s& y, int r) {
    int isum = 0;
    for (int e = 0; e < QK8_0; ++e) {
        const uint8_t byte = x.qs[32 * ((e % 16) / 4) + 4 * r + e % 4];
        isum += Values[e < 16 ? byte & 0xF : byte >> 4] * y.qs[e];
    }
    return isum;
}

// Y: block_q8_0s (the layout's activations) or block_q8_0 (rows decoded into Q8_0 groups).
template <typename Y>
int row_dot_q8_0(const block_q8_0x8& x, const Y& y, int r) {
    int isum = 0;
    for (int e = 0; e < QK8_0; ++e) isum += x.qs[32 * (e / 4) + 4 * r + e % 4] * y.qs[e];
    return isum;
}

// Activations: Q8_K / Q8_1 as the plain kernels get them (this CPU's conversion), or
// Q8_0 blocks with their quant sums for the Q4_0 and Q8_0 kernels.
void act_q8_K(const float* x, void* y, int64_t k) { get_vec_dot_traits(GGML_TYPE_Q4_K)->from_float(x, y, k); }
void act_q8_1(const float* x, void* y, int64_t k) { get_vec_dot_traits(GGML_TYPE_Q4_1)->from_float(x, y, k); }
void act_q8_0s(const float* x, void* y, int64_t k) {
    const from_float_fn q8_0 = get_vec_dot_traits(GGML_TYPE_Q8_0)->from_float;
    block_q8_0s* out = static_cast<block_q8_0s*>(y);
    block_q8_0 tmp[8];  // 256 columns at a time
    for (int64_t i = 0; i < k; i += 8 * QK8_0) {
        const int64_t nb = std::min<int64_t>(8, (k - i) / QK8_0);
        q8_0(x + i, tmp, nb * QK8_0);
        for (int64_t j = 0; j < nb; ++j) {
            block_q8_0s& o = out[i / QK8_0 + j];
            o.d = tmp[j].d;
            int sum = 0;
            for (int e = 0; e < QK8_0; ++e) sum += tmp[j].qs[e];
            o.sum = int16_t(sum);
            std::memcpy(o.qs, tmp[j].qs, QK8_0);
        }
    }
}

constexpr repacked_layout kLayouts[] = {
    {weight_layout_q4_Kx8, GGML_TYPE_Q4_K, QK_K, sizeof(block_q8_K), act_q8_K},
    {weight_layout_q4_0x8, GGML_TYPE_Q4_0, QK8_0, sizeof(block_q8_0s), act_q8_0s},
    {weight_layout_q8_0x8, GGML_TYPE_Q8_0, QK8_0, sizeof(block_q8_0s), act_q8_0s},
    {weight_layout_q5_0x8, GGML_TYPE_Q5_0, QK8_0, sizeof(block_q8_0s), act_q8_0s},
    {weight_layout_q6_Kx8, GGML_TYPE_Q6_K, QK_K, sizeof(block_q8_K), act_q8_K},
    {weight_layout_iq4_nlx8, GGML_TYPE_IQ4_NL, QK8_0, sizeof(block_q8_0s), act_q8_0s},
    {weight_layout_mxfp4x8, GGML_TYPE_MXFP4, QK8_0, sizeof(block_q8_0s), act_q8_0s},
    {weight_layout_q5_Kx8, GGML_TYPE_Q5_K, QK_K, sizeof(block_q8_K), act_q8_K},
    {weight_layout_q4_1x8, GGML_TYPE_Q4_1, QK8_1, sizeof(block_q8_1), act_q8_1},
    {weight_layout_q5_1x8, GGML_TYPE_Q5_1, QK8_1, sizeof(block_q8_1), act_q8_1},
    {weight_layout_iq4_xsx8, GGML_TYPE_IQ4_XS, QK_K, sizeof(block_q8_K), act_q8_K},
    {weight_layout_q3_Kx8, GGML_TYPE_Q3_K, QK_K, sizeof(block_q8_K), act_q8_K},
    {weight_layout_q2_Kx8, GGML_TYPE_Q2_K, QK_K, sizeof(block_q8_K), act_q8_K},
};

}  // namespace

const repacked_layout* get_repacked_layout(int32_t layout) {
    for (const repacked_layout& l : kLayouts) {
        if (l.layout == layout) return &l;
    }
    return nullptr;
}

size_t repacked_act_row(const repacked_layout& l, int64_t n_cols) { return size_t(n_cols / l.act_block) * l.act_block_bytes; }

void repack_rows(int32_t layout, const void* src, int64_t n_rows, int64_t n_cols, void* dst, int64_t row0,
                 int64_t row1) {
    switch (layout) {
        case weight_layout_q4_Kx8:
            return repack_blocks<block_q4_K, block_q4_Kx8, pack_group<block_q4_K, block_q4_Kx8>>(src, n_rows, n_cols / QK_K,
                                                                                                  dst, row0, row1);
        case weight_layout_q5_Kx8:
            return repack_blocks<block_q5_K, block_q5_Kx8, pack_group<block_q5_K, block_q5_Kx8>>(src, n_rows, n_cols / QK_K,
                                                                                                  dst, row0, row1);
        case weight_layout_q4_0x8:
            return repack_blocks<block_q4_0, block_q4_0x8, pack_legacy_group<block_q4_0, block_q4_0x8>>(
                src, n_rows, n_cols / QK4_0, dst, row0, row1);
        case weight_layout_q8_0x8:
            return repack_blocks<block_q8_0, block_q8_0x8, pack_legacy_group<block_q8_0, block_q8_0x8>>(
                src, n_rows, n_cols / QK8_0, dst, row0, row1);
        case weight_layout_q5_0x8:
            return repack_blocks<block_q5_0, block_q5_0x8, pack_nibble_group<block_q5_0, block_q5_0x8>>(src, n_rows, n_cols / QK5_0,
                                                                                                dst, row0, row1);
        case weight_layout_q4_1x8:
            return repack_blocks<block_q4_1, block_q4_1x8, pack_nibble_group<block_q4_1, block_q4_1x8>>(src, n_rows, n_cols / QK4_1,
                                                                                                dst, row0, row1);
        case weight_layout_q5_1x8:
            return repack_blocks<block_q5_1, block_q5_1x8, pack_nibble_group<block_q5_1, block_q5_1x8>>(src, n_rows, n_cols / QK5_1,
                                                                                                dst, row0, row1);
        case weight_layout_q6_Kx8:
            return repack_blocks<block_q6_K, block_q6_Kx8, pack_q6_K>(src, n_rows, n_cols / QK_K, dst, row0, row1);
        case weight_layout_q2_Kx8:
            return repack_blocks<block_q2_K, block_q2_Kx8, pack_q2_K>(src, n_rows, n_cols / QK_K, dst, row0, row1);
        case weight_layout_q3_Kx8:
            return repack_blocks<block_q3_K, block_q3_Kx8, pack_q3_K>(src, n_rows, n_cols / QK_K, dst, row0, row1);
        case weight_layout_iq4_nlx8:
            return repack_blocks<block_iq4_nl, block_iq4_nlx8, pack_legacy_group<block_iq4_nl, block_iq4_nlx8>>(
                src, n_rows, n_cols / QK4_NL, dst, row0, row1);
        case weight_layout_iq4_xsx8:
            return repack_blocks<block_iq4_xs, block_iq4_xsx8, pack_iq4_xs>(src, n_rows, n_cols / QK_K, dst, row0, row1);
        case weight_layout_mxfp4x8:
            return repack_blocks<block_mxfp4, block_mxfp4x8, pack_mxfp4>(src, n_rows, n_cols / QK_MXFP4, dst, row0, row1);
        default: throw std::invalid_argument("repack_rows: unknown layout " + std::to_string(layout));
    }
}

#if defined(__linux__)
namespace {

// Whether [begin, end) lies inside one shared mapping of a file (/proc/self/maps).
bool in_shared_file_mapping(uintptr_t begin, uintptr_t end) {
    FILE* f = std::fopen("/proc/self/maps", "r");
    if (!f) return false;
    char line[512];
    bool found = false;
    while (std::fgets(line, sizeof(line), f)) {
        uintptr_t lo = 0, hi = 0;
        char perms[8] = {};
        unsigned long long offset = 0, inode = 0;
        char dev[32] = {};
        if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %llx %31s %llu", &lo, &hi, perms, &offset, dev, &inode) != 6) {
            continue;
        }
        if (begin >= lo && end <= hi) {
            found = perms[3] == 's' && inode != 0;
            break;
        }
    }
    std::fclose(f);
    return found;
}

}  // namespace
#endif

bool in_file_mapping(const void* p, size_t bytes) {
#if defined(__linux__)
    return bytes > 0 && in_shared_file_mapping(uintptr_t(p), uintptr_t(p) + bytes);
#else
    (void)p;
    (void)bytes;
    return false;
#endif
}

bool release_file_pages(const void* p, size_t bytes) {
#if defined(__linux__)
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (uintptr_t(p) + page - 1) / page * page, end = (uintptr_t(p) + bytes) / page * page;
    if (end <= begin || !in_shared_file_mapping(begin, end)) return false;
    return madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) == 0;
#else
    (void)p;
    (void)bytes;
    return false;
#endif
}

bool weight_buffer_huge_pages() {
#if defined(__linux__)
    std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string modes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return modes.find("[always]") != std::string::npos || modes.find("[madvise]") != std::string::npos;
#else
    return false;
#endif
}

weight_buffer alloc_weight_buffer(size_t bytes) {
    if (bytes == 0) return weight_buffer();
#if defined(__linux__)
    constexpr size_t kHugePage = size_t(2) << 20;
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (!p) throw std::bad_alloc();
    madvise(p, rounded, MADV_HUGEPAGE);  // a hint: without huge pages the buffer still works
#else
    void* p = std::malloc(bytes);
    if (!p) throw std::bad_alloc();
#endif
    return weight_buffer(static_cast<uint8_t*>(p));
}

void weight_buffer_free::operator()(uint8_t* p) const { std::free(p); }

void register_repack(isa_kernels& k) {
    vec_dot_fn* r = k.repacked;
    r[weight_layout_q4_Kx8] = dot_x8<block_q4_Kx8, block_q8_K, QK_K, step_q45_Kx8<block_q4_Kx8>>;
    r[weight_layout_q5_Kx8] = dot_x8<block_q5_Kx8, block_q8_K, QK_K, step_q45_Kx8<block_q5_Kx8>>;
    r[weight_layout_q6_Kx8] = dot_x8<block_q6_Kx8, block_q8_K, QK_K, step_q6_Kx8>;
    r[weight_layout_q3_Kx8] = dot_x8<block_q3_Kx8, block_q8_K, QK_K, step_q3_Kx8>;
    r[weight_layout_q2_Kx8] = dot_x8<block_q2_Kx8, block_q8_K, QK_K, step_q2_Kx8>;
    r[weight_layout_q4_0x8] =
        dot_x8<block_q4_0x8, block_q8_0s, QK4_0, step_legacy_x8<block_q4_0x8, block_q8_0s, row_dot_q4_0>>;
    r[weight_layout_q5_0x8] =
        dot_x8<block_q5_0x8, block_q8_0s, QK5_0, step_legacy_x8<block_q5_0x8, block_q8_0s, row_dot_q5_0>>;
    r[weight_layout_q4_1x8] = dot_x8<block_q4_1x8, block_q8_1, QK4_1, step_min_x8<block_q4_1x8>>;
    r[weight_layout_iq4_xsx8] = dot_x8<block_iq4_xsx8, block_q8_K, QK_K, step_iq4_xsx8>;
    r[weight_layout_q5_1x8] = dot_x8<block_q5_1x8, block_q8_1, QK5_1, step_min_x8<block_q5_1x8>>;
    r[weight_layout_q8_0x8] =
        dot_x8<block_q8_0x8, block_q8_0s, QK8_0, step_legacy_x8<block_q8_0x8, block_q8_0s, row_dot_q8_0<block_q8_0s>>>;
    k.q8_0x8_plain_act =
        dot_x8<block_q8_0x8, block_q8_0, QK8_0, step_legacy_x8<block_q8_0x8, block_q8_0, row_dot_q8_0<block_q8_0>>>;
    r[weight_layout_iq4_nlx8] =
        dot_x8<block_iq4_nlx8, block_q8_0s, QK4_NL,
               step_legacy_x8<block_iq4_nlx8, block_q8_0s, row_dot_lookup4<block_iq4_nlx8, kvalues_iq4nl>>>;
    r[weight_layout_mxfp4x8] =
        dot_x8<block_mxfp4x8, block_q8_0s, QK_MXFP4,
               step_legacy_x8<block_mxfp4x8, block_q8_0s, row_dot_lookup4<block_mxfp4x8, kvalues_fp4>>>;
}

int32_t repack_layout_of_type(int32_t type) {
    for (const repacked_layout& l : kLayouts) {
        if (l.weight_type == type) return l.layout;
    }
    return weight_layout_plain;
}

int32_t preferred_layout_for_type(int32_t type) {
    // Only a tier with kernels of its own for the layout gains from it: the scalar ones are
    // the references the SIMD kernels are checked against.
    const cpu_isa isa = best_cpu_isa();
    const int32_t layout = repack_layout_of_type(type);
    return isa != cpu_isa::scalar && repacked_kernel(layout, isa) ? layout : int32_t(weight_layout_plain);
}

bool layout_fits(const repacked_layout& l, int32_t type, int64_t n_rows, int64_t n_cols) {
    if (l.weight_type != type || n_rows < REPACK_ROWS || n_cols <= 0 || n_cols % l.act_block) return false;
    if (n_rows % REPACK_ROWS == 0) return true;
    // a plain tail of rows reads the plain kernels' activations: only where they are the same
    const vec_dot_traits* k = get_vec_dot_traits(type);
    const type_traits* dt = k ? get_type_traits(k->vec_dot_type) : nullptr;
    return dt && dt->blck_size == l.act_block && dt->type_size == l.act_block_bytes;
}

int32_t preferred_layout(const weight_view& w) {
    if (w.layout != weight_layout_plain) return w.layout;
    const int32_t layout = preferred_layout_for_type(w.type);
    const repacked_layout* l = get_repacked_layout(layout);
    return l && layout_fits(*l, w.type, w.n_rows, w.n_cols) ? layout : weight_layout_plain;
}

}  // namespace pyggml
