// grid_x8_avx512.cpp: the AVX-512 tier's kernels over codebook rows decoded eight at a time
// (grid_x8_vnni.h with the EVEX-encoded VPDPBUSD / VPDPWSSD of AVX512-VNNI on 256-bit
// vectors; 32 registers hold eight tokens' sums).
//
// Compiled with -mavx2 -mfma -mf16c -mbmi2 -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mavx512vnni; called only after the dispatcher checked them (core/cpu.h).
#include <immintrin.h>

#include "arch/x86/grid_x8_vnni.h"

namespace pyggml {

namespace {

struct evex_vnni {
    static inline __m256i dpbusd(__m256i acc, __m256i u8, __m256i s8) { return _mm256_dpbusd_epi32(acc, u8, s8); }
    static inline __m256i dpwssd(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_epi32(acc, a, b); }
};

}  // namespace

void register_grid_x8_avx512(isa_kernels& k) { register_grid_x8_vnni<evex_vnni, 8>(k); }

}  // namespace pyggml
