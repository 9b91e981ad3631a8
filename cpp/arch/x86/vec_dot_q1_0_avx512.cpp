// vec_dot_q1_0_avx512.cpp: AVX-512 twin of kernels/vec_dot_q1_0.cpp (Q1_0 x Q8_0), in place of
// the AVX2 one in that tier.
//
// A Q8_0 block's 32 sign bits are an AVX-512 mask as they stand: one masked blend picks y where
// a bit is set and -y where it is clear, and one VPDPBUSD against bytes of 1 sums the result to
// 8 int32 (the AVX2 kernel spends four operations turning the bits into bytes, a blend of two
// and two multiply-adds). As there, dy scales each 32 and dx each 128; one token runs four rows
// a pass over each activation block.
#include <cstring>

#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"

namespace pyggml {

namespace {

inline __mmask32 sign_mask(const uint8_t* p) {
    uint32_t m;
    std::memcpy(&m, p, 4);
    return __mmask32(m);
}

// sum over the block of (bit ? y : -y), as 8 int32
inline __m256i signed_sums(__mmask32 m, __m256i y, __m256i ny) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), _mm256_mask_blend_epi8(m, ny, y));
}

template <int NT>
void dot_q1_0_tokens_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_q1_0* x = static_cast<const block_q1_0*>(vx);
    const block_q8_0* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_0>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    for (int i = 0; i < n / QK1_0; ++i) {
        __m256 part[NT];
        for (int t = 0; t < NT; ++t) part[t] = _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int k = 0; k < QK1_0 / QK8_0; ++k) {
            const __mmask32 m = sign_mask(x[i].qs + 4 * k);
            for (int t = 0; t < NT; ++t) {
                const block_q8_0& yb = y[t][4 * i + k];
                const __m256i yv = loadu(yb.qs);  // Q8_0 quants are > -128
                const __m256i p = signed_sums(m, yv, _mm256_sub_epi8(_mm256_setzero_si256(), yv));
                part[t] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(yb.d)), _mm256_cvtepi32_ps(p), part[t]);
            }
        }
        const __m256 dx = _mm256_set1_ps(h2f(x[i].d));
        for (int t = 0; t < NT; ++t) acc[t] = _mm256_fmadd_ps(dx, part[t], acc[t]);
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_q1_0_tokens)

template <int R>
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
                    const __m256i p = signed_sums(sign_mask(xr[r][i].qs + 4 * k), yv, ny);
                    part[r] = _mm256_fmadd_ps(dy, _mm256_cvtepi32_ps(p), part[r]);
                }
            }
            for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(xr[r][i].d)), part[r], acc[r]);
        }
        for (int r = 0; r < R; ++r) s[r * ss] = hsum_8(acc[r]);
    }
};

void dot_q1_0(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    matvec_or_rows<matvec_q1_0, dot_q1_0_tokens>(n, s, bs, x, bx, nr, y, by, nt);
}

}  // namespace

void register_vec_dot_q1_0_avx512(isa_kernels& k) { k.vec_dot[GGML_TYPE_Q1_0].vec_dot = dot_q1_0; }

}  // namespace pyggml
