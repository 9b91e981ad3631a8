// quantize_act_avx2.cpp: AVX2 twins of the activation conversions (kernels/quantize_act.cpp).
//
// Byte-identical to the scalar references (quantize_row_q8_0_ref / q8_1_ref /
// q8_K_ref, fp32_to_fp16, fp32_to_bf16) for finite input: same maxima, same float
// products, and the same rounding rule (half away from zero for Q8_0/Q8_1, half to
// even for Q8_K and the float formats).
#include <immintrin.h>

#include <cstring>

#include "arch/x86/legacy_avx2.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp16.h"

namespace pyggml {

namespace {

inline float hmax_8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// 32 int32 (four vectors) -> 32 int8 in element order.
inline void pack_32(__m256i a, __m256i b, __m256i c, __m256i d, int8_t* out) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i abcd = _mm256_packs_epi16(ab, cd);
    // packs work per 128-bit lane; restore the order of the 4-byte groups
    const __m256i perm = _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), perm);
}

inline uint16_t f2h(float f) { return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)); }

// Q8_0 / Q8_1: the row quantizers of legacy_avx2.cpp (the same ones pyggml.quantize uses).
void from_float_q8_0(const float* x, void* vy, int64_t k) { quantize_row_q8_0_avx2(x, static_cast<block_q8_0*>(vy), k); }
void from_float_q8_1(const float* x, void* vy, int64_t k) { quantize_row_q8_1_avx2(x, static_cast<block_q8_1*>(vy), k); }

// Q8_K, 64 elements at a time: the eight int32 vectors give the int8 quants (packed) and
// the four sums of 16 (two vector adds and three horizontal adds) instead of summing the
// stored bytes group by group; the maximum runs four chains. Speed matters here: a token's
// conversion runs on one thread while the others wait (docs/speed.md, "Notes from the code").
void from_float_q8_K(const float* x, void* vy, int64_t k) {
    block_q8_K* y = static_cast<block_q8_K*>(vy);
    for (int64_t i = 0; i < k / QK_K; ++i, x += QK_K) {
        __m256 m[4];  // four independent chains: a max waits three cycles for the previous one
        for (int u = 0; u < 4; ++u) m[u] = abs_ps(_mm256_loadu_ps(x + 8 * u));
        for (int j = 32; j < QK_K; j += 32) {
            for (int u = 0; u < 4; ++u) m[u] = _mm256_max_ps(m[u], abs_ps(_mm256_loadu_ps(x + j + 8 * u)));
        }
        const float amax = hmax_8(_mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3])));
        if (!(amax > 0.0f)) {
            std::memset(&y[i], 0, sizeof(block_q8_K));
            continue;
        }
        // the first element of largest magnitude, with its sign
        const __m256 va = _mm256_set1_ps(amax);
        int j = 0, mask = 0;
        for (; j < QK_K; j += 8) {
            mask = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ));
            if (mask) break;
        }
        const float max = x[j + __builtin_ctz(unsigned(mask))];
        const float iscale = -127.0f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        for (j = 0; j < QK_K; j += 64) {
            __m256i q[8];
            for (int u = 0; u < 8; ++u) {
                const __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8 * u)));  // ties to even
                q[u] = _mm256_min_epi32(r, _mm256_set1_epi32(127));
            }
            pack_32(q[0], q[1], q[2], q[3], y[i].qs + j);
            pack_32(q[4], q[5], q[6], q[7], y[i].qs + j + 32);
            // lane l of q[2g] + q[2g + 1]: elements l and 8 + l of group g; then across lanes
            const __m256i a = _mm256_add_epi32(q[0], q[1]), b = _mm256_add_epi32(q[2], q[3]);
            const __m256i c = _mm256_add_epi32(q[4], q[5]), d = _mm256_add_epi32(q[6], q[7]);
            const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
            const __m128i sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            _mm_storel_epi64(reinterpret_cast<__m128i*>(y[i].bsums + j / 16), _mm_packs_epi32(sums, sums));
        }
        y[i].d = 1.0f / iscale;
    }
}

void from_float_f16(const float* x, void* vy, int64_t k) {
    uint16_t* y = static_cast<uint16_t*>(vy);
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < k; ++i) y[i] = f2h(x[i]);
}

}  // namespace

void register_quantize_act_avx2(isa_kernels& k) {
    k.from_float[GGML_TYPE_Q8_0] = from_float_q8_0;
    k.from_float[GGML_TYPE_Q8_1] = from_float_q8_1;
    k.from_float[GGML_TYPE_Q8_K] = from_float_q8_K;
    k.from_float[GGML_TYPE_F16] = from_float_f16;
}

}  // namespace pyggml
