// kquant_scales.h: unpacking of the packed sub-block scales of Q3_K, Q4_K/Q5_K and IQ4_XS,
// and of Q6_K's six-bit quants.
//
// Shared by the scalar and SIMD dot kernels. The functions are static so that each
// translation unit, whatever its target flags, keeps its own copy (no ODR mixing of
// AVX2-compiled code into generic code).
#pragma once

#include <cstdint>
#include <cstring>

#include "core/blocks.h"

namespace pyggml {

// Q4_K / Q5_K: 12 bytes -> 8 six-bit scales and 8 six-bit mins.
static inline void unpack_scales_mins_k4(const uint8_t* q, uint8_t* scales, uint8_t* mins) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scales[j] = q[j] & 63;
            mins[j] = q[j + 4] & 63;
        } else {
            scales[j] = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
            mins[j] = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
        }
    }
}

// Q6_K: the six-bit quant (0..63, the value plus 32) of element e (0..255): half h = e / 128,
// quarter k = (e % 128) / 32, l = e % 32; low bits from ql[64 h + 32 (k % 2) + l] (nibble
// k / 2), high bits qh[32 h + l] >> 2 k.
static inline int q6_K_quant(const block_q6_K& b, int e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    const uint8_t lb = b.ql[64 * h + 32 * (k % 2) + l];
    const int lo = k < 2 ? (lb & 0xF) : (lb >> 4);
    return lo | ((b.qh[32 * h + l] >> (2 * k)) & 3) << 4;
}

// Q3_K: 12 bytes -> 16 signed six-bit scales (already minus 32).
static inline void unpack_scales_q3_K(const uint8_t* q, int8_t* scales) {
    for (int j = 0; j < 16; ++j) {
        const int lo = j < 8 ? (q[j] & 0xF) : (q[j - 8] >> 4);
        const int hi = (q[8 + (j % 4)] >> (2 * (j / 4))) & 3;
        scales[j] = int8_t((lo | (hi << 4)) - 32);
    }
}

// IQ4_XS: the signed scale (-32..31) of sub-block ib (0..7).
static inline int scale_iq4_xs(const block_iq4_xs& b, int ib) {
    const int lo = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    const int hi = (b.scales_h >> (2 * ib)) & 3;
    return (lo | (hi << 4)) - 32;
}

}  // namespace pyggml
