// vec_dot_q1_0_x86.h: the x86 Q1_0 x Q8_0 kernels (twins of kernels/vec_dot_q1_0.cpp), one
// source for the AVX2 tier (vec_dot_q1_0_avx2.cpp) and the AVX-512 one
// (vec_dot_q1_0_avx512.cpp), which differ only in how 32 sign bits pick y or -y and sum the
// result (the policy S):
//   S::signs(bits)         the 32 bits of one Q8_0 block in the tier's form
//   S::sums(signs, y, -y)  sum over the block of (bit ? y : -y), as 8 int32
// The integer sums are exact and the float steps the same in both (dy scales each 32, dx each
// 128), so the tiers give the same bits. One token (matvec): four rows a pass share each
// activation block, its negation and its scale.
// Include only from files compiled with the AVX2 flags (or more).
#pragma once

#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"

namespace pyggml {
namespace {

template <class S, int NT>
void dot_q1_0_tokens_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_q1_0* x = static_cast<const block_q1_0*>(vx);
    const block_q8_0* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_0>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    for (int i = 0; i < n / QK1_0; ++i) {
        // per token, the sum over the four Q8_0 blocks of dy * isum; dx once per 128
        __m256 part[NT];
        for (int t = 0; t < NT; ++t) part[t] = _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int k = 0; k < QK1_0 / QK8_0; ++k) {
            const auto signs = S::signs(x[i].qs + 4 * k);
            for (int t = 0; t < NT; ++t) {
                const block_q8_0& yb = y[t][4 * i + k];
                const __m256i yv = loadu(yb.qs);  // Q8_0 quants are > -128
                const __m256i p = S::sums(signs, yv, _mm256_sub_epi8(_mm256_setzero_si256(), yv));
                part[t] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(yb.d)), _mm256_cvtepi32_ps(p), part[t]);
            }
        }
        const __m256 dx = _mm256_set1_ps(h2f(x[i].d));
        for (int t = 0; t < NT; ++t) acc[t] = _mm256_fmadd_ps(dx, part[t], acc[t]);
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}

template <class S, int R>
struct matvec_q1_0 {
    static void run(int n, float* s, size_t ss, const char* x, size_t bx, const void* vy) {
        const block_q8_0* y = static_cast<const block_q8_0*>(vy);
        const block_q1_0* xr[R];
        __m256 acc[R];
        for (int r = 0; r < R; ++r) {
            xr[r] = reinterpret_cast<const block_q1_0*>(x + r * bx);
            acc[r] = _mm256_setzero_ps();
        }
        for (int i = 0; i < n / QK1_0; ++i) {
            __m256 part[R];
            for (int r = 0; r < R; ++r) part[r] = _mm256_setzero_ps();
#pragma GCC unroll 4
            for (int k = 0; k < QK1_0 / QK8_0; ++k) {
                const block_q8_0& yb = y[4 * i + k];
                const __m256i yv = loadu(yb.qs);
                const __m256i ny = _mm256_sub_epi8(_mm256_setzero_si256(), yv);
                const __m256 dy = _mm256_set1_ps(h2f(yb.d));
                for (int r = 0; r < R; ++r) {
                    const __m256i p = S::sums(S::signs(xr[r][i].qs + 4 * k), yv, ny);
                    part[r] = _mm256_fmadd_ps(dy, _mm256_cvtepi32_ps(p), part[r]);
                }
            }
            for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(xr[r][i].d)), part[r], acc[r]);
        }
        for (int r = 0; r < R; ++r) s[r * ss] = hsum_8(acc[r]);
    }
};

// The tier's kernel (vec_dot_fn): matvec passes for one token, else up to 4 tokens a row.
template <class S>
struct q1_0_kernels {
    template <int R>
    using pass = matvec_q1_0<S, R>;
    static void tokens(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by,
                       int nt) {
        dot_rows_nt<dot_q1_0_tokens_nt<S, 1>, dot_q1_0_tokens_nt<S, 2>, dot_q1_0_tokens_nt<S, 3>,
                    dot_q1_0_tokens_nt<S, 4>>(n, s, bs, x, bx, nr, y, by, nt);
    }
    static void dot(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
        matvec_or_rows<pass, tokens>(n, s, bs, x, bx, nr, y, by, nt);
    }
};

}  // namespace
}  // namespace pyggml
