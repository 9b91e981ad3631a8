// pairs_avx512.h: what the AVX-512 tier's kernels over groups of 8 rows share
// (repack_avx512.cpp for the repacked layouts, grid_x8_avx512.cpp for codebook rows decoded 8
// at a time): two groups in one 512-bit register, lanes 0-7 group a's rows and lanes 8-15
// group b's, so that one VPDPBUSD multiplies 16 rows; and the EVEX-encoded 256-bit
// instructions their shared 256-bit kernels take (repack_vnni.h, grid_x8_vnni.h).
//
// Included only by those two files, compiled for the AVX-512 tier: internal linkage, each keeps
// its own copy.
#pragma once

#include <immintrin.h>

#include <cstring>

#include "arch/x86/avx2_dot_helpers.h"
#include "kernels/vec_dot.h"

namespace pyggml {

namespace {

struct evex_vnni {
    static inline __m256i dpbusd(__m256i acc, __m256i u8, __m256i s8) { return _mm256_dpbusd_epi32(acc, u8, s8); }
    static inline __m256i dpwssd(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_epi32(acc, a, b); }
    static inline __m256i dpbusd_at(__m256i acc, __m256i u8, const void* p);
    static inline __m256i dpwssd_at(__m256i acc, __m256i a, const void* p);
};

inline __m512i join(__m256i a, __m256i b) { return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1); }
inline __m512 join(__m256 a, __m256 b) { return _mm512_insertf32x8(_mm512_castps256_ps512(a), b, 1); }
inline __m512i load2(const void* a, const void* b) {
    return join(_mm256_loadu_si256(static_cast<const __m256i*>(a)), _mm256_loadu_si256(static_cast<const __m256i*>(b)));
}

inline __m512i bcast4x16(const void* p) {
    int v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// acc + u8 . (the 4 bytes at p in every lane), and dpwssd_bcast's acc + s16 . (the 2 int16 at
// p): the activations as EVEX's embedded broadcast, part of the load. Clang folds
// _mm512_set1_epi32 of a load into the instruction by itself; GCC 12 emits a separate
// VPBROADCASTD, one more vector operation per product, so there it is spelled out. On a
// Zen 4, 64 tokens over 1536 x 1536, one thread: Q5_K 131 -> 150 GMAC/s, Q5_0 136 -> 150,
// Q8_0 147 -> 158, Q4_0 151 -> 162, Q4_K and IQ4_XS unchanged.
inline __m512i dpbusd_bcast(__m512i acc, __m512i u8, const void* p) {
#if defined(__GNUC__) && !defined(__clang__)
    asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u8), "m"(*static_cast<const int*>(p)));
    return acc;
#else
    return _mm512_dpbusd_epi32(acc, u8, bcast4x16(p));
#endif
}
inline __m512i dpwssd_bcast(__m512i acc, __m512i s16, const void* p) {
#if defined(__GNUC__) && !defined(__clang__)
    asm("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(s16), "m"(*static_cast<const int*>(p)));
    return acc;
#else
    return _mm512_dpwssd_epi32(acc, s16, bcast4x16(p));
#endif
}
// The same on 256 bits, for the shared kernels (repack_vnni.h, grid_x8_vnni.h) from 2 tokens
// on (4 tokens: 5-18 % faster); one token keeps the broadcasts (one_token_policy).
inline __m256i evex_vnni::dpbusd_at(__m256i acc, __m256i u8, const void* p) {
#if defined(__GNUC__) && !defined(__clang__)
    asm("vpdpbusd %2%{1to8%}, %1, %0" : "+v"(acc) : "v"(u8), "m"(*static_cast<const int*>(p)));
    return acc;
#else
    return _mm256_dpbusd_epi32(acc, u8, bcast4(p));
#endif
}
inline __m256i evex_vnni::dpwssd_at(__m256i acc, __m256i a, const void* p) {
#if defined(__GNUC__) && !defined(__clang__)
    asm("vpdpwssd %2%{1to8%}, %1, %0" : "+v"(acc) : "v"(a), "m"(*static_cast<const int*>(p)));
    return acc;
#else
    return _mm256_dpwssd_epi32(acc, a, bcast4(p));
#endif
}

// The kernel (vec_dot_fn over groups of 8 rows, bx bytes apart) for up to 8 tokens a call: with
// 8 tokens (every call but a tile's last) the groups in pairs through Pair, then a last odd
// group; fewer tokens, and one token, through the 256-bit kernel Single (one instantiation of
// each pair kernel keeps the build short).
template <typename G, void (*Pair)(int, float*, size_t, const G*, const G*, const void*, size_t), vec_dot_fn Single>
void dot_in_pairs(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    const int ng = nr / 8;
    int g = 0;
    if (nt == 8) {
        for (; g + 2 <= ng; g += 2) {
            const auto* xa = reinterpret_cast<const G*>(static_cast<const char*>(x) + g * bx);
            const auto* xb = reinterpret_cast<const G*>(static_cast<const char*>(x) + (g + 1) * bx);
            Pair(n, s + 8 * g, bs, xa, xb, y, by);
        }
    }
    if (g < ng) Single(n, s + 8 * g, bs, static_cast<const char*>(x) + g * bx, bx, nr - 8 * g, y, by, nt);
}

}  // namespace

}  // namespace pyggml
