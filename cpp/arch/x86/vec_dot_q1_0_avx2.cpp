// vec_dot_q1_0_avx2.cpp: AVX2 twin of kernels/vec_dot_q1_0.cpp (Q1_0 x Q8_0).
//
// 32 sign bits become 32 bytes of +1 / -1 (0xFF where the bit is clear, or-ed with 1);
// vpsignb applies them to the activations, vpmaddubsw/vpmaddwd sum the result per Q8_0 block.
#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"

namespace pyggml {

namespace {

template <int NT>
void dot_q1_0_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_q1_0* x = static_cast<const block_q1_0*>(vx);
    const block_q8_0* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_0>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i one = _mm256_set1_epi8(1);
    for (int i = 0; i < n / QK1_0; ++i) {
        const float dx = h2f(x[i].d);
        for (int k = 0; k < QK1_0 / QK8_0; ++k) {
            const __m256i signs = _mm256_or_si256(clear_bits_to_bytes_32(x[i].qs + 4 * k), one);
            for (int t = 0; t < NT; ++t) {
                const block_q8_0& yb = y[t][4 * i + k];
                const __m256i p = _mm256_madd_epi16(pair_sums_i8(_mm256_sign_epi8(loadu(yb.qs), signs)), _mm256_set1_epi16(1));
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * h2f(yb.d)), _mm256_cvtepi32_ps(p), acc[t]);
            }
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_q1_0)

}  // namespace

void register_vec_dot_q1_0_avx2(isa_kernels& k) { k.vec_dot[GGML_TYPE_Q1_0].vec_dot = dot_q1_0; }

}  // namespace pyggml
