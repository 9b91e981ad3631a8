// repack_avxvnni.cpp: the AVX-VNNI tier's kernels over the 8-row layouts: repack_vnni.h with
// the VEX-encoded VPDPBUSD / VPDPWSSD (Intel Core 12th generation and later, Core Ultra).
// Sixteen ymm registers hold four tokens' sums.
//
// Compiled with -mavx2 -mfma -mf16c -mbmi2 -mavxvnni; called only after the dispatcher
// checked them (core/cpu.h).
#include <immintrin.h>

#include "arch/x86/repack_vnni.h"

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

void register_repack_avxvnni(isa_kernels& k) { register_repack_vnni<vex_vnni, 4>(k); }

}  // namespace pyggml
