// iq_unpack.h: one 32-element chunk of an IQ1/IQ2/IQ3 super-block as plain numbers: the
// signed grid values, the raw scale of each half (16 elements) and, for IQ1, the sign of the
// +-1/8 shift of each 8. Shared by the reference dequantizers (quant/iq*.cpp) and dot kernels
// (kernels/vec_dot_iq.cpp), so the bit layouts are read in one place.
//
// Internal linkage throughout: safe to include from files compiled with other target flags.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/blocks.h"
#include "core/fp16.h"
#include "quant/iq_grids.h"

namespace pyggml {
namespace {

struct iq_chunk {
    int8_t q[32];          // signed grid values, elements 32 ib .. 32 ib + 31
    uint8_t s[2];          // raw scale of elements 0..15 and 16..31 (the 4- or 3-bit field)
    bool shift_neg[4];     // IQ1: the shift of elements 8 l .. 8 l + 7 is -1/8 (else +1/8)
};

// Eight elements from an 8-byte grid point and a sign byte (bit j: element j negative).
inline void put8(int8_t* q, uint64_t point, uint8_t signs) {
    for (int j = 0; j < 8; ++j) {
        const int v = grid_byte(point, j);
        q[j] = int8_t((signs >> j) & 1 ? -v : v);
    }
}

// Eight elements from two 4-byte grid points.
inline void put8(int8_t* q, uint32_t lo, uint32_t hi, uint8_t signs) {
    put8(q, uint64_t(lo) | uint64_t(hi) << 32, signs);
}

inline void unpack_iq2_xxs(const block_iq2_xxs& b, int ib, iq_chunk& c) {
    uint32_t aux[2];
    std::memcpy(aux, b.qs + 4 * ib, 8);
    for (int l = 0; l < 4; ++l) {
        put8(c.q + 8 * l, iq2xxs_grid[(aux[0] >> (8 * l)) & 0xFF], ksigns_iq2xs((aux[1] >> (7 * l)) & 127));
    }
    c.s[0] = c.s[1] = uint8_t(aux[1] >> 28);
}

inline void unpack_iq2_xs(const block_iq2_xs& b, int ib, iq_chunk& c) {
    for (int l = 0; l < 4; ++l) {
        const uint16_t v = b.qs[4 * ib + l];
        put8(c.q + 8 * l, iq2xs_grid[v & 511], ksigns_iq2xs(v >> 9));
    }
    c.s[0] = b.scales[ib] & 0xF;
    c.s[1] = b.scales[ib] >> 4;
}

inline void unpack_iq2_s(const block_iq2_s& b, int ib, iq_chunk& c) {
    for (int l = 0; l < 4; ++l) {
        const int idx = b.qs[4 * ib + l] | ((b.qh[ib] << (8 - 2 * l)) & 0x300);
        put8(c.q + 8 * l, iq2s_grid[idx], b.qs[QK_K / 8 + 4 * ib + l]);
    }
    c.s[0] = b.scales[ib] & 0xF;
    c.s[1] = b.scales[ib] >> 4;
}

inline void unpack_iq3_xxs(const block_iq3_xxs& b, int ib, iq_chunk& c) {
    const uint8_t* q3 = b.qs + 8 * ib;
    uint32_t aux;
    std::memcpy(&aux, b.qs + QK_K / 4 + 4 * ib, 4);
    for (int l = 0; l < 4; ++l) {
        put8(c.q + 8 * l, iq3xxs_grid[q3[2 * l]], iq3xxs_grid[q3[2 * l + 1]], ksigns_iq2xs((aux >> (7 * l)) & 127));
    }
    c.s[0] = c.s[1] = uint8_t(aux >> 28);
}

inline void unpack_iq3_s(const block_iq3_s& b, int ib, iq_chunk& c) {
    const uint8_t* qs = b.qs + 8 * ib;
    const int qh = b.qh[ib];
    for (int l = 0; l < 4; ++l) {
        put8(c.q + 8 * l, iq3s_grid[qs[2 * l] | ((qh << (8 - 2 * l)) & 256)],
             iq3s_grid[qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)], b.signs[4 * ib + l]);
    }
    c.s[0] = c.s[1] = uint8_t((b.scales[ib / 2] >> (4 * (ib % 2))) & 0xF);
}

inline void unpack_iq1_s(const block_iq1_s& b, int ib, iq_chunk& c) {
    const int qh = b.qh[ib];
    for (int l = 0; l < 4; ++l) put8(c.q + 8 * l, iq1s_grid[b.qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)], 0);
    c.s[0] = c.s[1] = uint8_t((qh >> 12) & 7);
    for (int l = 0; l < 4; ++l) c.shift_neg[l] = (qh & 0x8000) != 0;
}

// IQ1_M's fp16 super-block scale, spread over the top nibbles of its four scale words.
inline uint16_t iq1_m_scale_bits(const block_iq1_m& b) {
    uint16_t sc[4];
    std::memcpy(sc, b.scales, 8);
    return uint16_t((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
}

inline void unpack_iq1_m(const block_iq1_m& b, int ib, iq_chunk& c) {
    const uint8_t* qs = b.qs + 4 * ib;
    const uint8_t* qh = b.qh + 2 * ib;
    for (int l = 0; l < 4; ++l) {
        const int idx = qs[l] | ((int(qh[l / 2]) << (8 - 4 * (l % 2))) & 0x700);
        put8(c.q + 8 * l, iq1s_grid[idx], 0);
        c.shift_neg[l] = (qh[l / 2] & (l % 2 ? 0x80 : 0x08)) != 0;
    }
    uint16_t sc;
    std::memcpy(&sc, b.scales + 2 * (ib / 2), 2);
    c.s[0] = uint8_t((sc >> (6 * (ib % 2))) & 7);
    c.s[1] = uint8_t((sc >> (6 * (ib % 2) + 3)) & 7);
}

}  // namespace
}  // namespace pyggml
