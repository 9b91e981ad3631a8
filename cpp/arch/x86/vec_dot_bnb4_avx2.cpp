// vec_dot_bnb4_avx2.cpp: AVX2 twins of kernels/vec_dot_bnb4.cpp (NF4 / FP4 against float32).
//
// 16 packed bytes give 32 codes in element order (high nibble first: unpack of the shifted and
// masked bytes); each 8 codes index the code book's two halves with vpermps and a blend on
// bit 3; the values are multiplied with the activations by FMA, per block, then the block
// scaled by its absmax. Each block's codes are decoded once for up to 4 tokens.
#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "quant/weight_formats.h"

namespace pyggml {

namespace {

struct book {
    __m256 lo, hi;
};

inline __m256 lookup(const book& b, __m256i idx) {
    const __m256 l = _mm256_permutevar8x32_ps(b.lo, idx), h = _mm256_permutevar8x32_ps(b.hi, idx);
    return _mm256_blendv_ps(l, h, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

// One block of 64: its 64 values (unscaled) into v[8].
inline void decode_block(const uint8_t* qs, const book& b, __m256 v[8]) {
    const __m128i m = _mm_set1_epi8(0x0F);
    for (int h = 0; h < 2; ++h) {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16 * h));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), m), lo = _mm_and_si128(raw, m);
        const __m128i e0 = _mm_unpacklo_epi8(hi, lo), e1 = _mm_unpackhi_epi8(hi, lo);  // elements 0..15, 16..31
        v[4 * h + 0] = lookup(b, _mm256_cvtepu8_epi32(e0));
        v[4 * h + 1] = lookup(b, _mm256_cvtepu8_epi32(_mm_srli_si128(e0, 8)));
        v[4 * h + 2] = lookup(b, _mm256_cvtepu8_epi32(e1));
        v[4 * h + 3] = lookup(b, _mm256_cvtepu8_epi32(_mm_srli_si128(e1, 8)));
    }
}

template <int NT>
inline void block_fma(const __m256 v[8], float d, const float* const y[NT], int64_t off, __m256 acc[NT]) {
    for (int t = 0; t < NT; ++t) {
        __m256 s = _mm256_mul_ps(v[0], _mm256_loadu_ps(y[t] + off));
        for (int k = 1; k < 8; ++k) s = _mm256_fmadd_ps(v[k], _mm256_loadu_ps(y[t] + off + 8 * k), s);
        acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), s, acc[t]);
    }
}

template <int NT, const float* Values, bool DQ>
void dot_4bit_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const book b{_mm256_loadu_ps(Values), _mm256_loadu_ps(Values + 8)};
    const float* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = reinterpret_cast<const float*>(static_cast<const char*>(vy) + t * by);
        acc[t] = _mm256_setzero_ps();
    }
    const int64_t nb = n / QK_NF4;
    __m256 v[8];
    if constexpr (DQ) {
        const uint8_t* row = static_cast<const uint8_t*>(vx);
        const uint8_t* qs = row + row_header_nf4_dq(n);
        const float* dyn = dynamic_map_256();
        for (int64_t k = 0; k < nb; ++k) {
            decode_block(qs + k * (QK_NF4 / 2), b, v);
            block_fma<NT>(v, nf4_dq_absmax(row, nb, k, dyn), y, k * QK_NF4, acc);
        }
    } else {
        const block_nf4* x = static_cast<const block_nf4*>(vx);
        for (int64_t k = 0; k < nb; ++k) {
            decode_block(x[k].qs, b, v);
            block_fma<NT>(v, x[k].d, y, k * QK_NF4, acc);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}

template <int NT>
void dot_nf4_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_4bit_nt<NT, kvalues_nf4, false>(n, s, bs, x, y, by);
}
template <int NT>
void dot_fp4_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_4bit_nt<NT, kvalues_bnb_fp4, false>(n, s, bs, x, y, by);
}
template <int NT>
void dot_nf4_dq_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_4bit_nt<NT, kvalues_nf4, true>(n, s, bs, x, y, by);
}
template <int NT>
void dot_fp4_dq_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_4bit_nt<NT, kvalues_bnb_fp4, true>(n, s, bs, x, y, by);
}
PYGGML_AVX2_NT_KERNEL(dot_nf4)
PYGGML_AVX2_NT_KERNEL(dot_fp4)
PYGGML_AVX2_NT_KERNEL(dot_nf4_dq)
PYGGML_AVX2_NT_KERNEL(dot_fp4_dq)

}  // namespace

void register_vec_dot_bnb4_avx2(isa_kernels& k) {
    k.vec_dot[PYGGML_TYPE_NF4].vec_dot = dot_nf4;
    k.vec_dot[PYGGML_TYPE_FP4].vec_dot = dot_fp4;
    k.vec_dot[PYGGML_TYPE_NF4_DQ].vec_dot = dot_nf4_dq;
    k.vec_dot[PYGGML_TYPE_FP4_DQ].vec_dot = dot_fp4_dq;
}

}  // namespace pyggml
