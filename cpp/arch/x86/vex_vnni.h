// vex_vnni.h: the AVX-VNNI tier's VPDPBUSD / VPDPWSSD (VEX encoding, Intel Core 12th generation
// and later, Core Ultra) as the policy V the shared 256-bit kernels take (repack_vnni.h,
// grid_x8_vnni.h); pairs_avx512.h's evex_vnni is the AVX-512 tier's.
//
// Included only by files compiled with -mavxvnni (repack_avxvnni.cpp, grid_x8_avxvnni.cpp):
// internal linkage, each keeps its own copy.
#pragma once

#include <immintrin.h>

#include "arch/x86/avx2_dot_helpers.h"

namespace pyggml {

namespace {

struct vex_vnni {
    static inline __m256i dpbusd(__m256i acc, __m256i u8, __m256i s8) { return _mm256_dpbusd_avx_epi32(acc, u8, s8); }
    static inline __m256i dpwssd(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_avx_epi32(acc, a, b); }
    // the same with the 4 bytes at p in every lane (VEX has no embedded broadcast)
    static inline __m256i dpbusd_at(__m256i acc, __m256i u8, const void* p) { return dpbusd(acc, u8, bcast4(p)); }
    static inline __m256i dpwssd_at(__m256i acc, __m256i a, const void* p) { return dpwssd(acc, a, bcast4(p)); }
};

}  // namespace

}  // namespace pyggml
