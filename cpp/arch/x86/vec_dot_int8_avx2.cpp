// vec_dot_int8_avx2.cpp: AVX2 twins of kernels/vec_dot_int8.cpp (the int8 load-time formats
// against per-token int8 activations; llm.int8's with its outliers).
//
// 32 weight and activation quants at a time through vpmaddubsw / vpmaddwd (the sign trick of
// dot_i8_pairs: the activations stay within +-127) into int32 lanes, exact as the reference's
// sums; the zero-point formats also sum the activation quants (pair_sums_i8). Row formats keep
// one int32 accumulator per token; the block formats scale each block's sum in float.
#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "quant/weight_formats.h"

namespace pyggml {

namespace {

inline __m256i sum_i8_32(__m256i q) { return _mm256_madd_epi16(pair_sums_i8(q), _mm256_set1_epi16(1)); }

inline const uint8_t* bytes(const void* p) { return static_cast<const uint8_t*>(p); }

// Row formats: header bytes H, zero point at bytes 4..7 when ZP.
template <int NT, int H, bool ZP>
void dot_row_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const int8_t* qx = reinterpret_cast<const int8_t*>(bytes(vx) + H);
    __m256i acc[NT], qsum[NT];
    for (int t = 0; t < NT; ++t) acc[t] = qsum[t] = _mm256_setzero_si256();
    for (int i = 0; i < n; i += 32) {
        const __m256i w = loadu(qx + i);
        for (int t = 0; t < NT; ++t) {
            const __m256i a = loadu(bytes(vy) + t * by + 4 + i);
            acc[t] = _mm256_add_epi32(acc[t], dot_i8_pairs(w, a));
            if (ZP) qsum[t] = _mm256_add_epi32(qsum[t], sum_i8_32(a));
        }
    }
    const float dw = load_f32(bytes(vx));
    int32_t z = 0;
    if (ZP) std::memcpy(&z, bytes(vx) + 4, 4);
    for (int t = 0; t < NT; ++t) {
        int32_t isum = hsum_i32_8(acc[t]);
        if (ZP) isum -= z * hsum_i32_8(qsum[t]);
        s[t * bs] = dw * load_f32(bytes(vy) + t * by) * float(isum);
    }
}
template <int NT>
void dot_i8_row_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_row_nt<NT, 4, false>(n, s, bs, x, y, by);
}
template <int NT>
void dot_i8z_row_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_row_nt<NT, 8, true>(n, s, bs, x, y, by);
}
PYGGML_AVX2_NT_KERNEL(dot_i8_row)
PYGGML_AVX2_NT_KERNEL(dot_i8z_row)

template <int NT, typename Block, bool ZP>
void dot_b64_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const Block* x = static_cast<const Block*>(vx);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < n / QK_I8B; ++b) {
        const __m256i w0 = loadu(x[b].qs), w1 = loadu(x[b].qs + 32);
        const __m256 d = _mm256_set1_ps(x[b].d);
        for (int t = 0; t < NT; ++t) {
            const uint8_t* q = bytes(vy) + t * by + 4 + b * QK_I8B;
            const __m256i a0 = loadu(q), a1 = loadu(q + 32);
            __m256i p = _mm256_add_epi32(dot_i8_pairs(w0, a0), dot_i8_pairs(w1, a1));
            if constexpr (ZP) {
                const __m256i qs = _mm256_add_epi32(sum_i8_32(a0), sum_i8_32(a1));
                p = _mm256_sub_epi32(p, _mm256_mullo_epi32(qs, _mm256_set1_epi32(x[b].z)));
            }
            acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]) * load_f32(bytes(vy) + t * by);
}
template <int NT>
void dot_i8_b64_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_b64_nt<NT, block_i8_64, false>(n, s, bs, x, y, by);
}
template <int NT>
void dot_i8z_b64_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_b64_nt<NT, block_i8z_64, true>(n, s, bs, x, y, by);
}
PYGGML_AVX2_NT_KERNEL(dot_i8_b64)
PYGGML_AVX2_NT_KERNEL(dot_i8z_b64)

// sum over k < n_out of q[idx[k]] * xo[k]: 8 at a time, each weight byte gathered as the top byte
// of the 4 bytes ending at it (q - 3 + idx: never before the row's 4-byte header, never past it).
inline float outlier_sum(const int8_t* q, const int32_t* idx, const float* xo, int32_t n_out) {
    __m256 acc = _mm256_setzero_ps();
    int32_t k = 0;
    for (; k + 8 <= n_out; k += 8) {
        const __m256i g = _mm256_i32gather_epi32(reinterpret_cast<const int*>(q - 3), loadu(idx + k), 1);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srai_epi32(g, 24)), _mm256_loadu_ps(xo + k), acc);
    }
    float s = hsum_8(acc);
    for (; k < n_out; ++k) s += float(q[idx[k]]) * xo[k];
    return s;
}

// llm.int8: the int8 part as dot_i8_row (activation quants at byte 8), then the batch's outliers.
template <int NT>
void dot_llm_int8_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const int8_t* qx = reinterpret_cast<const int8_t*>(bytes(vx) + 4);
    __m256i acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_si256();
    for (int i = 0; i < n; i += 32) {
        const __m256i w = loadu(qx + i);
        for (int t = 0; t < NT; ++t) acc[t] = _mm256_add_epi32(acc[t], dot_i8_pairs(w, loadu(bytes(vy) + t * by + 8 + i)));
    }
    const float dw = load_f32(bytes(vx));
    for (int t = 0; t < NT; ++t) {
        const uint8_t* y = bytes(vy) + t * by;
        int32_t n_out;
        std::memcpy(&n_out, y + 4, 4);
        const int32_t* idx = reinterpret_cast<const int32_t*>(y + 8 + n);
        const float* xo = reinterpret_cast<const float*>(y + 8 + 5 * size_t(n));
        const float outliers = n_out ? outlier_sum(qx, idx, xo, n_out) : 0.0f;
        s[t * bs] = dw * load_f32(y) * float(hsum_i32_8(acc[t])) + dw * outliers;
    }
}
PYGGML_AVX2_NT_KERNEL(dot_llm_int8)

}  // namespace

void register_vec_dot_int8_avx2(isa_kernels& k) {
    k.vec_dot[PYGGML_TYPE_I8_ROW].vec_dot = dot_i8_row;
    k.vec_dot[PYGGML_TYPE_I8Z_ROW].vec_dot = dot_i8z_row;
    k.vec_dot[PYGGML_TYPE_I8_B64].vec_dot = dot_i8_b64;
    k.vec_dot[PYGGML_TYPE_I8Z_B64].vec_dot = dot_i8z_b64;
    k.vec_dot[PYGGML_TYPE_LLM_INT8].vec_dot = dot_llm_int8;
}

}  // namespace pyggml
