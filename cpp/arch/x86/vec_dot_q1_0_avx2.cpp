// vec_dot_q1_0_avx2.cpp: AVX2 twin of kernels/vec_dot_q1_0.cpp (Q1_0 x Q8_0).
//
// 32 sign bits become 32 bytes of +1 / -1 (0xFF where the bit is clear, or-ed with 1);
// vpsignb applies them to the activations, vpmaddubsw/vpmaddwd sum the result per Q8_0 block.
// One token (matvec): four rows a pass share each activation block, its negation and its
// scale; a row's clear bits pick -y over y (vpblendvb), and its fp16 scale multiplies the
// sum of its four Q8_0 blocks' scaled sums once per 128 elements.
#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"

namespace pyggml {

namespace {

template <int NT>
void dot_q1_0_tokens_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_q1_0* x = static_cast<const block_q1_0*>(vx);
    const block_q8_0* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_0>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i one = _mm256_set1_epi8(1);
    for (int i = 0; i < n / QK1_0; ++i) {
        // per token, the sum over the four Q8_0 blocks of dy * isum; dx once per 128
        __m256 part[NT];
        for (int t = 0; t < NT; ++t) part[t] = _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int k = 0; k < QK1_0 / QK8_0; ++k) {
            const __m256i signs = _mm256_or_si256(clear_bits_to_bytes_32(x[i].qs + 4 * k), one);
            for (int t = 0; t < NT; ++t) {
                const block_q8_0& yb = y[t][4 * i + k];
                const __m256i p = _mm256_madd_epi16(pair_sums_i8(_mm256_sign_epi8(loadu(yb.qs), signs)), _mm256_set1_epi16(1));
                const __m256 dy = _mm256_cvtph_ps(_mm_set1_epi16(short(yb.d)));
                part[t] = _mm256_fmadd_ps(dy, _mm256_cvtepi32_ps(p), part[t]);
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
        const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
        for (int i = 0; i < n / QK1_0; ++i) {
            __m256 part[R];
            for (int r = 0; r < R; ++r) part[r] = _mm256_setzero_ps();
#pragma GCC unroll 4
            for (int k = 0; k < QK1_0 / QK8_0; ++k) {
                const block_q8_0& yb = y[4 * i + k];
                const __m256i yv = loadu(yb.qs);
                const __m256i ny = _mm256_sub_epi8(_mm256_setzero_si256(), yv);  // Q8_0 quants are > -128
                const __m256 dy = _mm256_set1_ps(h2f(yb.d));
                for (int r = 0; r < R; ++r) {
                    const __m256i v = _mm256_blendv_epi8(yv, ny, clear_bits_to_bytes_32(xr[r][i].qs + 4 * k));
                    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16);
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

void register_vec_dot_q1_0_avx2(isa_kernels& k) { k.vec_dot[GGML_TYPE_Q1_0].vec_dot = dot_q1_0; }

}  // namespace pyggml
