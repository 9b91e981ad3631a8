// repack_neon.h: the NEON (SDOT) kernels over the 8-row layouts (repack_neon.cpp), which the
// i8mm tier's kernels (repack_i8mm.cpp) call for a single token.
#pragma once

#include <cstddef>

namespace pyggml {

void dot_q4_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q6_Kx8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q4_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q5_1x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);
void dot_q8_0x8_neon(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt);

}  // namespace pyggml
