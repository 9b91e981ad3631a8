// vec_dot_avx2.cpp: AVX2 (+FMA, F16C) dot kernels; same contract as kernels/vec_dot.cpp.
//
// Each kernel is a template over NT, the number of activation rows: a weight block
// is loaded and decoded once, then multiplied with NT activation blocks. Integer
// dot products use vpmaddubsw (unsigned x signed bytes, pairwise to int16; every
// operand range below keeps the pair sums far from int16 saturation) and vpmaddwd.
// Per-block results are accumulated in float with FMA, 8 lanes wide, so the sum
// order differs from the scalar reference by float rounding only.
//
// This file is compiled with -mavx2 -mfma -mf16c -mbmi2 and must only be called
// after the dispatcher (core/dispatch.cpp) has checked those features. It includes no
// header with non-static inline functions, so no AVX2 code leaks into generic code.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "quant/kquant_scales.h"

namespace pyggml {

namespace {

// ---- helpers ---------------------------------------------------------------------

// All 65536 fp16 values as float32, built once. A lookup costs one load instead of
// three vector-pipe operations (insert, convert, move). Used for the activation scales,
// whose few distinct entries stay in L1, and for the weight scales of the matvec
// passes, whose loops are bound by the vector pipes (their lookups scatter over the
// table and mostly hit L2, which out-of-order execution hides there).
const float* fp16_table() {
    static const float* const table = [] {
        static float t[1 << 16];
        for (int i = 0; i < (1 << 16); ++i) t[i] = _cvtsh_ss(uint16_t(i));
        return t;
    }();
    return table;
}

// ---- float formats -------------------------------------------------------------

inline __m256 load8_f32(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load8_bf16(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
inline float scalar_f32(const float* p, int i) { return p[i]; }
inline float scalar_f16(const uint16_t* p, int i) { return h2f(p[i]); }
inline float scalar_bf16(const uint16_t* p, int i) {
    const uint32_t u = uint32_t(p[i]) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// 32 elements per step; U independent accumulators per row hide the FMA latency.
template <int NT, typename E, __m256 (*Load)(const E*), float (*Scalar)(const E*, int)>
void dot_float_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    constexpr int U = NT == 1 ? 4 : (NT == 2 ? 2 : 1);
    const E* x = static_cast<const E*>(vx);
    const E* y[NT];
    __m256 acc[NT][U];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<E>(vy, by, t);
        for (int u = 0; u < U; ++u) acc[t][u] = _mm256_setzero_ps();
    }
    const int n32 = n & ~31;
    for (int i = 0; i < n32; i += 32) {
        for (int k = 0; k < 4; ++k) {
            const __m256 xv = Load(x + i + 8 * k);
            for (int t = 0; t < NT; ++t) acc[t][k % U] = _mm256_fmadd_ps(xv, Load(y[t] + i + 8 * k), acc[t][k % U]);
        }
    }
    for (int t = 0; t < NT; ++t) {
        for (int u = 1; u < U; ++u) acc[t][0] = _mm256_add_ps(acc[t][0], acc[t][u]);
        float sum = hsum_8(acc[t][0]);
        for (int i = n32; i < n; ++i) sum += Scalar(x, i) * Scalar(y[t], i);
        s[t * bs] = sum;
    }
}

template <int NT>
void dot_f32_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_float_nt<NT, float, load8_f32, scalar_f32>(n, s, bs, x, y, by);
}
template <int NT>
void dot_f16_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_float_nt<NT, uint16_t, load8_f16, scalar_f16>(n, s, bs, x, y, by);
}
template <int NT>
void dot_bf16_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_float_nt<NT, uint16_t, load8_bf16, scalar_bf16>(n, s, bs, x, y, by);
}
PYGGML_AVX2_NT_KERNEL(dot_f32)
PYGGML_AVX2_NT_KERNEL(dot_f16)
PYGGML_AVX2_NT_KERNEL(dot_bf16)

// ---- legacy blocks with Q8_0 activations (signed weights) ------------------------

// Independent float accumulators per row: one 32-element block is too little work to
// hide the 4-cycle FMA latency of a single chain when only one token is computed.
template <int NT>
constexpr int kAccumulators = NT == 1 ? 4 : (NT == 2 ? 2 : 1);

template <int NT>
inline __m256 sum_accumulators(const __m256* acc) {
    __m256 s = acc[0];
    for (int a = 1; a < kAccumulators<NT>; ++a) s = _mm256_add_ps(s, acc[a]);
    return s;
}

inline __m256i decode_q4_0(const block_q4_0& b) { return _mm256_sub_epi8(nibbles_32(b.qs), _mm256_set1_epi8(8)); }
inline __m256i decode_q5_0(const block_q5_0& b) {
    // (nibble | bit << 4) - 16: keep the nibble where the bit is set, else subtract 16.
    const __m256i hi = _mm256_and_si256(clear_bits_to_bytes_32(b.qh), _mm256_set1_epi8(char(0xF0)));
    return _mm256_or_si256(nibbles_32(b.qs), hi);
}
inline __m256i decode_q8_0(const block_q8_0& b) { return loadu(b.qs); }
inline __m256i decode_iq4_nl(const block_iq4_nl& b) {
    const __m256i values =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
    return _mm256_shuffle_epi8(values, nibbles_32(b.qs));
}

template <int NT, typename B, __m256i (*Decode)(const B&)>
void dot_signed_q8_0_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const B* x = static_cast<const B*>(vx);
    const float* fp16 = fp16_table();
    const block_q8_0* y[NT];
    __m256 acc[NT][kAccumulators<NT>];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_0>(vy, by, t);
        for (int a = 0; a < kAccumulators<NT>; ++a) acc[t][a] = _mm256_setzero_ps();
    }
    // One block into accumulator a. The a loop below is fully unrolled, so every
    // index is a constant and the accumulators live in registers.
    auto step = [&](int ib, int a) __attribute__((always_inline)) {
        const __m256i qx = Decode(x[ib]);
        const __m256i ax = _mm256_sign_epi8(qx, qx);
        const __m256 dx = _mm256_set1_ps(h2f(x[ib].d));
        for (int t = 0; t < NT; ++t) {
            const __m256i sy = _mm256_sign_epi8(loadu(y[t][ib].qs), qx);
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
            const __m256 d = _mm256_mul_ps(dx, _mm256_broadcast_ss(fp16 + y[t][ib].d));
            acc[t][a] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[t][a]);
        }
    };
    const int nb = n / 32;
    int ib = 0;
    for (; ib + kAccumulators<NT> <= nb; ib += kAccumulators<NT>) {
#pragma GCC unroll 4
        for (int a = 0; a < kAccumulators<NT>; ++a) step(ib + a, a);
    }
    for (; ib < nb; ++ib) step(ib, 0);
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(sum_accumulators<NT>(acc[t]));
}

template <int NT>
void dot_q4_0_single_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_signed_q8_0_nt<NT, block_q4_0, decode_q4_0>(n, s, bs, x, y, by);
}
template <int NT>
void dot_q5_0_single_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_signed_q8_0_nt<NT, block_q5_0, decode_q5_0>(n, s, bs, x, y, by);
}
template <int NT>
void dot_q8_0_tokens_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_signed_q8_0_nt<NT, block_q8_0, decode_q8_0>(n, s, bs, x, y, by);
}
template <int NT>
void dot_iq4_nl_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_signed_q8_0_nt<NT, block_iq4_nl, decode_iq4_nl>(n, s, bs, x, y, by);
}
PYGGML_AVX2_NT_KERNEL(dot_q8_0_tokens)
PYGGML_AVX2_NT_KERNEL(dot_iq4_nl)

// The offset types as unsigned quants u = q + Offset: sum q * y = sum u * y - Offset * sum y,
// and the Offset * y pair sums depend on the activations only (shared by all rows of a
// pass). The int16 pair sums equal those of the signed kernels exactly.
inline __m256i unsigned_q4_0(const block_q4_0& b) { return nibbles_32(b.qs); }
inline __m256i unsigned_q5_0(const block_q5_0& b) {
    return _mm256_or_si256(nibbles_32(b.qs), _mm256_andnot_si256(clear_bits_to_bytes_32(b.qh), _mm256_set1_epi8(0x10)));
}

PYGGML_AVX2_NT_KERNEL(dot_q4_0_single)
PYGGML_AVX2_NT_KERNEL(dot_q5_0_single)

// ---- one token, four rows per pass (matvec) for Q4_0, Q5_0 and Q8_0 -------------------
//
// A pass shares each activation block (its load, scale and, for the offset types, the
// Offset * y pair sums) between kMatvecRows weight rows, one float accumulator per row.
// The weight scales come from the fp16 table: a load, no vector-pipe work, and the
// multiply and convert pipes are what bounds these loops. Each row's sum is formed by
// the same operations in the same order whatever pass it is in, so grouping rows never
// changes a result.

// The int32 pair sums (8 lanes) of one weight block with activation block yv; off is
// the shared Offset * y term of the offset types.
inline __m256i block_dot_q4_0(const block_q4_0& b, __m256i yv, __m256i off) {
    return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(unsigned_q4_0(b), yv), off), _mm256_set1_epi16(1));
}
inline __m256i block_dot_q5_0(const block_q5_0& b, __m256i yv, __m256i off) {
    return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(unsigned_q5_0(b), yv), off), _mm256_set1_epi16(1));
}
inline __m256i block_dot_q8_0(const block_q8_0& b, __m256i yv, __m256i) { return dot_i8_pairs(loadu(b.qs), yv); }

// R rows, bx bytes apart; s[r * ss] = dot(row r, y).
template <int R, typename B, __m256i (*BlockDot)(const B&, __m256i, __m256i), int Offset>
void matvec_rows_q8_0(int n, float* s, size_t ss, const char* x, size_t bx, const block_q8_0* y) {
    const B* xr[R];
    __m256 acc[R];
    for (int r = 0; r < R; ++r) {
        xr[r] = reinterpret_cast<const B*>(x + r * bx);
        acc[r] = _mm256_setzero_ps();
    }
    const float* fp16 = fp16_table();
    const int nb = n / 32;
    for (int ib = 0; ib < nb; ++ib) {
        const __m256i yv = loadu(y[ib].qs);
        const __m256i off = Offset ? _mm256_maddubs_epi16(_mm256_set1_epi8(Offset), yv) : _mm256_setzero_si256();
        const __m256 dy = _mm256_broadcast_ss(fp16 + y[ib].d);
        for (int r = 0; r < R; ++r) {
            const __m256i p = BlockDot(xr[r][ib], yv, off);
            const __m256 d = _mm256_mul_ps(_mm256_broadcast_ss(fp16 + xr[r][ib].d), dy);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) s[r * ss] = hsum_8(acc[r]);
}

template <int R>
struct matvec_q4_0 {
    static void run(int n, float* s, size_t ss, const char* x, size_t bx, const void* y) {
        matvec_rows_q8_0<R, block_q4_0, block_dot_q4_0, 8>(n, s, ss, x, bx, static_cast<const block_q8_0*>(y));
    }
};
template <int R>
struct matvec_q5_0 {
    static void run(int n, float* s, size_t ss, const char* x, size_t bx, const void* y) {
        matvec_rows_q8_0<R, block_q5_0, block_dot_q5_0, 16>(n, s, ss, x, bx, static_cast<const block_q8_0*>(y));
    }
};
template <int R>
struct matvec_q8_0 {
    static void run(int n, float* s, size_t ss, const char* x, size_t bx, const void* y) {
        matvec_rows_q8_0<R, block_q8_0, block_dot_q8_0, 0>(n, s, ss, x, bx, static_cast<const block_q8_0*>(y));
    }
};

void dot_q4_0(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    matvec_or_rows<matvec_q4_0, dot_q4_0_single>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q5_0(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    matvec_or_rows<matvec_q5_0, dot_q5_0_single>(n, s, bs, x, bx, nr, y, by, nt);
}
void dot_q8_0(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    matvec_or_rows<matvec_q8_0, dot_q8_0_tokens>(n, s, bs, x, bx, nr, y, by, nt);
}

// ---- legacy blocks with a min, Q8_1 activations (unsigned weights) --------------

inline __m256i decode_q4_1(const block_q4_1& b) { return nibbles_32(b.qs); }
inline __m256i decode_q5_1(const block_q5_1& b) {
    const __m256i hi = _mm256_andnot_si256(clear_bits_to_bytes_32(b.qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nibbles_32(b.qs), hi);
}

template <int NT, typename B, __m256i (*Decode)(const B&)>
void dot_min_q8_1_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const B* x = static_cast<const B*>(vx);
    const float* fp16 = fp16_table();
    const block_q8_1* y[NT];
    __m256 acc[NT][kAccumulators<NT>];
    float summs[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_1>(vy, by, t);
        for (int a = 0; a < kAccumulators<NT>; ++a) acc[t][a] = _mm256_setzero_ps();
        summs[t] = 0.0f;
    }
    auto step = [&](int ib, int a) __attribute__((always_inline)) {
        const __m256i qx = Decode(x[ib]);
        const __m256 dx = _mm256_set1_ps(h2f(x[ib].d));
        const float mx = h2f(x[ib].m);
        for (int t = 0; t < NT; ++t) {
            const __m256i p = dot_u8_pairs(qx, loadu(y[t][ib].qs));
            const __m256 d = _mm256_mul_ps(dx, _mm256_broadcast_ss(fp16 + y[t][ib].d));
            acc[t][a] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[t][a]);
            summs[t] += mx * fp16[y[t][ib].s];
        }
    };
    const int nb = n / 32;
    int ib = 0;
    for (; ib + kAccumulators<NT> <= nb; ib += kAccumulators<NT>) {
#pragma GCC unroll 4
        for (int a = 0; a < kAccumulators<NT>; ++a) step(ib + a, a);
    }
    for (; ib < nb; ++ib) step(ib, 0);
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(sum_accumulators<NT>(acc[t])) + summs[t];
}

template <int NT>
void dot_q4_1_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_min_q8_1_nt<NT, block_q4_1, decode_q4_1>(n, s, bs, x, y, by);
}
template <int NT>
void dot_q5_1_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_min_q8_1_nt<NT, block_q5_1, decode_q5_1>(n, s, bs, x, y, by);
}
PYGGML_AVX2_NT_KERNEL(dot_q4_1)
PYGGML_AVX2_NT_KERNEL(dot_q5_1)

// ---- k-quants ----------------------------------------------------------------------

// Broadcast int16 lane k of a 128-bit vector to all 16 lanes of a 256-bit one.
inline __m256i splat_i16(__m256i v_both_lanes, int k) {
    return _mm256_shuffle_epi8(v_both_lanes, _mm256_set1_epi16(short(((2 * k + 1) << 8) | (2 * k))));
}

// 16 int16: lanes 0..7 = scales[k], lanes 8..15 = scales[k + 1] (for one 32-element chunk
// whose two halves have their own 16-element scales). scales: 16 int8.
inline __m256i pair_scales(__m128i scales, int k) {
    const __m128i shuf = _mm_set_epi64x(0x0101010101010101LL * (k + 1), 0x0101010101010101LL * k);
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, shuf));
}

// Sum over 32-element sub-blocks of mins[j] * (bsums[2j] + bsums[2j+1]), as 4 int32.
inline __m128i mins_dot_bsums(__m128i mins16, const int16_t* bsums) {
    const __m256i b = loadu(bsums);
    const __m128i pair = _mm_hadd_epi16(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
    return _mm_madd_epi16(mins16, pair);
}

// Q4_K/Q5_K scales as 8 int16 scales (low) and 8 int16 mins (high half).
inline __m256i scales_mins_k4(const uint8_t* q) {
    constexpr uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    uint32_t u[4];
    std::memcpy(u, q, 12);
    u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const uint32_t mins_lo = u[1] & kmask1;
    u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    u[2] = mins_lo;
    u[0] &= kmask1;
    return _mm256_cvtepu8_epi16(_mm_set_epi32(int(u[3]), int(u[2]), int(u[1]), int(u[0])));
}

template <int NT, bool Q5>
void dot_q45_K_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    using B = typename std::conditional<Q5, block_q5_K, block_q4_K>::type;
    const B* x = static_cast<const B*>(vx);
    const block_q8_K* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_K>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int i = 0; i < n / QK_K; ++i) {
        const __m256i ms = scales_mins_k4(x[i].scales);
        const __m128i mins = _mm256_extracti128_si256(ms, 1);
        const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(ms));
        __m256i hmask = _mm256_setzero_si256();
        if constexpr (Q5) hmask = loadu(x[i].qh);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int j = 0; j < QK_K / 64; ++j) {
            const __m256i bits = loadu(x[i].qs + 32 * j);
            __m256i ql = _mm256_and_si256(bits, m4);
            __m256i qh = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if constexpr (Q5) {
                const __m256i b0 = _mm256_set1_epi8(char(1 << (2 * j))), b1 = _mm256_set1_epi8(char(2 << (2 * j)));
                const __m256i h0 = _mm256_cmpeq_epi8(_mm256_and_si256(hmask, b0), b0);
                const __m256i h1 = _mm256_cmpeq_epi8(_mm256_and_si256(hmask, b1), b1);
                ql = _mm256_or_si256(ql, _mm256_and_si256(h0, _mm256_set1_epi8(0x10)));
                qh = _mm256_or_si256(qh, _mm256_and_si256(h1, _mm256_set1_epi8(0x10)));
            }
            const __m256i sl = splat_i16(scales, 2 * j), sh = splat_i16(scales, 2 * j + 1);
            for (int t = 0; t < NT; ++t) {
                const __m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(ql, loadu(y[t][i].qs + 64 * j)));
                const __m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(qh, loadu(y[t][i].qs + 64 * j + 32)));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(pl, ph));
                keep_in_register(sumi[t]);
            }
        }
        const float dx = h2f(x[i].d), mx = h2f(x[i].dmin);
        for (int t = 0; t < NT; ++t) {
            // the mins term goes into the low 4 lanes of the same accumulator
            const __m256i pm = _mm256_zextsi128_si256(mins_dot_bsums(mins, y[t][i].bsums));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(-mx * y[t][i].d), _mm256_cvtepi32_ps(pm), acc[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}

template <int NT>
void dot_q4_K_tokens_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_q45_K_nt<NT, false>(n, s, bs, x, y, by);
}
template <int NT>
void dot_q5_K_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_q45_K_nt<NT, true>(n, s, bs, x, y, by);
}
PYGGML_AVX2_NT_KERNEL(dot_q4_K_tokens)

// ---- one token, four rows per pass (matvec) for Q4_K ---------------------------------
//
// Passes as for Q4_0 (four sequential row streams, see matvec_or_rows); the activation
// side of a super-block (the 32-element sums of the bsums, the scale) is shared by the
// pass's rows, the packed scales are unpacked with byte shuffles and the super-block
// scales come from the fp16 table, which keeps the multiply and convert pipes for the
// quants.

// 12 packed bytes -> 16 bytes: the 8 six-bit scales, then the 8 six-bit mins (the rule
// of unpack_scales_mins_k4). Reads 16 bytes from q.
inline __m128i scales_mins_k4_bytes(const uint8_t* q) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    // low parts: q[0..3] & 63, q[8..11] & 15, q[4..7] & 63, q[8..11] >> 4
    const __m128i a = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i lo = _mm_or_si128(
        _mm_and_si128(a, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0)),
        _mm_and_si128(_mm_srli_epi16(a, 4), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15)));
    // high parts of scales and mins 4..7: (q[0..3] >> 6) << 4 and (q[4..7] >> 6) << 4
    const __m128i b = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    return _mm_or_si128(lo, _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30)));
}

// R rows, bx bytes apart; s[r * ss] = dot(row r, y).
template <int R>
void matvec_rows_q4_K(int n, float* s, size_t ss, const char* x, size_t bx, const block_q8_K* y) {
    const block_q4_K* xr[R];
    __m256 acc[R];
    for (int r = 0; r < R; ++r) {
        xr[r] = reinterpret_cast<const block_q4_K*>(x + r * bx);
        acc[r] = _mm256_setzero_ps();
    }
    const float* fp16 = fp16_table();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int i = 0; i < n / QK_K; ++i) {
        const block_q8_K& yb = y[i];
        // sums of the 8 sub-blocks of 32 activations, as int32 (|sum| < 2^15)
        const __m256i ysum = _mm256_madd_epi16(loadu(yb.bsums), _mm256_set1_epi16(1));
        for (int r = 0; r < R; ++r) {
            const block_q4_K& b = xr[r][i];
            const __m128i sm = scales_mins_k4_bytes(b.scales);
            const __m256i sc = _mm256_broadcastsi128_si256(sm);
            __m256i sumi = _mm256_setzero_si256();
            for (int j = 0; j < QK_K / 64; ++j) {
                const __m256i bits = loadu(b.qs + 32 * j);
                const __m256i ql = _mm256_and_si256(bits, m4);
                const __m256i qh = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
                // scale k zero-extended to int16 in every lane
                const __m256i sl = _mm256_shuffle_epi8(sc, _mm256_set1_epi16(short(0x8000 | (2 * j))));
                const __m256i sh = _mm256_shuffle_epi8(sc, _mm256_set1_epi16(short(0x8000 | (2 * j + 1))));
                const __m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(ql, loadu(yb.qs + 64 * j)));
                const __m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(qh, loadu(yb.qs + 64 * j + 32)));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
            }
            // mins as int32 lanes (high int16 halves zero) times the sub-block sums
            const __m256i pm = _mm256_madd_epi16(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8)), ysum);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(fp16[b.d] * yb.d), _mm256_cvtepi32_ps(sumi), acc[r]);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(-fp16[b.dmin] * yb.d), _mm256_cvtepi32_ps(pm), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) s[r * ss] = hsum_8(acc[r]);
}

template <int R>
struct matvec_q4_K {
    static void run(int n, float* s, size_t ss, const char* x, size_t bx, const void* y) {
        matvec_rows_q4_K<R>(n, s, ss, x, bx, static_cast<const block_q8_K*>(y));
    }
};

void dot_q4_K(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    matvec_or_rows<matvec_q4_K, dot_q4_K_tokens>(n, s, bs, x, bx, nr, y, by, nt);
}
PYGGML_AVX2_NT_KERNEL(dot_q5_K)

// Q6_K: sum sc * (q - 32) * q8 = sum sc * q * q8 - 32 * sum_g sc[g] * bsums[g]; the
// scales are per 16 elements, exactly the Q8_K bsums groups, so the offset costs one
// vpmaddwd per super-block.

// The 6-bit values 0..63 of the four 32-element quarters of half h of a super-block.
// The two high bits of quarter k sit at bits 2k, 2k + 1 of qh; one 16-bit shift brings
// them to bits 4, 5 and one mask keeps them (bits shifted across the byte boundary land
// outside the mask).
inline void q6_K_quarters(const block_q6_K& b, int h, __m256i* q) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const __m256i l0 = loadu(b.ql + 64 * h), l1 = loadu(b.ql + 64 * h + 32);
    const __m256i hb = loadu(b.qh + 32 * h);
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, m30));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
}

// Half h's 8 scales as int16 in both 128-bit lanes.
inline __m256i q6_K_half_scales(__m128i scales, int h) {
    return _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(h ? _mm_unpackhi_epi64(scales, scales) : scales));
}

// The scales of quarter k from q6_K_half_scales: low lane scale 2k (elements 0..15),
// high lane scale 2k + 1.
inline __m256i q6_K_quarter_scales(__m256i sc8, int k) {
    const __m256i sel = _mm256_setr_epi8(4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k,
                                         4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k + 2,
                                         4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3,
                                         4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2,
                                         4 * k + 3);
    return _mm256_shuffle_epi8(sc8, sel);
}

template <int NT>
void dot_q6_K_tokens_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_q6_K* x = static_cast<const block_q6_K*>(vx);
    const block_q8_K* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_K>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    for (int i = 0; i < n / QK_K; ++i) {
        const __m128i scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
        const __m256i scales16 = _mm256_cvtepi8_epi16(scales);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) {
            const __m256i offset = _mm256_madd_epi16(scales16, loadu(y[t][i].bsums));
            sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
        }
        for (int h = 0; h < 2; ++h) {
            const __m256i sc8 = q6_K_half_scales(scales, h);
            __m256i q[4];
            q6_K_quarters(x[i], h, q);
            for (int k = 0; k < 4; ++k) {
                const __m256i sc = q6_K_quarter_scales(sc8, k);
                for (int t = 0; t < NT; ++t) {
                    const __m256i p = _mm256_maddubs_epi16(q[k], loadu(y[t][i].qs + 128 * h + 32 * k));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(sc, p));
                    keep_in_register(sumi[t]);
                }
            }
        }
        const float dx = h2f(x[i].d);
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_q6_K_tokens)

// One token reads two Q6_K rows side by side; each row's block 6 ahead (1260 bytes) is
// asked for explicitly: the hardware prefetchers alone leave the pass waiting on memory.
// Prefetches past the end of a row are harmless. Two streams and 6 blocks ahead were the
// fastest of the counts tried (docs/speed.md, "Notes from the code").
constexpr int kQ6KStreams = 2;
constexpr int kQ6KPrefetchBlocks = 6;
inline void prefetch_block(const void* p, size_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(c + o, _MM_HINT_T0);
}

// One token, kQ6KStreams rows per pass (see matvec_or_rows): the same sums per row, the
// super-block scale from the fp16 table. R rows, bx bytes apart; s[r * ss] = dot(row r, y).
template <int R>
void matvec_rows_q6_K(int n, float* s, size_t ss, const char* x, size_t bx, const block_q8_K* y) {
    const block_q6_K* xr[R];
    __m256 acc[R];
    for (int r = 0; r < R; ++r) {
        xr[r] = reinterpret_cast<const block_q6_K*>(x + r * bx);
        acc[r] = _mm256_setzero_ps();
    }
    const float* fp16 = fp16_table();
    for (int i = 0; i < n / QK_K; ++i) {
        const block_q8_K& yb = y[i];
        const __m256i bsums = loadu(yb.bsums);
        for (int r = 0; r < R; ++r) {
            const block_q6_K& b = xr[r][i];
            prefetch_block(&xr[r][i + kQ6KPrefetchBlocks], sizeof(block_q6_K));
            const __m128i scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
            const __m256i offset = _mm256_madd_epi16(_mm256_cvtepi8_epi16(scales), bsums);
            __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
            for (int h = 0; h < 2; ++h) {
                const __m256i sc8 = q6_K_half_scales(scales, h);
                __m256i q[4];
                q6_K_quarters(b, h, q);
                for (int k = 0; k < 4; ++k) {
                    const __m256i p = _mm256_maddubs_epi16(q[k], loadu(yb.qs + 128 * h + 32 * k));
                    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(q6_K_quarter_scales(sc8, k), p));
                }
            }
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(fp16[b.d] * yb.d), _mm256_cvtepi32_ps(sumi), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) s[r * ss] = hsum_8(acc[r]);
}

template <int R>
struct matvec_q6_K {
    static void run(int n, float* s, size_t ss, const char* x, size_t bx, const void* y) {
        matvec_rows_q6_K<R>(n, s, ss, x, bx, static_cast<const block_q8_K*>(y));
    }
};

void dot_q6_K(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    matvec_or_rows<matvec_q6_K, dot_q6_K_tokens, kQ6KStreams>(n, s, bs, x, bx, nr, y, by, nt);
}

// Q3_K: the 16 six-bit scales minus 32 as int8, unpacked in four 32-bit words
// (the same rule as unpack_scales_q3_K).
inline __m128i scales_q3_K(const uint8_t* q) {
    constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    uint32_t a[3];
    std::memcpy(a, q, 12);
    const __m128i sc = _mm_set_epi32(int(((a[1] >> 4) & kmask2) | (((a[2] >> 6) & kmask1) << 4)),
                                     int(((a[0] >> 4) & kmask2) | (((a[2] >> 4) & kmask1) << 4)),
                                     int((a[1] & kmask2) | (((a[2] >> 2) & kmask1) << 4)),
                                     int((a[0] & kmask2) | ((a[2] & kmask1) << 4)));
    return _mm_sub_epi8(sc, _mm_set1_epi8(32));
}

template <int NT>
void dot_q3_K_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_q3_K* x = static_cast<const block_q3_K*>(vx);
    const block_q8_K* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_K>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    for (int i = 0; i < n / QK_K; ++i) {
        const __m128i scales = scales_q3_K(x[i].scales);
        const __m256i hmask = loadu(x[i].hmask);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const __m256i bits = loadu(x[i].qs + 32 * h);
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k) {
                const int c = 4 * h + k;
                const __m256i q2 = _mm256_and_si256(_mm256_srl_epi16(bits, _mm_cvtsi32_si128(2 * k)), m3);
                const __m256i bit = _mm256_set1_epi8(char(1 << c));
                // 4 where the high bit is clear: value = q2 - 4
                const __m256i sub = _mm256_andnot_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hmask, bit), bit), four);
                const __m256i sc = pair_scales(scales, 2 * c);
                for (int t = 0; t < NT; ++t) {
                    const __m256i q8 = loadu(y[t][i].qs + 32 * c);
                    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q2, q8), _mm256_maddubs_epi16(sub, q8));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(sc, p));
                    keep_in_register(sumi[t]);
                }
            }
        }
        const float dx = h2f(x[i].d);
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_q3_K)

template <int NT>
void dot_q2_K_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_q2_K* x = static_cast<const block_q2_K*>(vx);
    const block_q8_K* y[NT];
    __m256 acc[NT];
    float summs[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_K>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
        summs[t] = 0.0f;
    }
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int i = 0; i < n / QK_K; ++i) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales));
        const __m128i scales = _mm_and_si128(packed, m4);
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m4));
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const __m256i bits = loadu(x[i].qs + 32 * h);
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k) {
                const int c = 4 * h + k;
                const __m256i q2 = _mm256_and_si256(_mm256_srl_epi16(bits, _mm_cvtsi32_si128(2 * k)), m3);
                const __m256i sc = pair_scales(scales, 2 * c);
                for (int t = 0; t < NT; ++t) {
                    const __m256i p = _mm256_maddubs_epi16(q2, loadu(y[t][i].qs + 32 * c));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(sc, p));
                    keep_in_register(sumi[t]);
                }
            }
        }
        const float dx = h2f(x[i].d), mx = h2f(x[i].dmin);
        for (int t = 0; t < NT; ++t) {
            const int isum_min = hsum_i32_8(_mm256_madd_epi16(mins16, loadu(y[t][i].bsums)));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
            summs[t] -= mx * y[t][i].d * float(isum_min);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]) + summs[t];
}
PYGGML_AVX2_NT_KERNEL(dot_q2_K)

template <int NT>
void dot_iq4_xs_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_iq4_xs* x = static_cast<const block_iq4_xs*>(vx);
    const block_q8_K* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<block_q8_K>(vy, by, t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i values =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
    for (int i = 0; i < n / QK_K; ++i) {
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const __m256i qx = _mm256_shuffle_epi8(values, nibbles_32(x[i].qs + 16 * ib));
            const __m256i ax = _mm256_sign_epi8(qx, qx);
            const __m256i ls = _mm256_set1_epi16(short(scale_iq4_xs(x[i], ib)));
            for (int t = 0; t < NT; ++t) {
                const __m256i sy = _mm256_sign_epi8(loadu(y[t][i].qs + 32 * ib), qx);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(ls, _mm256_maddubs_epi16(ax, sy)));
                keep_in_register(sumi[t]);
            }
        }
        const float dx = h2f(x[i].d);
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) s[t * bs] = hsum_8(acc[t]);
}
PYGGML_AVX2_NT_KERNEL(dot_iq4_xs)

vec_dot_fn kernel(int32_t type) {
    switch (type) {
        case GGML_TYPE_F32: return dot_f32;
        case GGML_TYPE_F16: return dot_f16;
        case GGML_TYPE_BF16: return dot_bf16;
        case GGML_TYPE_Q4_0: return dot_q4_0;
        case GGML_TYPE_Q4_1: return dot_q4_1;
        case GGML_TYPE_Q5_0: return dot_q5_0;
        case GGML_TYPE_Q5_1: return dot_q5_1;
        case GGML_TYPE_Q8_0: return dot_q8_0;
        case GGML_TYPE_IQ4_NL: return dot_iq4_nl;
        case GGML_TYPE_Q2_K: return dot_q2_K;
        case GGML_TYPE_Q3_K: return dot_q3_K;
        case GGML_TYPE_Q4_K: return dot_q4_K;
        case GGML_TYPE_Q5_K: return dot_q5_K;
        case GGML_TYPE_Q6_K: return dot_q6_K;
        case GGML_TYPE_IQ4_XS: return dot_iq4_xs;
        default: return nullptr;
    }
}

}  // namespace

void register_vec_dot_avx2(isa_kernels& k) {
    for (int32_t type = 0; type < GGML_TYPE_COUNT; ++type) {
        if (vec_dot_fn f = kernel(type)) k.vec_dot[type].vec_dot = f;
    }
}

}  // namespace pyggml
