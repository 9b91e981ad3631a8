// vec_dot_fp4_avx2.cpp: AVX2 twins of kernels/vec_dot_fp4.cpp (MXFP4, NVFP4 x Q8_0).
//
// The E2M1 nibbles are looked up in kvalues_fp4 with vpshufb (|values| <= 12), multiplied
// with the activations by vpmaddubsw/vpmaddwd into int32 lanes. MXFP4: one scale per 32,
// the block's 8 lanes scaled at once. NVFP4: 32 elements are two sub-blocks of 16, whose
// sums fall in lanes 0-3 and 4-7; each half is scaled by its own UE4M3 scale.
#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp8.h"

namespace pyggml {

namespace {

inline __m256i fp4_table() {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_fp4)));
}

template <int NT>
void dot_mxfp4_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_mxfp4* x = static_cast<const block_mxfp4*>(vx);
    const block_q8_0* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_0>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i values = fp4_table();
    for (int ib = 0; ib < n / QK_MXFP4; ++ib) {
        const __m256i qx = _mm256_shuffle_epi8(values, nibbles_32(x[ib].qs));
        const float dx = e8m0_to_fp32_half(x[ib].e);
        for (int t = 0; t < NT; ++t) {
            const __m256i p = dot_i8_pairs(qx, loadu(y[t][ib].qs));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * h2f(y[t][ib].d)), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_mxfp4)

// 16 bytes of two NVFP4 sub-blocks -> 32 nibbles in element order: low nibbles of bytes
// 0..7, their high nibbles, then the same for bytes 8..15.
inline __m256i nvfp4_nibbles(const uint8_t* p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i m = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
    return _mm256_set_m128i(_mm_unpackhi_epi64(lo, hi), _mm_unpacklo_epi64(lo, hi));
}

template <int NT>
void dot_nvfp4_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_nvfp4* x = static_cast<const block_nvfp4*>(vx);
    const block_q8_0* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_0>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i values = fp4_table();
    for (int ib = 0; ib < n / QK_NVFP4; ++ib) {
        for (int h = 0; h < 2; ++h) {  // sub-blocks 2h, 2h + 1 = Q8_0 block 2 ib + h
            const __m256i qx = _mm256_shuffle_epi8(values, nvfp4_nibbles(x[ib].qs + 16 * h));
            const __m256 dx = _mm256_setr_m128(_mm_set1_ps(ue4m3_to_fp32_half(x[ib].d[2 * h])),
                                               _mm_set1_ps(ue4m3_to_fp32_half(x[ib].d[2 * h + 1])));
            for (int t = 0; t < NT; ++t) {
                const block_q8_0& yb = y[t][2 * ib + h];
                const __m256i p = dot_i8_pairs(qx, loadu(yb.qs));
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(h2f(yb.d))), _mm256_cvtepi32_ps(p), acc[t]);
            }
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_nvfp4)

}  // namespace

void register_vec_dot_fp4_avx2(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_MXFP4].vec_dot = dot_mxfp4;
    k.vec_dot[GGML_TYPE_NVFP4].vec_dot = dot_nvfp4;
}

}  // namespace pyggml
