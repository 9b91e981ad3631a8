// vec_dot_fp4_avx2.cpp: AVX2 twins of kernels/vec_dot_fp4.cpp (MXFP4, NVFP4 x Q8_0).
//
// The E2M1 nibbles are looked up in kvalues_fp4 with vpshufb (|values| <= 12), multiplied
// with the activations by vpmaddubsw/vpmaddwd into int32 lanes. MXFP4: one scale per 32,
// the block's 8 lanes scaled at once. NVFP4: 32 elements are two sub-blocks of 16, whose
// sums fall in lanes 0-3 and 4-7; each half is scaled by its own UE4M3 scale, the block's
// four scales converted together.
#include <cstring>

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
void dot_mxfp4_tokens_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
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
PYGGML_AVX2_NT_KERNEL(dot_mxfp4_tokens)

// The halved UE4M3 scales of two blocks (codes at a and at b) in lanes 0-3 and 4-7:
// ue4m3_to_fp32_half lane by lane, built from the bits as it is (normal: (code & 0x7F) << 20
// plus the exponent bias; exponent field 0: mantissa * 2^-10; the code 0x7F: zero), so
// bit-exact without a branch per scale.
inline __m256 ue4m3x8_half(const uint8_t* a, const uint8_t* b) {
    int32_t wa, wb;
    std::memcpy(&wa, a, 4);
    std::memcpy(&wb, b, 4);
    const __m256i v = _mm256_cvtepu8_epi32(_mm_insert_epi32(_mm_cvtsi32_si128(wa), wb, 1));
    const __m256i normal = _mm256_add_epi32(_mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x7F)), 20),
                                            _mm256_set1_epi32(119 << 23));
    const __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(7))),
                                     _mm256_set1_ps(0.0009765625f));
    const __m256i is_sub = _mm256_cmpeq_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x78)), _mm256_setzero_si256());
    const __m256 r = _mm256_blendv_ps(_mm256_castsi256_ps(normal), sub, _mm256_castsi256_ps(is_sub));
    return _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v, _mm256_set1_epi32(0x7F))), r);
}

// Per block of 64: the 32 bytes hold sub-blocks 0..3 as 8 bytes each (low nibbles are
// elements 0..7, high nibbles 8..15). Unpacking the two 128-bit halves at once gives
// sub-blocks (0 | 2) and (1 | 3); one lane swap puts them in Q8_0 order (0 1 | 2 3). The
// four scales times the two activation scales form (d0 dy0, d1 dy0, d2 dy1, d3 dy1), spread
// over each product's lanes 0-3 and 4-7 by one permute.
template <int NT>
void dot_nvfp4_tokens_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_nvfp4* x = static_cast<const block_nvfp4*>(vx);
    const block_q8_0* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_0>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i values = fp4_table();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i lanes01 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    const __m256i lanes23 = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
    for (int ib = 0; ib < n / QK_NVFP4; ++ib) {
        const __m256i b = loadu(x[ib].qs);
        const __m256i lo = _mm256_and_si256(b, m4), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
        const __m256i s02 = _mm256_shuffle_epi8(values, _mm256_unpacklo_epi64(lo, hi));
        const __m256i s13 = _mm256_shuffle_epi8(values, _mm256_unpackhi_epi64(lo, hi));
        const __m256i q0 = _mm256_permute2x128_si256(s02, s13, 0x20);  // sub-blocks 0, 1
        const __m256i q1 = _mm256_permute2x128_si256(s02, s13, 0x31);  // sub-blocks 2, 3
        const __m128 dx = _mm256_castps256_ps128(ue4m3x8_half(x[ib].d, x[ib].d));
        for (int t = 0; t < NT; ++t) {
            const block_q8_0* yb = y[t] + 2 * ib;
            const __m128 dy = _mm_cvtph_ps(_mm_setr_epi16(short(yb[0].d), short(yb[0].d), short(yb[1].d),
                                                          short(yb[1].d), 0, 0, 0, 0));
            const __m256 d = _mm256_castps128_ps256(_mm_mul_ps(dx, dy));
            acc[t] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(d, lanes01),
                                     _mm256_cvtepi32_ps(dot_i8_pairs(q0, loadu(yb[0].qs))), acc[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(d, lanes23),
                                     _mm256_cvtepi32_ps(dot_i8_pairs(q1, loadu(yb[1].qs))), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_nvfp4_tokens)

// ---- one token, kMatvecRows rows per pass (matvec) ------------------------------------
//
// A pass shares each activation block (its load, scale and offset sums) between the rows.
// The E2M1 table is biased by +12 to be unsigned, so a row's block takes one vpmaddubsw
// and the shared 12 * y pair sums are subtracted (exact: |pair sums| <= 2 * 24 * 128).
// MXFP4's scale is one load from a table of its 256 codes.
constexpr int kFp4Bias = 12;

struct e8m0_table {
    uint32_t bits[256];
};
constexpr e8m0_table make_e8m0_table() {
    e8m0_table t{};
    for (int e = 0; e < 256; ++e) t.bits[e] = e8m0_half_bits(uint8_t(e));
    return t;
}
constexpr e8m0_table kE8M0Half = make_e8m0_table();

inline __m256i biased_fp4_table() { return _mm256_add_epi8(fp4_table(), _mm256_set1_epi8(kFp4Bias)); }

// Pair sums of unsigned (biased) weight bytes with y, less the bias terms, as 8 int32.
inline __m256i biased_dot(__m256i qu, __m256i yv, __m256i bias_y) {
    return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(qu, yv), bias_y), _mm256_set1_epi16(1));
}

template <int R>
struct matvec_mxfp4 {
    static void run(int n, float* s, size_t ss, const char* x, size_t bx, const void* vy) {
        const block_q8_0* y = static_cast<const block_q8_0*>(vy);
        const block_mxfp4* xr[R];
        __m256 acc[R];
        for (int r = 0; r < R; ++r) {
            xr[r] = reinterpret_cast<const block_mxfp4*>(x + r * bx);
            acc[r] = _mm256_setzero_ps();
        }
        const __m256i values = biased_fp4_table();
        for (int ib = 0; ib < n / QK_MXFP4; ++ib) {
            const __m256i yv = loadu(y[ib].qs);
            const __m256i bias_y = _mm256_maddubs_epi16(_mm256_set1_epi8(kFp4Bias), yv);
            const __m256 dy = _mm256_set1_ps(h2f(y[ib].d));
            for (int r = 0; r < R; ++r) {
                const __m256i p = biased_dot(_mm256_shuffle_epi8(values, nibbles_32(xr[r][ib].qs)), yv, bias_y);
                const __m256 dx = _mm256_castsi256_ps(_mm256_set1_epi32(int(kE8M0Half.bits[xr[r][ib].e])));
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dx, dy), _mm256_cvtepi32_ps(p), acc[r]);
            }
        }
        for (int r = 0; r < R; ++r) s[r * ss] = hsum_8(acc[r]);
    }
};

// NVFP4: a row's 32 bytes unpack to sub-blocks (0 | 2) and (1 | 3) (see above); instead of
// swapping the weights' lanes in every row, the pass pairs them with the activations
// arranged once the same way. Scales are converted for two rows at a time and multiplied by
// (dy0, dy0, dy1, dy1) in each half; one permute spreads a row's scale over its product lanes.
template <int R>
struct matvec_nvfp4 {
    static void run(int n, float* s, size_t ss, const char* x, size_t bx, const void* vy) {
        const block_q8_0* y = static_cast<const block_q8_0*>(vy);
        const block_nvfp4* xr[R];
        __m256 acc[R];
        for (int r = 0; r < R; ++r) {
            xr[r] = reinterpret_cast<const block_nvfp4*>(x + r * bx);
            acc[r] = _mm256_setzero_ps();
        }
        const __m256i values = biased_fp4_table();
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        const __m256i lanes02[2] = {_mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2), _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6)};
        const __m256i lanes13[2] = {_mm256_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3), _mm256_setr_epi32(5, 5, 5, 5, 7, 7, 7, 7)};
        for (int ib = 0; ib < n / QK_NVFP4; ++ib) {
            const block_q8_0* yb = y + 2 * ib;
            const __m256i y0 = loadu(yb[0].qs), y1 = loadu(yb[1].qs);
            const __m256i y02 = _mm256_permute2x128_si256(y0, y1, 0x20);  // sub-blocks 0 | 2
            const __m256i y13 = _mm256_permute2x128_si256(y0, y1, 0x31);  // sub-blocks 1 | 3
            const __m256i bias02 = _mm256_maddubs_epi16(_mm256_set1_epi8(kFp4Bias), y02);
            const __m256i bias13 = _mm256_maddubs_epi16(_mm256_set1_epi8(kFp4Bias), y13);
            const short d0 = short(yb[0].d), d1 = short(yb[1].d);
            const __m256 dy = _mm256_cvtph_ps(_mm_setr_epi16(d0, d0, d1, d1, d0, d0, d1, d1));
            for (int r = 0; r < R; r += 2) {
                const int r1 = r + 1 < R ? r + 1 : r;
                const __m256 d = _mm256_mul_ps(ue4m3x8_half(xr[r][ib].d, xr[r1][ib].d), dy);
                for (int h = 0; h < 2 && r + h < R; ++h) {
                    const __m256i b = loadu(xr[r + h][ib].qs);
                    const __m256i lo = _mm256_and_si256(b, m4), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
                    const __m256i p02 = biased_dot(_mm256_shuffle_epi8(values, _mm256_unpacklo_epi64(lo, hi)), y02, bias02);
                    const __m256i p13 = biased_dot(_mm256_shuffle_epi8(values, _mm256_unpackhi_epi64(lo, hi)), y13, bias13);
                    acc[r + h] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(d, lanes02[h]), _mm256_cvtepi32_ps(p02), acc[r + h]);
                    acc[r + h] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(d, lanes13[h]), _mm256_cvtepi32_ps(p13), acc[r + h]);
                }
            }
        }
        for (int r = 0; r < R; ++r) s[r * ss] = hsum_8(acc[r]);
    }
};

void dot_mxfp4(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    matvec_or_rows<matvec_mxfp4, dot_mxfp4_tokens>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_nvfp4(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    matvec_or_rows<matvec_nvfp4, dot_nvfp4_tokens>(n, s, bs, x, bx, nr, y, by, nt);
}

}  // namespace

void register_vec_dot_fp4_avx2(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_MXFP4].vec_dot = dot_mxfp4;
    k.vec_dot[GGML_TYPE_NVFP4].vec_dot = dot_nvfp4;
}

}  // namespace pyggml
