// float_avx2.cpp: AVX2 + F16C twins of the F16 and BF16 conversions (quant/float.cpp).
//
// Bit-identical to the references: F16C converts as IEEE does, and NaN lanes, whose payload
// F16C would change (quieting signalling NaNs), go through the scalar conversions.
#include <immintrin.h>

#include "core/dispatch.h"
#include "core/fp16.h"

namespace pyggml {

namespace {

// 8 halves -> 8 floats; lanes holding a NaN go through the scalar conversion, which
// keeps signalling NaNs signalling (F16C would quiet them).
inline void f16x8_to_f32(const uint16_t* h, float* y) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
    const __m128i exp_all = _mm_set1_epi16(0x7c00);
    const __m128i is_nan = _mm_cmpgt_epi16(_mm_and_si128(v, _mm_set1_epi16(0x7fff)), exp_all);
    _mm256_storeu_ps(y, _mm256_cvtph_ps(v));
    if (_mm_movemask_epi8(is_nan)) {
        for (int j = 0; j < 8; ++j) y[j] = fp16_to_fp32(h[j]);
    }
}

void dequantize_row_f16_avx2(const void* vx, float* y, int64_t k) {
    const uint16_t* h = static_cast<const uint16_t*>(vx);
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) f16x8_to_f32(h + i, y + i);
    for (; i < k; ++i) y[i] = fp16_to_fp32(h[i]);
}

void dequantize_row_bf16_avx2(const void* vx, float* y, int64_t k) {
    const uint16_t* h = static_cast<const uint16_t*>(vx);
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm256_slli_epi32(v, 16));
    }
    for (; i < k; ++i) y[i] = bf16_to_fp32(h[i]);
}

size_t quantize_f16_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    const int64_t n = nrow * n_per_row;
    uint16_t* h = static_cast<uint16_t*>(dst);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(src + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) {
            for (int j = 0; j < 8; ++j) h[i + j] = fp32_to_fp16(src[i + j]);  // NaN payloads
        } else {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        }
    }
    for (; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
    return size_t(n) * 2;
}

}  // namespace

void register_float_avx2(isa_kernels& k) {
    k.types[GGML_TYPE_F16].to_float = dequantize_row_f16_avx2;
    k.types[GGML_TYPE_F16].quantize = quantize_f16_avx2;
    k.types[GGML_TYPE_BF16].to_float = dequantize_row_bf16_avx2;
}

}  // namespace pyggml
