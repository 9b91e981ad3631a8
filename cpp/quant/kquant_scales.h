// kquant_scales.h: unpacking of the packed sub-block scales of Q3_K, Q4_K/Q5_K and IQ4_XS,
// of Q6_K's six-bit quants, and of whole super-blocks of Q2_K, Q3_K and Q6_K quants.
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

// Bytes 4 and 8 at a time (little-endian, as every CPU pyggml builds for): a shift of a whole
// word then a mask per byte, or values small enough that a left shift stays inside each byte.
static inline uint32_t le_load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
static inline uint64_t le_load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
static inline void le_store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
static inline void le_store64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
constexpr uint64_t byte_splat(uint8_t b) { return 0x0101010101010101ull * b; }

// A super-block's 256 quants, one byte each, 8 at a time.
// Q2_K (qs: 64 bytes): 0..3, element e in bits 2 * ((e % 128) / 32) of qs[32 * (e / 128) + e % 32].
static inline void unpack_quants_q2_K(const uint8_t* qs, uint8_t* q) {
    for (int e0 = 0; e0 < 256; e0 += 32) {
        const uint8_t* src = qs + 32 * (e0 / 128);
        const int shift = 2 * ((e0 % 128) / 32);
        for (int l = 0; l < 32; l += 8) le_store64(q + e0 + l, (le_load64(src + l) >> shift) & byte_splat(3));
    }
}
// Q3_K: 0..7 (the value plus 4), Q2_K's low bits and the third from bit e / 32 of hmask[e % 32].
static inline void unpack_quants_q3_K(const block_q3_K& b, uint8_t* q) {
    unpack_quants_q2_K(b.qs, q);
    for (int e0 = 0; e0 < 256; e0 += 32) {
        for (int l = 0; l < 32; l += 8) {
            const uint64_t hi = (le_load64(b.hmask + l) >> (e0 / 32)) & byte_splat(1);
            le_store64(q + e0 + l, le_load64(q + e0 + l) | hi << 2);
        }
    }
}
// Q6_K: 0..63 (the value plus 32), q6_K_quant's rule.
static inline void unpack_quants_q6_K(const block_q6_K& b, uint8_t* q) {
    for (int e0 = 0; e0 < 256; e0 += 32) {
        const int h = e0 / 128, k = (e0 % 128) / 32;
        const uint8_t* ql = b.ql + 64 * h + 32 * (k % 2);
        const uint8_t* qh = b.qh + 32 * h;
        for (int l = 0; l < 32; l += 8) {
            const uint64_t lo = (k < 2 ? le_load64(ql + l) : le_load64(ql + l) >> 4) & byte_splat(0x0F);
            le_store64(q + e0 + l, lo | ((le_load64(qh + l) >> (2 * k)) & byte_splat(3)) << 4);
        }
    }
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
