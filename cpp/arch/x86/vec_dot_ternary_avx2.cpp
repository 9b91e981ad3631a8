// vec_dot_ternary_avx2.cpp: AVX2 twins of kernels/vec_dot_ternary.cpp (TQ1_0, TQ2_0 x Q8_K).
//
// TQ1_0: each weight vector of 32 stored trits u in {0, 1, 2} (value u - 1) goes through
// vpmaddubsw as unsigned u; pair sums stay in int16 across a super-block (8 vectors,
// |sum| <= 8 * 512), are widened once per block, and sum y (the Q8_K block sums) is
// subtracted. The trits come from the bytes times 3^n mod 256 with 16-bit multiplies
// (top_trits). TQ2_0's two-bit codes c (0..3 in arbitrary bytes) go through vpmaddubsw
// the same way.
#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"

namespace pyggml {

namespace {

// The top trits (0..2) of the bytes b of a vector times 3^n mod 256, as unsigned bytes:
// (b 3^n mod 256) * 3 >> 8, ggml's rule. Each 16-bit lane works on one byte moved to its
// high half (even bytes: shifted up; odd: masked), so vpmullw by m (3^n per lane) leaves
// (b 3^n mod 256) << 8 and vpmulhuw by 3 the trit.
inline __m256i top_trits(__m256i even_hi, __m256i odd_hi, __m256i m) {
    const __m256i three = _mm256_set1_epi16(3);
    const __m256i e = _mm256_mulhi_epu16(_mm256_mullo_epi16(even_hi, m), three);
    const __m256i o = _mm256_mulhi_epu16(_mm256_mullo_epi16(odd_hi, m), three);
    return _mm256_or_si256(e, _mm256_slli_epi16(o, 8));
}

inline __m256i even_bytes_hi(__m256i q) { return _mm256_slli_epi16(q, 8); }
inline __m256i odd_bytes_hi(__m256i q) { return _mm256_and_si256(q, _mm256_set1_epi16(int16_t(0xFF00))); }

template <int NT>
void dot_tq1_0_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_tq1_0* x = static_cast<const block_tq1_0*>(vx);
    const block_q8_K* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_K>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    // elements 160..255 as three vectors: qs[32..47] times 3^n in both lanes (n = 0,1 /
    // 2,3 / 4), then qh[j] times 3^n at byte 4 n + j of the last lane.
    const __m256i m01 = _mm256_setr_epi16(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i m23 = _mm256_setr_epi16(9, 9, 9, 9, 9, 9, 9, 9, 27, 27, 27, 27, 27, 27, 27, 27);
    const __m256i m4h = _mm256_setr_epi16(81, 81, 81, 81, 81, 81, 81, 81, 1, 1, 3, 3, 9, 9, 27, 27);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int i = 0; i < n / QK_K; ++i) {
        __m256i trits[8];
        const __m256i q = loadu(x[i].qs);
        const __m256i qe = even_bytes_hi(q), qo = odd_bytes_hi(q);
        trits[0] = top_trits(qe, qo, _mm256_set1_epi16(1));
        trits[1] = top_trits(qe, qo, _mm256_set1_epi16(3));
        trits[2] = top_trits(qe, qo, _mm256_set1_epi16(9));
        trits[3] = top_trits(qe, qo, _mm256_set1_epi16(27));
        trits[4] = top_trits(qe, qo, _mm256_set1_epi16(81));
        const __m128i tail = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs + 32));
        const __m256i tail2 = _mm256_broadcastsi128_si256(tail);
        int32_t qh;
        std::memcpy(&qh, x[i].qh, 4);
        const __m256i last = _mm256_inserti128_si256(_mm256_castsi128_si256(tail), _mm_set1_epi32(qh), 1);
        const __m256i te = even_bytes_hi(tail2), to = odd_bytes_hi(tail2);
        trits[5] = top_trits(te, to, m01);
        trits[6] = top_trits(te, to, m23);
        trits[7] = top_trits(even_bytes_hi(last), odd_bytes_hi(last), m4h);
        const float dx = h2f(x[i].d);
        for (int t = 0; t < NT; ++t) {
            // sum (trit - 1) y = sum trit * y - sum y; |pair sums| <= 512, 8 of them fit int16
            __m256i sum16 = _mm256_setzero_si256();
            for (int v = 0; v < 8; ++v) sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(trits[v], loadu(y[t][i].qs + 32 * v)));
            const __m256i sumi = _mm256_sub_epi32(_mm256_madd_epi16(sum16, ones), _mm256_madd_epi16(loadu(y[t][i].bsums), ones));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d), _mm256_cvtepi32_ps(sumi), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_tq1_0)

template <int NT>
void dot_tq2_0_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_tq2_0* x = static_cast<const block_tq2_0*>(vx);
    const block_q8_K* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_K>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i three = _mm256_set1_epi8(3);
    for (int i = 0; i < n / QK_K; ++i) {
        __m256i codes[8];  // value + 1 (0..3 in random bytes), vector 4 c + l: elements 128 c + 32 l ..
        for (int c = 0; c < 2; ++c) {
            const __m256i q = loadu(x[i].qs + 32 * c);
            for (int l = 0; l < 4; ++l) codes[4 * c + l] = _mm256_and_si256(_mm256_srli_epi16(q, 2 * l), three);
        }
        const float dx = h2f(x[i].d);
        for (int t = 0; t < NT; ++t) {
            // sum (code - 1) y = sum code * y - sum y; |pair sums| <= 762, 8 of them fit int16
            __m256i sum16 = _mm256_setzero_si256();
            for (int v = 0; v < 8; ++v) {
                sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(codes[v], loadu(y[t][i].qs + 32 * v)));
            }
            const __m256i ones = _mm256_set1_epi16(1);
            const __m256i sumi = _mm256_sub_epi32(_mm256_madd_epi16(sum16, ones), _mm256_madd_epi16(loadu(y[t][i].bsums), ones));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d), _mm256_cvtepi32_ps(sumi), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_tq2_0)

}  // namespace

void register_vec_dot_ternary_avx2(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_TQ1_0].vec_dot = dot_tq1_0;
    k.vec_dot[GGML_TYPE_TQ2_0].vec_dot = dot_tq2_0;
}

}  // namespace pyggml
