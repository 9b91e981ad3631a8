// ops_avx2.cpp: AVX2 twins of the forward pass's element-wise and attention kernels.
//
// rms_norm and rope_apply do the references' float operations (kernels/ops.cpp) in the same
// order, except that rms_norm's sum of squares (in double) is taken lane by lane.
// The activations and attention use a polynomial exp (Cephes' expf polynomial, about
// 2e-7 relative error; inputs below -87 give e^-87), fused multiply-adds and lane-wise
// sums, so they agree with the references to a few float ulps rather than bit for bit. Every result depends only on its own inputs, not
// on how rows are grouped into tiles: a token decoded alone gets the values it gets
// inside a batch.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/dispatch.h"
#include "kernels/ops.h"

namespace pyggml {

namespace {

// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
inline float hsum(__m256 v) {
    __m256 h = _mm256_hadd_ps(v, v);
    h = _mm256_hadd_ps(h, h);
    return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// e^x: x clamped to [-87, 88] (results stay normal and finite), then 2^n * e^r with
// |r| <= ln(2)/2 and Cephes' expf polynomial for e^r. NaN stays NaN.
inline __m256 exp_ps(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// ---- element-wise -------------------------------------------------------------------

void rms_norm_avx2(const float* x, const float* w, float* y, int64_t n, float eps) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        s0 = _mm256_fmadd_pd(lo, lo, s0);
        s1 = _mm256_fmadd_pd(hi, hi, s1);
    }
    double ss = hsum_pd(_mm256_add_pd(s0, s1));
    for (; i < n; ++i) ss += double(x[i]) * x[i];
    const float scale = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
    const __m256 vs = _mm256_set1_ps(scale);
    i = 0;
    if (w) {
        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
        }
        for (; i < n; ++i) y[i] = x[i] * scale * w[i];
    } else {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
        for (; i < n; ++i) y[i] = x[i] * scale;
    }
}

// gate = gate / (1 + e^(k * gate)) * up; silu: k = -1. gelu_tanh: 0.5 g (1 + tanh(z))
// = g / (1 + e^(-2z)) with z = sqrt(2/pi) (g + 0.044715 g^3).
template <bool Gelu>
void act_mul_avx2(float* gate, const float* up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        __m256 z;
        if (Gelu) {
            const __m256 g2 = _mm256_mul_ps(g, g);
            const __m256 inner = _mm256_fmadd_ps(g2, _mm256_set1_ps(0.044715f), one);
            z = _mm256_mul_ps(_mm256_mul_ps(g, _mm256_set1_ps(-2.0f * 0.7978845608028654f)), inner);
        } else {
            z = _mm256_sub_ps(_mm256_setzero_ps(), g);
        }
        const __m256 y = _mm256_div_ps(g, _mm256_add_ps(one, exp_ps(z)));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(y, _mm256_loadu_ps(up + i)));
    }
    if (i < n) {
        if (Gelu) {
            gelu_tanh_mul(gate + i, up + i, n - i);
        } else {
            silu_mul(gate + i, up + i, n - i);
        }
    }
}

void rope_apply_avx2(float* x, int64_t n_head, int64_t head_dim, const rope_params& p, const float* cs) {
    const int32_t half = p.n_rot / 2;
    for (int64_t h = 0; h < n_head; ++h) {
        float* xh = x + h * head_dim;
        int32_t i = 0;
        if (p.neox) {  // pairs (i, i + half): eight pairs per step
            for (; i + 8 <= half; i += 8) {
                const __m256 lo = _mm256_loadu_ps(cs + 2 * i), hi = _mm256_loadu_ps(cs + 2 * i + 8);
                const __m256 c = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
                const __m256 s = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8));
                const __m256 a = _mm256_loadu_ps(xh + i), b = _mm256_loadu_ps(xh + i + half);
                _mm256_storeu_ps(xh + i, _mm256_sub_ps(_mm256_mul_ps(a, c), _mm256_mul_ps(b, s)));
                _mm256_storeu_ps(xh + i + half, _mm256_add_ps(_mm256_mul_ps(a, s), _mm256_mul_ps(b, c)));
            }
        } else {  // pairs (2i, 2i + 1): four pairs per step
            for (; i + 4 <= half; i += 4) {
                const __m256 v = _mm256_loadu_ps(cs + 2 * i);
                const __m256 c = _mm256_moveldup_ps(v), s = _mm256_movehdup_ps(v);
                const __m256 a = _mm256_loadu_ps(xh + 2 * i);
                const __m256 swapped = _mm256_permute_ps(a, 0xB1);
                // even lanes x0 c - x1 s, odd lanes x1 c + x0 s
                _mm256_storeu_ps(xh + 2 * i, _mm256_addsub_ps(_mm256_mul_ps(a, c), _mm256_mul_ps(swapped, s)));
            }
        }
        for (; i < half; ++i) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            float* a = p.neox ? xh + i : xh + 2 * i;
            float* b = p.neox ? xh + i + half : xh + 2 * i + 1;
            const float x0 = *a, x1 = *b;
            *a = x0 * c - x1 * s;
            *b = x0 * s + x1 * c;
        }
    }
}

// ---- attention ----------------------------------------------------------------------

// Eight keys' or values' elements as floats: float32 as they are, F16 converted (an F16
// cache read in place).
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
// Q8_0 in place: a block's scale, converted once per block and key, and eight of its quants
// times it, the products the dequantizer makes (F16C converts the scale as fp16_to_fp32 does).
// Rows start on a block: the cache holds Q8_0 only for head dims that are multiples of 32.
inline const block_q8_0& q8_block(q8_elems p) { return p.b[p.e / QK8_0]; }
inline __m256 q8_scale(const block_q8_0& blk) { return _mm256_set1_ps(_cvtsh_ss(blk.d)); }
inline __m256 q8_times(const int8_t* qs, __m256 scale) {
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), scale);
}
inline __m256 load8(q8_elems p) {
    const block_q8_0& blk = q8_block(p);
    return q8_times(blk.qs + p.e % QK8_0, q8_scale(blk));
}
// Sixteen elements from i (a multiple of 16) into two vectors; Q8_0's share one scale.
template <typename P>
inline void load16(P p, __m256& v0, __m256& v1) {
    if constexpr (std::is_same_v<P, q8_elems>) {
        const block_q8_0& blk = q8_block(p);
        const __m256 scale = q8_scale(blk);
        v0 = q8_times(blk.qs + p.e % QK8_0, scale);
        v1 = q8_times(blk.qs + p.e % QK8_0 + 8, scale);
    } else {
        v0 = load8(p);
        v1 = load8(p + 8);
    }
}

// Prefetch of rows [j0, j1) of keys or values (each n elements, stride elements apart): a
// long cache streams from memory, and the hardware prefetchers alone left the loads of
// each key block waiting on it.
inline const char* row_bytes_at(const float* p, int64_t n, int64_t& bytes) { bytes = n * 4; return reinterpret_cast<const char*>(p); }
inline const char* row_bytes_at(const uint16_t* p, int64_t n, int64_t& bytes) { bytes = n * 2; return reinterpret_cast<const char*>(p); }
inline const char* row_bytes_at(q8_elems p, int64_t n, int64_t& bytes) {
    bytes = n / QK8_0 * int64_t(sizeof(block_q8_0));
    return reinterpret_cast<const char*>(p.b + p.e / QK8_0);
}
template <typename P>
inline void prefetch_rows(P p, int64_t stride, int64_t n, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
        int64_t bytes = 0;
        const char* c = row_bytes_at(p + j * stride, n, bytes);
        for (int64_t o = 0; o < bytes; o += 64) _mm_prefetch(c + o, _MM_HINT_T0);
    }
}

// How far ahead of the key in use keys and values are prefetched, two keys (qk_rows) or one
// (pv_rows) at a time: spread over the pass instead of a block's 64 lines at once, which
// measured 5-6 % faster decoding at a depth of 4096 (Qwen2.5-1.5B, 2 threads; 16 and 64 keys
// ahead measured no better).
constexpr int64_t kPrefetchKeys = 32;

// s[r][c] = q[r] . k[c] for NR query rows and NK keys (k_stride elements apart), d a
// multiple of 8. Each product is one lane-wise sum, whatever NR and NK are.
template <int NR, int NK, typename P>
inline void qk_block(const float* const* q, P k, int64_t k_stride, int64_t d, float* const* s, int64_t j) {
    __m256 acc[NR][NK];
    for (int r = 0; r < NR; ++r) {
        for (int c = 0; c < NK; ++c) acc[r][c] = _mm256_setzero_ps();
    }
    auto step = [&](const __m256* kv, int64_t i) {
        for (int r = 0; r < NR; ++r) {
            __m256 qv = _mm256_loadu_ps(q[r] + i);
            __asm__("" : "+x"(qv));  // keep qv in a register: one load for NK products, not NK
            for (int c = 0; c < NK; ++c) acc[r][c] = _mm256_fmadd_ps(qv, kv[c], acc[r][c]);
        }
    };
    if constexpr (std::is_same_v<P, q8_elems>) {
        for (int64_t i = 0; i < d; i += QK8_0) {
            const block_q8_0* blk[NK];
            __m256 scale[NK];
            for (int c = 0; c < NK; ++c) {
                blk[c] = &q8_block(k + c * k_stride + i);
                scale[c] = q8_scale(*blk[c]);
            }
            for (int e = 0; e < QK8_0; e += 8) {
                __m256 kv[NK];
                for (int c = 0; c < NK; ++c) kv[c] = q8_times(blk[c]->qs + e, scale[c]);
                step(kv, i + e);
            }
        }
    } else {
        for (int64_t i = 0; i < d; i += 8) {
            __m256 kv[NK];
            for (int c = 0; c < NK; ++c) kv[c] = load8(k + c * k_stride + i);
            step(kv, i);
        }
    }
    int r0 = 0;
    if constexpr (NK == 2) {
        // the lanes of four (two) rows' pairs of keys summed at once, each sum in hsum's order:
        // ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
        auto pair = [&](int r) { return _mm256_hadd_ps(acc[r][0], acc[r][1]); };
        for (; r0 + 4 <= NR; r0 += 4) {
            const __m256 t0 = _mm256_hadd_ps(pair(r0), pair(r0 + 1)), t1 = _mm256_hadd_ps(pair(r0 + 2), pair(r0 + 3));
            const __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20), _mm256_permute2f128_ps(t0, t1, 0x31));
            const __m128 lo = _mm256_castps256_ps128(sum), hi = _mm256_extractf128_ps(sum, 1);
            _mm_storel_pi(reinterpret_cast<__m64*>(s[r0] + j), lo);
            _mm_storeh_pi(reinterpret_cast<__m64*>(s[r0 + 1] + j), lo);
            _mm_storel_pi(reinterpret_cast<__m64*>(s[r0 + 2] + j), hi);
            _mm_storeh_pi(reinterpret_cast<__m64*>(s[r0 + 3] + j), hi);
        }
        for (; r0 + 2 <= NR; r0 += 2) {
            const __m256 t = _mm256_hadd_ps(pair(r0), pair(r0 + 1));
            const __m128 sum = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
            _mm_storel_pi(reinterpret_cast<__m64*>(s[r0] + j), sum);
            _mm_storeh_pi(reinterpret_cast<__m64*>(s[r0 + 1] + j), sum);
        }
    }
    for (int r = r0; r < NR; ++r) {
        for (int c = 0; c < NK; ++c) s[r][j + c] = hsum(acc[r][c]);
    }
}

// Scores of NR rows for keys [j0, j1): s[r][j] (j relative to the tile's first key); keys
// kPrefetchKeys ahead are prefetched, up to key end.
template <int NR, typename P>
void qk_rows(const float* const* q, P k, int64_t k_stride, int64_t d, float* const* s, int64_t j0,
             int64_t j1, int64_t end) {
    int64_t j = j0;
    for (; j + 2 <= j1; j += 2) {
        const int64_t ahead = j + kPrefetchKeys;
        if (ahead < end) prefetch_rows(k, k_stride, d, ahead, std::min(end, ahead + 2));
        qk_block<NR, 2, P>(q, k + j * k_stride, k_stride, d, s, j);
    }
    if (j < j1) qk_block<NR, 1, P>(q, k + j * k_stride, k_stride, d, s, j);
}

// One prefetch into a row of n elements at p: the line holding byte `offset` of it.
template <typename P>
inline void prefetch_in_row(P p, int64_t n, int64_t offset) {
    int64_t bytes = 0;
    _mm_prefetch(row_bytes_at(p, n, bytes) + offset, _MM_HINT_T0);
}

// out[r][0, dv) += sum over j in [j0, j1) of p[r][j] v_j, NR rows, dv a multiple of 8.
// Each output is one chain of fused multiply-adds in key order. Each pass over the keys (16
// or 8 outputs) prefetches its share of the value kPrefetchKeys ahead (up to key end): the
// slice of the row at the pass's offset, so that a block's lines are asked for through all
// the passes rather than all at once in the first (docs/speed.md).
template <int NR, typename P>
void pv_rows(const float* const* p, P v, int64_t v_stride, int64_t dv, int64_t j0, int64_t j1,
             float* const* out, int64_t end) {
    int64_t row_bytes = 0;
    row_bytes_at(v, dv, row_bytes);
    int64_t d = 0;
    for (; d + 16 <= dv; d += 16) {
        __m256 acc[NR][2];
        for (int r = 0; r < NR; ++r) {
            acc[r][0] = _mm256_loadu_ps(out[r] + d);
            acc[r][1] = _mm256_loadu_ps(out[r] + d + 8);
        }
        const int64_t pf_offset = d * row_bytes / dv;
        for (int64_t j = j0; j < j1; ++j) {
            if (j + kPrefetchKeys < end) prefetch_in_row(v + (j + kPrefetchKeys) * v_stride, dv, pf_offset);
            __m256 v0, v1;
            load16(v + j * v_stride + d, v0, v1);
            for (int r = 0; r < NR; ++r) {
                const __m256 w = _mm256_broadcast_ss(p[r] + j);
                acc[r][0] = _mm256_fmadd_ps(w, v0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(w, v1, acc[r][1]);
            }
        }
        for (int r = 0; r < NR; ++r) {
            _mm256_storeu_ps(out[r] + d, acc[r][0]);
            _mm256_storeu_ps(out[r] + d + 8, acc[r][1]);
        }
    }
    if (d < dv) {  // the last 8
        __m256 acc[NR];
        for (int r = 0; r < NR; ++r) acc[r] = _mm256_loadu_ps(out[r] + d);
        const int64_t pf_offset = d * row_bytes / dv;
        for (int64_t j = j0; j < j1; ++j) {
            if (j + kPrefetchKeys < end) prefetch_in_row(v + (j + kPrefetchKeys) * v_stride, dv, pf_offset);
            const __m256 v0 = load8(v + j * v_stride + d);
            for (int r = 0; r < NR; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(p[r] + j), v0, acc[r]);
        }
        for (int r = 0; r < NR; ++r) _mm256_storeu_ps(out[r] + d, acc[r]);
    }
}

// Turns the scores s[lo, hi) of one row into unnormalised probabilities in place, zeroes
// s[j0, lo) and s[hi, j1) and returns 1 / (sum of the probabilities); a sink (not
// -infinity) joins the maximum and the sum. lse, when set: max + log(sum).
float softmax_row(float* s, int64_t j0, int64_t lo, int64_t hi, int64_t j1, float softcap, float sink,
                  float* lse) {
    if (softcap > 0.0f) {
        for (int64_t j = lo; j < hi; ++j) s[j] = softcap * std::tanh(s[j] / softcap);
    }
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    int64_t j = lo;
    for (; j + 8 <= hi; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
    float mx = std::max(hmax(vmax), sink);
    for (; j < hi; ++j) mx = std::max(mx, s[j]);
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    j = lo;
    for (; j + 8 <= hi; j += 8) {
        const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), vmx));
        _mm256_storeu_ps(s + j, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum(vsum);
    if (sink != -INFINITY) sum += std::exp(sink - mx);
    if (j < hi) {  // the tail through the same exp, padded with -inf (e^-inf -> e^-87, masked out)
        alignas(32) float tail[8];
        for (int i = 0; i < 8; ++i) tail[i] = j + i < hi ? s[j + i] - mx : -INFINITY;
        _mm256_store_ps(tail, exp_ps(_mm256_load_ps(tail)));
        for (int64_t i = 0; j + i < hi; ++i) {
            s[j + i] = tail[i];
            sum += tail[i];
        }
    }
    for (int64_t i = j0; i < lo; ++i) s[i] = 0.0f;
    for (int64_t i = hi; i < j1; ++i) s[i] = 0.0f;
    if (lse) *lse = mx + std::log(sum);
    return 1.0f / sum;
}

// Keys per block: a block of keys (or values) stays in L1 while every row group of the
// tile uses it.
constexpr int64_t kKeyBlock = 16;
// Query rows sharing each load of a key or value: six (a grouped-query head group of six,
// Qwen2.5's, in one pass) keeps 12 accumulators, 2 keys and 1 query in the 16 registers;
// each F16 or Q8_0 element is converted once per group.
constexpr int kGroupRows = 6;

template <typename P>
void attend_tile_t(const attn_tile& a, P k_all, P v_all) {
    const int64_t n_rows = a.n_tok * a.n_hq;
    auto hi_of = [&](int64_t t) { return a.n_keys > 0 ? std::min(a.hi0 + t, a.n_keys) : a.hi0 + t; };
    auto lo_of = [&](int64_t t) { return a.window ? std::max<int64_t>(0, hi_of(t) - a.window) : int64_t(0); };
    // scores of every row over the keys any row of the tile sees: [base, base + width)
    const int64_t base = lo_of(0), width = hi_of(a.n_tok - 1) - base;
    const int64_t stride = (width + 7) / 8 * 8;
    float* inv = a.scratch + n_rows * stride;  // (n_rows)
    const P k = k_all + base * a.k_stride;
    const P v = v_all + base * a.v_stride;

    // rows in groups of up to kGroupRows: (q, scores, out) pointers and the keys [j0, j1)
    // the group sees
    struct row_group {
        int nr;
        int64_t j0, j1;
        const float* q[kGroupRows];
        float* s[kGroupRows];
        float* o[kGroupRows];
    };
    const int64_t n_groups = (n_rows + kGroupRows - 1) / kGroupRows;
    row_group groups[(kAttnTileMaxRows + kGroupRows - 1) / kGroupRows];
    for (int64_t g = 0; g < n_groups; ++g) {
        row_group& rg = groups[g];
        const int64_t r0 = kGroupRows * g;
        rg.nr = int(std::min<int64_t>(kGroupRows, n_rows - r0));
        for (int i = 0; i < rg.nr; ++i) {
            const int64_t t = (r0 + i) / a.n_hq, h = (r0 + i) % a.n_hq;
            rg.q[i] = a.q + t * a.q_stride + h * a.head_dim_k;
            rg.s[i] = a.scratch + (r0 + i) * stride;
            rg.o[i] = a.out + t * a.o_stride + h * a.head_dim_v;
            for (int64_t d = 0; d < a.head_dim_v; ++d) rg.o[i][d] = 0.0f;
        }
        // rows are in token order: the first sees the lowest keys, the last the highest
        rg.j0 = lo_of(r0 / a.n_hq) - base;
        rg.j1 = hi_of((r0 + rg.nr - 1) / a.n_hq) - base;
    }

    if (width > 0) prefetch_rows(k, a.k_stride, a.head_dim_k, 0, std::min(width, kPrefetchKeys));
    for (int64_t b0 = 0; b0 < width; b0 += kKeyBlock) {
        bool prefetching = true;
        for (int64_t g = 0; g < n_groups; ++g) {
            const row_group& rg = groups[g];
            const int64_t j0 = std::max(b0, rg.j0), j1 = std::min(b0 + kKeyBlock, rg.j1);
            if (j0 >= j1) continue;
            const int64_t pf_end = prefetching ? width : 0;  // the block's first group prefetches for all
            prefetching = false;
            switch (rg.nr) {
                case 6: qk_rows<6, P>(rg.q, k, a.k_stride, a.head_dim_k, rg.s, j0, j1, pf_end); break;
                case 5: qk_rows<5, P>(rg.q, k, a.k_stride, a.head_dim_k, rg.s, j0, j1, pf_end); break;
                case 4: qk_rows<4, P>(rg.q, k, a.k_stride, a.head_dim_k, rg.s, j0, j1, pf_end); break;
                case 3: qk_rows<3, P>(rg.q, k, a.k_stride, a.head_dim_k, rg.s, j0, j1, pf_end); break;
                case 2: qk_rows<2, P>(rg.q, k, a.k_stride, a.head_dim_k, rg.s, j0, j1, pf_end); break;
                default: qk_rows<1, P>(rg.q, k, a.k_stride, a.head_dim_k, rg.s, j0, j1, pf_end); break;
            }
        }
    }
    for (int64_t g = 0; g < n_groups; ++g) {
        const row_group& rg = groups[g];
        for (int i = 0; i < rg.nr; ++i) {
            const int64_t r = kGroupRows * g + i, t = r / a.n_hq;
            const float sink = a.sinks ? a.sinks[r % a.n_hq] : -INFINITY;
            inv[r] = softmax_row(rg.s[i], rg.j0, lo_of(t) - base, hi_of(t) - base, rg.j1, a.softcap, sink,
                                 a.lse ? a.lse + r : nullptr);
        }
    }
    if (width > 0) prefetch_rows(v, a.v_stride, a.head_dim_v, 0, std::min(width, kPrefetchKeys));
    for (int64_t b0 = 0; b0 < width; b0 += kKeyBlock) {
        bool prefetching = true;
        for (int64_t g = 0; g < n_groups; ++g) {
            const row_group& rg = groups[g];
            const int64_t j0 = std::max(b0, rg.j0), j1 = std::min(b0 + kKeyBlock, rg.j1);
            if (j0 >= j1) continue;
            const int64_t pf_end = prefetching ? width : 0;  // the block's first group prefetches for all
            prefetching = false;
            switch (rg.nr) {
                case 6: pv_rows<6, P>(rg.s, v, a.v_stride, a.head_dim_v, j0, j1, rg.o, pf_end); break;
                case 5: pv_rows<5, P>(rg.s, v, a.v_stride, a.head_dim_v, j0, j1, rg.o, pf_end); break;
                case 4: pv_rows<4, P>(rg.s, v, a.v_stride, a.head_dim_v, j0, j1, rg.o, pf_end); break;
                case 3: pv_rows<3, P>(rg.s, v, a.v_stride, a.head_dim_v, j0, j1, rg.o, pf_end); break;
                case 2: pv_rows<2, P>(rg.s, v, a.v_stride, a.head_dim_v, j0, j1, rg.o, pf_end); break;
                default: pv_rows<1, P>(rg.s, v, a.v_stride, a.head_dim_v, j0, j1, rg.o, pf_end); break;
            }
        }
    }
    for (int64_t g = 0; g < n_groups; ++g) {
        const row_group& rg = groups[g];
        for (int i = 0; i < rg.nr; ++i) {
            const __m256 sc = _mm256_set1_ps(inv[kGroupRows * g + i]);
            for (int64_t d = 0; d < a.head_dim_v; d += 8) {
                _mm256_storeu_ps(rg.o[i] + d, _mm256_mul_ps(_mm256_loadu_ps(rg.o[i] + d), sc));
            }
        }
    }
}

void attend_tile_avx2(const attn_tile& a) {
    if (a.head_dim_k % 8 || a.head_dim_v % 8) {
        attend_tile(a);
    } else {
        with_kv_storage(a, [&](auto k, auto v) { attend_tile_t(a, k, v); });
    }
}

}  // namespace

void register_ops_avx2(isa_kernels& isa) {
    ops_kernels& k = isa.ops;
    k.rms_norm = rms_norm_avx2;
    k.silu_mul = act_mul_avx2<false>;
    k.gelu_tanh_mul = act_mul_avx2<true>;
    k.rope_apply = rope_apply_avx2;
    k.attend_tile = attend_tile_avx2;
}

}  // namespace pyggml
