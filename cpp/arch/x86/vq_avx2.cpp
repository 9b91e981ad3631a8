// vq_avx2.cpp: AVX2 twins of the scalar quantizer's distance kernels (quant/vq.cpp), eight
// components per register. They do the references' float operations in the same order
// (a multiply and a subtract, never fused; lane d % 8; the same final sum), so they give the
// same bits. Zero-padded qd/step make the tail's extra lanes add exactly zero.
#include <immintrin.h>

#include <cstring>

#include "quant/vq.h"

namespace pyggml {

namespace {

inline float sum8(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // a0+a4 .. a3+a7
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));  // (a0+a4)+(a2+a6), (a1+a5)+(a3+a7)
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

inline __m256 add_square(__m256 acc, __m128i levels8, const float* qd, const float* step) {
    const __m256 c = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(levels8));
    const __m256 diff = _mm256_sub_ps(_mm256_loadu_ps(qd), _mm256_mul_ps(c, _mm256_loadu_ps(step)));
    return _mm256_add_ps(acc, _mm256_mul_ps(diff, diff));
}

// 4 bytes of packed nibbles -> 8 levels, even component (low nibble) first
inline __m128i unpack_nibbles(uint32_t bytes) {
    const __m128i x = _mm_cvtsi32_si128(int(bytes));
    const __m128i mask = _mm_set1_epi8(15);
    return _mm_unpacklo_epi8(_mm_and_si128(x, mask), _mm_and_si128(_mm_srli_epi16(x, 4), mask));
}

}  // namespace

static void sq_distances8_avx2(const uint8_t* codes, int64_t n, int64_t code_size, int64_t dim, const float* qd,
                        const float* step, float* out) {
    const int64_t full = dim / 8 * 8;
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t* c = codes + i * code_size;
        __m256 acc = _mm256_setzero_ps();
        int64_t d = 0;
        for (; d < full; d += 8) {
            acc = add_square(acc, _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + d)), qd + d, step + d);
        }
        if (d < dim) {
            uint8_t tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            std::memcpy(tail, c + d, size_t(dim - d));
            acc = add_square(acc, _mm_loadl_epi64(reinterpret_cast<const __m128i*>(tail)), qd + d, step + d);
        }
        out[i] = sum8(acc);
    }
}

static void sq_distances4_avx2(const uint8_t* codes, int64_t n, int64_t code_size, int64_t dim, const float* qd,
                        const float* step, float* out) {
    const int64_t full = dim / 8 * 8;
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t* c = codes + i * code_size;
        __m256 acc = _mm256_setzero_ps();
        int64_t d = 0;
        for (; d < full; d += 8) {
            uint32_t bytes;
            std::memcpy(&bytes, c + d / 2, 4);
            acc = add_square(acc, unpack_nibbles(bytes), qd + d, step + d);
        }
        if (d < dim) {
            uint32_t bytes = 0;
            std::memcpy(&bytes, c + d / 2, size_t(code_size - d / 2));
            acc = add_square(acc, unpack_nibbles(bytes), qd + d, step + d);
        }
        out[i] = sum8(acc);
    }
}

void register_vq_avx2(isa_kernels& k) {
    k.sq_distances[0] = sq_distances4_avx2;
    k.sq_distances[1] = sq_distances8_avx2;
}

}  // namespace pyggml
