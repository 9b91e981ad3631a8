// blocks.h: the byte layout of every GGUF block type, defined once.
//
// These structs are the on-disk layouts of ggml (ggml-common.h); every quantizer,
// dequantizer and dot kernel includes this file and nothing else defines a layout.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyggml {

using ggml_half = uint16_t;  // IEEE binary16 bits
using ggml_bf16 = uint16_t;  // bfloat16 bits

constexpr int QK4_0 = 32;
constexpr int QK4_1 = 32;
constexpr int QK5_0 = 32;
constexpr int QK5_1 = 32;
constexpr int QK8_0 = 32;
constexpr int QK8_1 = 32;
constexpr int QK4_NL = 32;
constexpr int QK_K = 256;
constexpr int K_SCALE_SIZE = 12;

struct block_q4_0 {
    ggml_half d;             // scale
    uint8_t qs[QK4_0 / 2];   // nibbles: low = element j, high = element j + 16
};
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

struct block_q4_1 {
    ggml_half d;             // scale
    ggml_half m;             // min
    uint8_t qs[QK4_1 / 2];   // nibbles
};
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

struct block_q5_0 {
    ggml_half d;             // scale
    uint8_t qh[4];           // 5th bit of each quant
    uint8_t qs[QK5_0 / 2];   // low 4 bits
};
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

struct block_q5_1 {
    ggml_half d;             // scale
    ggml_half m;             // min
    uint8_t qh[4];           // 5th bit of each quant
    uint8_t qs[QK5_1 / 2];   // low 4 bits
};
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

struct block_q8_0 {
    ggml_half d;             // scale
    int8_t qs[QK8_0];        // quants
};
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

struct block_q8_1 {
    ggml_half d;             // scale
    ggml_half s;             // d * sum(qs)
    int8_t qs[QK8_1];        // quants
};
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

// 2.625 bits per weight: 16 sub-blocks of 16, 4-bit scales and mins.
struct block_q2_K {
    uint8_t scales[QK_K / 16];  // low nibble scale, high nibble min
    uint8_t qs[QK_K / 4];       // 2-bit quants
    ggml_half d;                // super-block scale for scales
    ggml_half dmin;             // super-block scale for mins
};
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

// 3.4375 bits per weight: 16 sub-blocks of 16, 6-bit scales.
struct block_q3_K {
    uint8_t hmask[QK_K / 8];    // high bit of each quant
    uint8_t qs[QK_K / 4];       // low 2 bits
    uint8_t scales[12];         // 6-bit scales, packed
    ggml_half d;                // super-block scale
};
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

// 4.5 bits per weight: 8 sub-blocks of 32, 6-bit scales and mins.
struct block_q4_K {
    ggml_half d;                // super-block scale for scales
    ggml_half dmin;             // super-block scale for mins
    uint8_t scales[K_SCALE_SIZE];  // 6-bit scales and mins, packed
    uint8_t qs[QK_K / 2];       // 4-bit quants
};
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

// 5.5 bits per weight: as Q4_K plus one high bit per quant.
struct block_q5_K {
    ggml_half d;
    ggml_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];       // 5th bit of each quant
    uint8_t qs[QK_K / 2];       // low 4 bits
};
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

// 6.5625 bits per weight: 16 sub-blocks of 16, 8-bit scales.
struct block_q6_K {
    uint8_t ql[QK_K / 2];       // low 4 bits
    uint8_t qh[QK_K / 4];       // high 2 bits
    int8_t scales[QK_K / 16];   // 8-bit scales
    ggml_half d;                // super-block scale
};
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

// The activation type for k-quant dot products.
struct block_q8_K {
    float d;                    // scale (float, not half)
    int8_t qs[QK_K];            // quants
    int16_t bsums[QK_K / 16];   // sum of quants in groups of 16
};
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

// A codebook super-block (IQ1_S .. IQ3_S) decoded once for products with many tokens
// (kernels/matmul.cpp): its signed grid values (IQ1: 8 times the value plus the sign of its
// shift) and the factor 2 s + 1 of each 16. Held in memory only for the length of a tile,
// never stored in a file.
struct block_grid_decoded {
    float d;                     // the super-block scale, widened from fp16
    int16_t scales[QK_K / 16];   // 2 s + 1 per 16 elements
    int8_t qs[QK_K];             // signed grid values
};
static_assert(sizeof(block_grid_decoded) == 292, "block_grid_decoded size");

// Eight rows' block_grid_decoded super-blocks side by side, for the many-token kernels
// (kernels/grid_x8.h): a load of 32 bytes gives 4 elements of each row, a broadcast of 4
// activation bytes serves the 8 rows. In memory only, for the length of a tile.
struct block_grid_x8 {
    float d[8];                      // row r's super-block scale
    int16_t scales[QK_K / 32][8][2]; // [p][r][h]: row r's 2 s + 1 of elements 32 p + 16 h .. + 15
    uint8_t qs[8 * QK_K];            // [32 k + 4 r + b]: row r's signed grid value 4 k + b, plus 64
};
static_assert(sizeof(block_grid_x8) == 32 + 256 + 8 * QK_K, "block_grid_x8 size");

// Non-linear 4-bit grid (kvalues_iq4nl), one scale per 32.
struct block_iq4_nl {
    ggml_half d;
    uint8_t qs[QK4_NL / 2];
};
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");

// Same grid, super-blocks of 256 with 6-bit sub-block scales.
struct block_iq4_xs {
    ggml_half d;
    uint16_t scales_h;          // high 2 bits of the 8 scales
    uint8_t scales_l[QK_K / 64];  // low 4 bits of the 8 scales
    uint8_t qs[QK_K / 2];
};
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

// ---- ternary, 1-bit and 4-bit float formats ----------------------------------------

constexpr int QK1_0 = 128;
constexpr int QK_MXFP4 = 32;
constexpr int QK_NVFP4 = 64;
constexpr int QK_NVFP4_SUB = 16;  // elements per UE4M3 scale

// 1.125 bits per weight: the sign of each element, one scale (the mean magnitude).
struct block_q1_0 {
    ggml_half d;                // scale
    uint8_t qs[QK1_0 / 8];      // bit j: element j >= 0 (+d) or not (-d)
};
static_assert(sizeof(block_q1_0) == 18, "block_q1_0 size");

// 1.6875 bits per weight: ternary {-1, 0, 1} * d, base-3 packed. qs byte m of the first
// 32 holds elements m + 32 n (n < 5) as the fraction q / 243 (most significant trit
// first); the next 16 bytes elements 160 + m + 16 n; qh byte j elements 240 + j + 4 n
// (n < 4).
struct block_tq1_0 {
    uint8_t qs[(QK_K - 4 * QK_K / 64) / 5];  // 5 elements per byte
    uint8_t qh[QK_K / 64];                    // 4 elements per byte
    ggml_half d;
};
static_assert(sizeof(block_tq1_0) == 54, "block_tq1_0 size");

// 2.0625 bits per weight: ternary, 2 bits per element (value + 1): byte 32 c + m holds
// elements 128 c + m + 32 l in bits 2l, 2l + 1.
struct block_tq2_0 {
    uint8_t qs[QK_K / 4];
    ggml_half d;
};
static_assert(sizeof(block_tq2_0) == 66, "block_tq2_0 size");

// 4.25 bits per weight: E2M1 values (kvalues_fp4, doubled) times 2^(e - 128).
// Nibbles as Q4_0: low = element j, high = element j + 16.
struct block_mxfp4 {
    uint8_t e;                  // E8M0 shared exponent
    uint8_t qs[QK_MXFP4 / 2];
};
static_assert(sizeof(block_mxfp4) == 17, "block_mxfp4 size");

// 4.5 bits per weight: four sub-blocks of 16 E2M1 values, each with a UE4M3 scale.
// Sub-block s: qs[8 s + j] low nibble = element 16 s + j, high = 16 s + 8 + j.
struct block_nvfp4 {
    uint8_t d[QK_NVFP4 / QK_NVFP4_SUB];  // UE4M3 scales
    uint8_t qs[QK_NVFP4 / 2];
};
static_assert(sizeof(block_nvfp4) == 36, "block_nvfp4 size");

// ---- codebook ("IQ") formats: groups of 8 (or 4) elements are points of a grid ----------
// (quant/iq_grids.h), with signs apart; super-blocks of 256.

// 2.0625 bits per weight. Per 32 elements, two uint32 words: four 8-bit grid indices, then
// four 7-bit sign codes (bits 7 l) and a 4-bit scale (bits 28..31).
struct block_iq2_xxs {
    ggml_half d;
    uint16_t qs[QK_K / 8];
};
static_assert(sizeof(block_iq2_xxs) == 66, "block_iq2_xxs size");

// 2.3125 bits per weight. qs: 9-bit grid index | 7-bit sign code << 9, per 8 elements;
// scales: two 4-bit scales per 32 (low nibble: first 16).
struct block_iq2_xs {
    ggml_half d;
    uint16_t qs[QK_K / 8];
    uint8_t scales[QK_K / 32];
};
static_assert(sizeof(block_iq2_xs) == 74, "block_iq2_xs size");

// 2.5625 bits per weight. qs: 32 low index bytes, then 32 sign bytes (one bit per
// element); qh: the top 2 index bits of each 8, per 32; scales as IQ2_XS.
struct block_iq2_s {
    ggml_half d;
    uint8_t qs[QK_K / 4];
    uint8_t qh[QK_K / 32];
    uint8_t scales[QK_K / 32];
};
static_assert(sizeof(block_iq2_s) == 82, "block_iq2_s size");

// 3.0625 bits per weight. qs: 64 grid indices (4 elements each), then per 32 elements a
// uint32 of four 7-bit sign codes and a 4-bit scale (bits 28..31).
struct block_iq3_xxs {
    ggml_half d;
    uint8_t qs[3 * QK_K / 8];
};
static_assert(sizeof(block_iq3_xxs) == 98, "block_iq3_xxs size");

// 3.4375 bits per weight. 9-bit grid indices (qs low bytes, qh top bits), one sign bit per
// element, a 4-bit scale per 32 (two per byte).
struct block_iq3_s {
    ggml_half d;
    uint8_t qs[QK_K / 4];
    uint8_t qh[QK_K / 32];
    uint8_t signs[QK_K / 8];
    uint8_t scales[QK_K / 64];
};
static_assert(sizeof(block_iq3_s) == 110, "block_iq3_s size");

// 1.5625 bits per weight: grid points of -1, 0, 1 plus a shift of +-1/8. qh per 32: three
// 3-bit index tops (bits 3 l), a 3-bit scale (bits 12..14), the shift's sign (bit 15).
struct block_iq1_s {
    ggml_half d;
    uint8_t qs[QK_K / 8];
    uint16_t qh[QK_K / 32];
};
static_assert(sizeof(block_iq1_s) == 50, "block_iq1_s size");

// 1.75 bits per weight. qh per 8: 3 index-top bits and the shift's sign (bit 3), two per
// byte; scales: 3-bit scales per 16 in four uint16, whose top nibbles together hold the
// fp16 super-block scale.
struct block_iq1_m {
    uint8_t qs[QK_K / 8];
    uint8_t qh[QK_K / 16];
    uint8_t scales[QK_K / 32];
};
static_assert(sizeof(block_iq1_m) == 56, "block_iq1_m size");

// In-memory only (never in a file): one 256-column super-block of 8 Q4_K rows, built
// at load time by repack_q4_K_x8 (kernels/repack.h) so that one pass decodes the scales of 8
// rows at once and each activation load serves 8 rows. Same bytes as 8 block_q4_K.
// Scales: for row r and sub-block j (0..7) with h = j / 4, slot = 16 * (r / 4) +
// 4 * (j % 4) + r % 4, i.e. two 32-byte vectors S_h (h = 0, 1) of six-bit values whose
// 128-bit lanes hold rows 0..3 and 4..7:
//   scales_lo[slot] = low 4 bits of scale(r, j % 4) | low 4 bits of scale(r, 4 + j % 4) << 4
//   mins_lo[slot]   = the same for the mins
//   hi[slot]        = top 2 bits of scale(r, j%4), scale(r, 4+j%4), min(r, j%4), min(r, 4+j%4)
//                     in bits 0-1, 2-3, 4-5, 6-7.
// Quants: qs[32 * q + 4 * r + b] = row r's qs[4 * q + b] (q < 32, b < 4).
struct block_q4_Kx8 {
    ggml_half d[8];             // super-block scales of rows 0..7
    ggml_half dmin[8];          // super-block mins scales of rows 0..7
    uint8_t scales_lo[32];
    uint8_t mins_lo[32];
    uint8_t hi[32];
    uint8_t qs[8 * QK_K / 2];   // (32 quads, 8 rows, 4 bytes)
};
static_assert(sizeof(block_q4_Kx8) == 8 * sizeof(block_q4_K), "block_q4_Kx8 size");

// In-memory only: one 256-column super-block of 8 Q5_K rows, same bytes as 8 block_q5_K: the
// scales and the fourth-bit quants laid out as block_q4_Kx8's, and the fifth bits beside them.
// qh[32 * u + 4 * r + b] = row r's qh[4 * u + b] (u < 8, b < 4), whose bit j is the fifth bit
// of element 32 * j + 4 * u + b: the 32 bytes qh[32u..] go with the quant loads
// qs[32 * (8 * k + u)..] of every chunk k, bit 2k for their low nibbles, 2k + 1 for the high.
struct block_q5_Kx8 {
    ggml_half d[8];
    ggml_half dmin[8];
    uint8_t scales_lo[32];
    uint8_t mins_lo[32];
    uint8_t hi[32];
    uint8_t qh[8 * QK_K / 8];   // (8 quads, 8 rows, 4 bytes)
    uint8_t qs[8 * QK_K / 2];   // as block_q4_Kx8's
};
static_assert(sizeof(block_q5_Kx8) == 8 * sizeof(block_q5_K), "block_q5_Kx8 size");

// In-memory only: one 256-column super-block of 8 IQ4_XS rows, same bytes as 8 block_iq4_xs.
// scales_l[8 * p + r] = row r's scales_l[p] (the low 4 bits of its scales 2p and 2p + 1),
// scales_h[r] = row r's scales_h, so that the 8 rows' scale of sub-block j comes from 8 bytes
// and 8 words side by side. qs[32 * (4 * j + u) + 4 * r + b] = row r's qs[16 * j + 4 * u + b]:
// one 32-byte load holds 4 bytes of every row, whose low nibbles index elements 32j + 4u + b
// and high nibbles 32j + 16 + 4u + b, all of sub-block j.
struct block_iq4_xsx8 {
    ggml_half d[8];
    uint8_t scales_l[32];
    uint16_t scales_h[8];
    uint8_t qs[8 * QK_K / 2];
};
static_assert(sizeof(block_iq4_xsx8) == 8 * sizeof(block_iq4_xs), "block_iq4_xsx8 size");

// In-memory only: one 32-column block of 8 Q4_0 rows (kernels/repack.h), same bytes as 8
// block_q4_0. qs[32 * k + 4 * r + b] = row r's qs[4 * k + b] (k < 4, b < 4): one
// 32-byte load holds 4 bytes of every row, whose low nibbles are elements 4k..4k+3
// and high nibbles elements 16+4k..16+4k+3.
struct block_q4_0x8 {
    ggml_half d[8];
    uint8_t qs[8 * QK4_0 / 2];
};
static_assert(sizeof(block_q4_0x8) == 8 * sizeof(block_q4_0), "block_q4_0x8 size");

// In-memory only: one 32-column block of 8 IQ4_NL rows, same bytes as 8 block_iq4_nl, laid
// out as block_q4_0x8 (the nibbles index kvalues_iq4nl).
struct block_iq4_nlx8 {
    ggml_half d[8];
    uint8_t qs[8 * QK4_NL / 2];
};
static_assert(sizeof(block_iq4_nlx8) == 8 * sizeof(block_iq4_nl), "block_iq4_nlx8 size");

// In-memory only: one 32-column block of 8 MXFP4 rows, same bytes as 8 block_mxfp4: the 8
// rows' E8M0 exponents side by side, then the nibbles laid out as block_q4_0x8's (they
// index kvalues_fp4).
struct block_mxfp4x8 {
    uint8_t e[8];
    uint8_t qs[8 * QK_MXFP4 / 2];
};
static_assert(sizeof(block_mxfp4x8) == 8 * sizeof(block_mxfp4), "block_mxfp4x8 size");

// In-memory only: one 32-column block of 8 Q5_0 rows, same bytes as 8 block_q5_0.
// qs as block_q4_0x8. qh[4 * r + b] holds row r's fifth bits of elements b, 4 + b,
// 8 + b, ..., 28 + b in bits 0..7 (bit k: element 4k + b), so that shifting the 32
// bytes by a constant puts, for every row, the bits of one 4-byte chunk of qs in place.
struct block_q5_0x8 {
    ggml_half d[8];
    uint8_t qh[32];
    uint8_t qs[8 * QK5_0 / 2];
};
static_assert(sizeof(block_q5_0x8) == 8 * sizeof(block_q5_0), "block_q5_0x8 size");

// In-memory only: one 32-column block of 8 Q4_1 rows, same bytes as 8 block_q4_1: the 8 rows'
// scales, then their mins, then the nibbles laid out as block_q4_0x8's.
struct block_q4_1x8 {
    ggml_half d[8];
    ggml_half m[8];
    uint8_t qs[8 * QK4_1 / 2];
};
static_assert(sizeof(block_q4_1x8) == 8 * sizeof(block_q4_1), "block_q4_1x8 size");

// In-memory only: one 32-column block of 8 Q5_1 rows, same bytes as 8 block_q5_1: scales and
// mins as block_q4_1x8's, qh and qs as block_q5_0x8's.
struct block_q5_1x8 {
    ggml_half d[8];
    ggml_half m[8];
    uint8_t qh[32];
    uint8_t qs[8 * QK5_1 / 2];
};
static_assert(sizeof(block_q5_1x8) == 8 * sizeof(block_q5_1), "block_q5_1x8 size");

// In-memory only: one 32-column block of 8 Q8_0 rows, same bytes as 8 block_q8_0.
// qs[32 * k + 4 * r + b] = row r's qs[4 * k + b] (k < 8, b < 4).
struct block_q8_0x8 {
    ggml_half d[8];
    int8_t qs[8 * QK8_0];
};
static_assert(sizeof(block_q8_0x8) == 8 * sizeof(block_q8_0), "block_q8_0x8 size");

// In-memory only: one 256-column super-block of 8 Q6_K rows, same bytes as 8 block_q6_K.
// scales[16 * p + 2 * r + h] = row r's scale 2p + h (p < 8): one vpmovsxbw of 16 bytes puts
// the scales of sub-blocks 2p and 2p + 1 of row r side by side in lane r.
// qs: 16 sets of 96 bytes, set c holding elements 16c..16c+15 of every row as four 32-byte
// vectors V_u (u < 4; byte 4r + b of V_u = row r's six-bit quant 16c + 4u + b, 0..63) in
// three: qs[96c + 32k + 4r + b] = V_k[4r + b] | bits 2k, 2k + 1 of V_3[4r + b] << 6 (k < 3),
// so that one mask gives each of V_0..V_2 and three shifts and masks V_3.
struct block_q6_Kx8 {
    ggml_half d[8];
    int8_t scales[8 * QK_K / 16];
    uint8_t qs[8 * QK_K * 3 / 4];
};
static_assert(sizeof(block_q6_Kx8) == 8 * sizeof(block_q6_K), "block_q6_Kx8 size");

// In-memory only: one 256-column super-block of 8 Q3_K rows, same bytes as 8 block_q3_K.
// Sub-block j (16 columns; pair p = j / 2, h = j % 2) of row r: its six-bit scale (less 32 when
// used) has its low 4 bits in nibble p / 4 of scales_lo[16 * (p % 4) + 2 * r + h] and its top 2
// bits in bits 2 * (p / 2), 2 * (p / 2) + 1 of scales_hi[16 * (p % 2) + 2 * r + h], so that 16
// bytes of each, one shift and one mask give the scales of sub-blocks 2p and 2p + 1 of the 8
// rows in block_q6_Kx8's order. Quants (the value plus 4, 0..7): for element 16c + 4u + b of row
// r, its low 2 bits in bits 2u, 2u + 1 of qs[32 * c + 4 * r + b] and its third bit (the file's
// hmask bit) in bit 4 * (c % 2) + u of hmask[32 * (c / 2) + 4 * r + b]: one 32-byte load of qs
// per 16 columns and one of hmask per 32, a shift and a mask for each vector of 4 quants.
struct block_q3_Kx8 {
    ggml_half d[8];
    uint8_t scales_lo[64];
    uint8_t scales_hi[32];
    uint8_t hmask[8 * QK_K / 8];
    uint8_t qs[8 * QK_K / 4];
};
static_assert(sizeof(block_q3_Kx8) == 8 * sizeof(block_q3_K), "block_q3_Kx8 size");

// In-memory only: one 256-column super-block of 8 Q2_K rows, same bytes as 8 block_q2_K.
// scales[16 * p + 2 * r + h] = row r's scale byte 2p + h (scale in the low nibble, min in the
// high one): block_q6_Kx8's order. qs as block_q3_Kx8's: the 2-bit quant of element 16c + 4u + b of
// row r in bits 2u, 2u + 1 of qs[32 * c + 4 * r + b].
struct block_q2_Kx8 {
    ggml_half d[8];
    ggml_half dmin[8];
    uint8_t scales[8 * QK_K / 16];
    uint8_t qs[8 * QK_K / 4];
};
static_assert(sizeof(block_q2_Kx8) == 8 * sizeof(block_q2_K), "block_q2_Kx8 size");

// In-memory only: activations for the repacked Q4_0 kernel, a Q8_0 block (the same d
// and qs as quantize_row_q8_0 gives) with the exact sum of its 32 quants.
struct block_q8_0s {
    ggml_half d;
    int16_t sum;
    int8_t qs[QK8_0];
};
static_assert(sizeof(block_q8_0s) == 36, "block_q8_0s size");

// pyggml's load-time weight formats (types.h, PYGGML_TYPE_*), in memory only. Row layouts
// (n elements a row; d, z per row; every float little-endian, rows 4-byte aligned in size):
//   I8_ROW, LLM_INT8: [float d][int8 qs[n]]                       x = d * q
//   I8Z_ROW:          [float d][int32 z][int8 qs[n]]              x = d * (q - z)
//   I8_B64:           block_i8_64 * (n / 64)
//   I8Z_B64:          block_i8z_64 * (n / 64)
//   NF4, FP4:         block_nf4 * (n / 64)                         x = d * code[q]
//   NF4_DQ, FP4_DQ:   [float offset][float s2[ng]][uint8 qd[nb], zero-padded to a multiple of 4]
//                     [uint8 qs[n / 2]] with nb = n / 64 blocks, ng = ceil(nb / 256): block b's
//                     absmax = kdynamic_map[qd[b]] * s2[b / 256] + offset, then x = absmax * code[q]
//                     (bitsandbytes' double quantization; its groups of 256 scales never cross a row)
// Activations: A8_ROW [float d][int8 qs[n]] (x = d * q); A8_OUTLIER [float d][int32 n_out]
// [int8 qs[n]][int32 idx[n]][float xo[n]]: qs zero at the n_out outlier features idx[0..n_out),
// whose values are xo (each rounded to float16).
constexpr int QK_I8B = 64;   // the block formats' block
constexpr int QK_NF4 = 64;   // bitsandbytes' 4-bit block
constexpr int QK_NF4_DQ = 256;  // block scales per second-level scale

struct block_i8_64 {
    float d;
    int8_t qs[QK_I8B];
};
static_assert(sizeof(block_i8_64) == 68, "block_i8_64 size");

struct block_i8z_64 {
    float d;
    int32_t z;  // in [-128, 127]
    int8_t qs[QK_I8B];
};
static_assert(sizeof(block_i8z_64) == 72, "block_i8z_64 size");

// Element 2i in the high nibble of qs[i], element 2i + 1 in the low (bitsandbytes' packing).
struct block_nf4 {
    float d;  // absmax
    uint8_t qs[QK_NF4 / 2];
};
static_assert(sizeof(block_nf4) == 36, "block_nf4 size");

// bitsandbytes' 4-bit code books (functional.get_4bit_type), by 4-bit code: NF4 (quantiles of
// N(0, 1), sorted), FP4 (its E2M1 variant with bias 2, divided by 12, in bit-pattern order).
constexpr float kvalues_nf4[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                                   -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                                   0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
                                   0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
                                   0.7229568362236023f, 1.0f};
constexpr float kvalues_bnb_fp4[16] = {0.0f, 0.0625f / 12, 8.0f / 12, 12.0f / 12, 4.0f / 12, 6.0f / 12, 2.0f / 12, 3.0f / 12,
                                       -0.0f, -0.0625f / 12, -8.0f / 12, -12.0f / 12, -4.0f / 12, -6.0f / 12, -2.0f / 12,
                                       -3.0f / 12};

// The 16 values of the IQ4_NL / IQ4_XS grid.
constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};

// The E2M1 values of MXFP4 and NVFP4, doubled (the scales carry the factor 1/2).
constexpr int8_t kvalues_fp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

}  // namespace pyggml
