// repack_neon.h: the NEON (SDOT) kernels over the 8-row layouts (repack_neon.cpp), which the
// i8mm tier's kernels (repack_i8mm.cpp) call for a single token, and what both tiers' kernels
// share.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

namespace pyggml {

namespace {

// Bit j of each of the 16 bytes moved to bit 4 (a negative count shifts right): Q5_K's fifth
// bits for sub-block j (block_q5_Kx8); Q5_0's and Q5_1's for quants 4j.. of a 32-byte load's
// low nibbles (j < 4) and 16 + 4(j - 4).. of its high ones (block_q5_0x8).
inline uint8x16_t fifth_bits(uint8x16_t h, int j) {
    return vandq_u8(vshlq_u8(h, vdupq_n_s8(int8_t(4 - j))), vdupq_n_u8(0x10));
}

}  // namespace

void dot_q4_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q6_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q8_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);

}  // namespace pyggml
