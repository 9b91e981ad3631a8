// legacy_avx2.cpp: AVX2 twins of the legacy-block conversions (quant/legacy.cpp).
//
// Each routine performs the same float operations as its reference (same order, no FMA
// contraction), so results are bit-identical; only the loops are vectorized. roundf (half
// away from zero) is emulated exactly, not with the SIMD round-to-even. Rows with an
// importance vector use the reference code.
#include <immintrin.h>

#include <cstring>

#include "arch/x86/legacy_avx2.h"
#include "core/dispatch.h"
#include "core/fp16.h"
#include "quant/quants.h"

namespace pyggml {

namespace {

inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline float hmin(__m256 v) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// roundf(): truncate, then step away from zero when the dropped fraction is >= 0.5.
// v - trunc(v) is exact for every float, so this matches the C library bit for bit.
inline __m256 round_half_away(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = abs_ps(_mm256_sub_ps(v, t));
    const __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm256_add_ps(t, _mm256_and_ps(up, step));
}

// Absolute maximum of a 32-element block.
inline float block_absmax(const float* x) {
    __m256 m = abs_ps(_mm256_loadu_ps(x));
    for (int j = 8; j < 32; j += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + j)));
    return hmax(m);
}

// The element of largest magnitude, first one on ties, +0 for an all-zero block
// (as ggml's scalar search, which starts from max = 0).
inline float block_signed_absmax(const float* x) {
    const float amax = block_absmax(x);
    if (amax == 0.0f) return 0.0f;
    const __m256 a = _mm256_set1_ps(amax);
    for (int j = 0; j < 32; j += 8) {
        const int mask = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), a, _CMP_EQ_OQ));
        if (mask) return x[j + __builtin_ctz(unsigned(mask))];
    }
    return 0.0f;  // unreachable for finite input
}

// The first element equal to v (v == +0 matches -0 too): the reference keeps the first
// element that reaches its minimum / maximum, so the sign of a zero result is that one's.
inline float first_equal(const float* x, float v) {
    const __m256 a = _mm256_set1_ps(v);
    for (int j = 0; j < 32; j += 8) {
        const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + j), a, _CMP_EQ_OQ));
        if (mask) return x[j + __builtin_ctz(unsigned(mask))];
    }
    return v;
}

inline void block_min_max(const float* x, float* mn, float* mx) {
    __m256 lo = _mm256_loadu_ps(x), hi = lo;
    for (int j = 8; j < 32; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
    }
    *mn = hmin(lo);
    *mx = hmax(hi);
    if (*mn == 0.0f) *mn = first_equal(x, 0.0f);
    if (*mx == 0.0f) *mx = first_equal(x, 0.0f);
}

// q[j] = int(trunc((x[j] - sub) * id + add)), clamped above by qmax when qmax >= 0.
inline void block_affine_trunc(const float* x, float sub, float id, float add, int qmax, int32_t* q) {
    const __m256 vs = _mm256_set1_ps(sub), vid = _mm256_set1_ps(id), va = _mm256_set1_ps(add);
    for (int j = 0; j < 32; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        v = _mm256_sub_ps(v, vs);  // exact for sub = +0 (x - 0 == x, also for -0)
        v = _mm256_add_ps(_mm256_mul_ps(v, vid), va);
        __m256i i = _mm256_cvttps_epi32(v);
        if (qmax >= 0) i = _mm256_min_epi32(i, _mm256_set1_epi32(qmax));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + j), i);
    }
}

void pack_nibbles(const int32_t* q, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = uint8_t((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
}

void pack_high_bits(const int32_t* q, uint8_t* qh) {
    uint32_t h = 0;
    for (int j = 0; j < 32; ++j) h |= uint32_t((q[j] & 0x10) >> 4) << j;
    std::memcpy(qh, &h, 4);
}

void quantize_row_q4_0_avx2(const float* x, block_q4_0* y, int64_t k) {
    int32_t q[32];
    for (int64_t i = 0; i < k / 32; ++i, x += 32) {
        const float d = block_signed_absmax(x) / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        block_affine_trunc(x, 0.0f, id, 8.5f, 15, q);
        pack_nibbles(q, y[i].qs);
    }
}

void quantize_row_q4_1_avx2(const float* x, block_q4_1* y, int64_t k) {
    int32_t q[32];
    for (int64_t i = 0; i < k / 32; ++i, x += 32) {
        float min, max;
        block_min_max(x, &min, &max);
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        block_affine_trunc(x, min, id, 0.5f, 15, q);
        pack_nibbles(q, y[i].qs);
    }
}

void quantize_row_q5_0_avx2(const float* x, block_q5_0* y, int64_t k) {
    int32_t q[32];
    for (int64_t i = 0; i < k / 32; ++i, x += 32) {
        const float d = block_signed_absmax(x) / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        block_affine_trunc(x, 0.0f, id, 16.5f, 31, q);
        pack_nibbles(q, y[i].qs);
        pack_high_bits(q, y[i].qh);
    }
}

void quantize_row_q5_1_avx2(const float* x, block_q5_1* y, int64_t k) {
    int32_t q[32];
    for (int64_t i = 0; i < k / 32; ++i, x += 32) {
        float min, max;
        block_min_max(x, &min, &max);
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        // the reference keeps the low 8 bits of the truncation; only bits 0-4 are stored
        block_affine_trunc(x, min, id, 0.5f, -1, q);
        pack_nibbles(q, y[i].qs);
        pack_high_bits(q, y[i].qh);
    }
}

// Rounds 32 floats times id half away from zero into int8; returns the sum of the
// stored int8 values. The int8 is the low byte of the int32 conversion, as the scalar
// (int8_t) cast compiles to; it differs from saturation only when 1/d overflowed.
inline int block_round_to_int8(const float* x, float id, int8_t* qs) {
    const __m256 vid = _mm256_set1_ps(id);
    const __m256i low_bytes = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                               0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i sum = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
        const __m256i q = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * j), vid)));
        const __m256i b = _mm256_shuffle_epi8(q, low_bytes);  // 4 bytes in each 128-bit lane
        const int32_t lo = _mm256_extract_epi32(b, 0), hi = _mm256_extract_epi32(b, 4);
        std::memcpy(qs + 8 * j, &lo, 4);
        std::memcpy(qs + 8 * j + 4, &hi, 4);
        // sign-extend the stored bytes back for the sum
        sum = _mm256_add_epi32(sum, _mm256_srai_epi32(_mm256_slli_epi32(q, 24), 24));
    }
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

template <typename Block, void (*Row)(const float*, Block*, int64_t)>
size_t rows_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row) {
    const size_t row_bytes = size_t(n_per_row / 32) * sizeof(Block);
    char* out = static_cast<char*>(dst);
    for (int64_t r = 0; r < nrow; ++r) Row(src + r * n_per_row, reinterpret_cast<Block*>(out + r * row_bytes), n_per_row);
    return size_t(nrow) * row_bytes;
}


void dequantize_row_q4_0_avx2(const void* vx, float* y, int64_t k) {
    const block_q4_0* x = static_cast<const block_q4_0*>(vx);
    const __m128i lo_mask = _mm_set1_epi8(0x0F);
    for (int64_t i = 0; i < k / 32; ++i, y += 32) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[i].d));
        const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs));
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, lo_mask), _mm_set1_epi8(8));
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), lo_mask), _mm_set1_epi8(8));
        const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int p = 0; p < 4; ++p) {
            _mm256_storeu_ps(y + 8 * p, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[p])), d));
        }
    }
}

void dequantize_row_q4_1_avx2(const void* vx, float* y, int64_t k) {
    const block_q4_1* x = static_cast<const block_q4_1*>(vx);
    const __m128i lo_mask = _mm_set1_epi8(0x0F);
    for (int64_t i = 0; i < k / 32; ++i, y += 32) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[i].d));
        const __m256 m = _mm256_set1_ps(fp16_to_fp32(x[i].m));
        const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs));
        const __m128i lo = _mm_and_si128(qs, lo_mask);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(qs, 4), lo_mask);
        const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int p = 0; p < 4; ++p) {
            const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[p]));
            _mm256_storeu_ps(y + 8 * p, _mm256_add_ps(_mm256_mul_ps(q, d), m));
        }
    }
}


// 32 five-bit values of a Q5 block, element order, as int32 in four registers.
inline void q5_values(const uint8_t* qs, const uint8_t* qh_bytes, __m256i out[4]) {
    uint32_t qh;
    std::memcpy(&qh, qh_bytes, 4);
    const __m256i bit_index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0F));
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F));
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int p = 0; p < 4; ++p) {
        const __m256i hbits = _mm256_and_si256(
            _mm256_srlv_epi32(_mm256_set1_epi32(int(qh >> (8 * p))), bit_index), _mm256_set1_epi32(1));
        out[p] = _mm256_or_si256(_mm256_cvtepu8_epi32(parts[p]), _mm256_slli_epi32(hbits, 4));
    }
}


void dequantize_row_q5_0_avx2(const void* vx, float* y, int64_t k) {
    const block_q5_0* x = static_cast<const block_q5_0*>(vx);
    for (int64_t i = 0; i < k / 32; ++i, y += 32) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[i].d));
        __m256i q[4];
        q5_values(x[i].qs, x[i].qh, q);
        for (int p = 0; p < 4; ++p) {
            const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(q[p], _mm256_set1_epi32(16)));
            _mm256_storeu_ps(y + 8 * p, _mm256_mul_ps(v, d));
        }
    }
}

void dequantize_row_q5_1_avx2(const void* vx, float* y, int64_t k) {
    const block_q5_1* x = static_cast<const block_q5_1*>(vx);
    for (int64_t i = 0; i < k / 32; ++i, y += 32) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[i].d));
        const __m256 m = _mm256_set1_ps(fp16_to_fp32(x[i].m));
        __m256i q[4];
        q5_values(x[i].qs, x[i].qh, q);
        for (int p = 0; p < 4; ++p) {
            _mm256_storeu_ps(y + 8 * p, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q[p]), d), m));
        }
    }
}

void dequantize_row_q8_0_avx2(const void* vx, float* y, int64_t k) {
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    for (int64_t i = 0; i < k / 32; ++i, y += 32) {
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[i].d));
        for (int p = 0; p < 4; ++p) {
            const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[i].qs + 8 * p));
            _mm256_storeu_ps(y + 8 * p, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
        }
    }
}

size_t quantize_q4_0_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    if (imatrix) return quantize_q4_0(src, dst, nrow, n_per_row, imatrix);
    return rows_avx2<block_q4_0, quantize_row_q4_0_avx2>(src, dst, nrow, n_per_row);
}
size_t quantize_q4_1_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    if (imatrix) return quantize_q4_1(src, dst, nrow, n_per_row, imatrix);
    return rows_avx2<block_q4_1, quantize_row_q4_1_avx2>(src, dst, nrow, n_per_row);
}
size_t quantize_q5_0_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    if (imatrix) return quantize_q5_0(src, dst, nrow, n_per_row, imatrix);
    return rows_avx2<block_q5_0, quantize_row_q5_0_avx2>(src, dst, nrow, n_per_row);
}
size_t quantize_q5_1_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    if (imatrix) return quantize_q5_1(src, dst, nrow, n_per_row, imatrix);
    return rows_avx2<block_q5_1, quantize_row_q5_1_avx2>(src, dst, nrow, n_per_row);
}

size_t quantize_q8_0_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    return rows_avx2<block_q8_0, quantize_row_q8_0_avx2>(src, dst, nrow, n_per_row);
}
size_t quantize_q8_1_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    return rows_avx2<block_q8_1, quantize_row_q8_1_avx2>(src, dst, nrow, n_per_row);
}

}  // namespace

void quantize_row_q8_0_avx2(const float* x, block_q8_0* y, int64_t k) {
    for (int64_t i = 0; i < k / 32; ++i, x += 32) {
        const float d = block_absmax(x) / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        block_round_to_int8(x, id, y[i].qs);
    }
}

void quantize_row_q8_1_avx2(const float* x, block_q8_1* y, int64_t k) {
    for (int64_t i = 0; i < k / 32; ++i, x += 32) {
        const float d = block_absmax(x) / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        const int sum = block_round_to_int8(x, id, y[i].qs);
        y[i].s = fp32_to_fp16(sum * d);
    }
}

void register_legacy_avx2(isa_kernels& k) {
    type_traits* t = k.types;
    t[GGML_TYPE_Q4_0].to_float = dequantize_row_q4_0_avx2;
    t[GGML_TYPE_Q4_0].quantize = quantize_q4_0_avx2;
    t[GGML_TYPE_Q4_1].to_float = dequantize_row_q4_1_avx2;
    t[GGML_TYPE_Q4_1].quantize = quantize_q4_1_avx2;
    t[GGML_TYPE_Q5_0].to_float = dequantize_row_q5_0_avx2;
    t[GGML_TYPE_Q5_0].quantize = quantize_q5_0_avx2;
    t[GGML_TYPE_Q5_1].to_float = dequantize_row_q5_1_avx2;
    t[GGML_TYPE_Q5_1].quantize = quantize_q5_1_avx2;
    t[GGML_TYPE_Q8_0].to_float = dequantize_row_q8_0_avx2;
    t[GGML_TYPE_Q8_0].quantize = quantize_q8_0_avx2;
    t[GGML_TYPE_Q8_1].quantize = quantize_q8_1_avx2;
}

}  // namespace pyggml
