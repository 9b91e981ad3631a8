// avx2_dot_helpers.h: small AVX2 building blocks shared by the per-type dot kernels
// (vec_dot_<type>_avx2.cpp). Include only from files compiled with the AVX2 flags: every
// function here has internal linkage, so no AVX2 code reaches generic code.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pyggml {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// The 4 bytes at p in each 32-bit lane.
inline __m256i bcast4(const void* p) {
    int v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// loadu where it is written, each time: GCC otherwise keeps a value loaded more than once
// (a group's Q5_K fifth bits, read for each of 8 sub-blocks) in a register from its first
// load on, and with every register taken spills it, to read it back from the stack instead
// of from where it lies in L1. VEX registers only ("x"), so the plain VMOVDQU encodes.
inline __m256i load_again(const void* p) {
    __m256i v;
    asm volatile("vmovdqu %1, %0" : "=x"(v) : "m"(*static_cast<const __m256i*>(p)));
    return v;
}

// Holds v in a register here, the additions into it in the order written. Without it GCC
// computes an unrolled block's products for every token of a call first and adds them after,
// spilling most of them to the stack (docs/speed.md, "Notes from the code").
inline void keep_in_register(__m256i& v) { asm("" : "+v"(v)); }

inline float hsum_8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// 16 packed bytes -> 32 nibbles: low nibbles in bytes 0..15, high nibbles in 16..31.
inline __m256i nibbles_32(const uint8_t* p) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256i shifted = _mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes, 0xFF where the bit is clear (byte j tests bit j).
inline __m256i clear_bits_to_bytes_32(const uint8_t* p) {
    float f;
    std::memcpy(&f, p, 4);
    const __m256i word = _mm256_castps_si256(_mm256_set1_ps(f));
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ULL));
    return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(word, shuf), bit), _mm256_setzero_si256());
}

// Pair sums of 32 signed bytes as 16 int16 (|bytes| <= 127: no saturation).
inline __m256i pair_sums_i8(__m256i v) { return _mm256_maddubs_epi16(_mm256_set1_epi8(1), v); }

// Sum of products of 32 signed bytes in x (>= -128) and y (> -128), as 8 int32.
inline __m256i dot_i8_pairs(__m256i x, __m256i y) {
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

template <typename B>
inline const B* row_ptr(const void* y, size_t by, int t) {
    return reinterpret_cast<const B*>(static_cast<const char*>(y) + size_t(t) * by);
}

// One kernel body per NT (activation rows, 1..4) for one weight row; the common signature
// loops over the rows and switches on nt.
using dot_nt_fn = void (*)(int, float*, size_t, const void*, const void*, size_t);

template <dot_nt_fn K1, dot_nt_fn K2, dot_nt_fn K3, dot_nt_fn K4>
void dot_rows_nt(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    for (int r = 0; r < nr; ++r) {
        const void* xr = static_cast<const char*>(x) + r * bx;
        switch (nt) {
            case 1: K1(n, s + r, bs, xr, y, by); break;
            case 2: K2(n, s + r, bs, xr, y, by); break;
            case 3: K3(n, s + r, bs, xr, y, by); break;
            default: K4(n, s + r, bs, xr, y, by); break;
        }
    }
}

// Unsigned bytes x (<= 127) times signed y, summed to 8 int32.
inline __m256i dot_u8_pairs(__m256i x, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

inline int hsum_i32_8(__m256i x) {
    __m128i r = _mm_add_epi32(_mm256_extracti128_si256(x, 1), _mm256_castsi256_si128(x));
    r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 1));
    return _mm_cvtsi128_si32(r);
}

// One token, P rows per pass (matvec): a pass shares each activation block between
// P weight rows, one accumulator per row.
constexpr int kMatvecRows = 4;

// nt == 1: a pass takes rows i, i + q, i + 2q, ... (q = nr / P for P rows per pass), so
// each of the P weight streams stays sequential in memory (the hardware prefetchers
// follow a few sequential streams well, P interleaved rows badly); the nr % P last rows
// follow in one pass. Else the per-token kernels.
template <template <int> class Pass, void (*Rows)(int, float*, size_t, const void*, size_t, int, const void*, size_t, int),
          int P = kMatvecRows>
void matvec_or_rows(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    static_assert(P >= 1 && P <= 4, "1 to 4 rows per pass");
    if (nt != 1) return Rows(n, s, bs, x, bx, nr, y, by, nt);
    const char* xb = static_cast<const char*>(x);
    const int q = nr / P;
    for (int i = 0; i < q; ++i) Pass<P>::run(n, s + i, size_t(q), xb + i * bx, q * bx, y);
    const int r = q * P, rest = nr - r;  // rest < P
    if constexpr (P > 3) {
        if (rest == 3) return Pass<3>::run(n, s + r, 1, xb + r * bx, bx, y);
    }
    if constexpr (P > 2) {
        if (rest == 2) return Pass<2>::run(n, s + r, 1, xb + r * bx, bx, y);
    }
    if (rest == 1) Pass<1>::run(n, s + r, 1, xb + r * bx, bx, y);
}

}  // namespace
}  // namespace pyggml

// name(n, s, bs, x, bx, nr, y, by, nt) from the templates name_nt<1..4>.
#define PYGGML_AVX2_NT_KERNEL(name)                                                                        \
    void name(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by,     \
              int nt) {                                                                                   \
        dot_rows_nt<name##_nt<1>, name##_nt<2>, name##_nt<3>, name##_nt<4>>(n, s, bs, x, bx, nr, y, by, nt); \
    }
