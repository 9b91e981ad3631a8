// search_avx2.cpp: the k-quant and IQ4 scale searches (quant/search.h), eight
// groups at a time, one group per AVX2 lane, and the codebook types' grid-neighbour search,
// eight candidate points at a time.
//
// Every lane runs exactly the float operations of the scalar routine for its group, in
// the same order (sums accumulate element by element, products associate as in the C
// expressions, no FMA contraction), so each lane's results are bit-identical to the
// reference; the per-group branches of the reference become per-lane blends. Group
// counts that are not a multiple of eight finish on the scalar routines.
#include <immintrin.h>

#include <cstdint>

#include "core/blocks.h"
#include "core/dispatch.h"
#include "quant/quants.h"
#include "quant/search.h"

namespace pyggml {

namespace {

constexpr int kLanes = 8;
constexpr int kMaxN = 32;  // the longest group a lane takes (larger groups go scalar)

inline __m256 zero_ps() { return _mm256_setzero_ps(); }
inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
inline __m256 neg_ps(__m256 v) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), v); }
inline __m256 blend(__m256 a, __m256 b, __m256 take_b) { return _mm256_blendv_ps(a, b, take_b); }
inline __m256i blend_epi32(__m256i a, __m256i b, __m256 take_b) {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), take_b));
}
inline __m256 cmp_gt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
inline __m256 cmp_lt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }

// ggml nearest_int per lane: the same add-and-mask bit trick.
inline __m256i nearest_int8(__m256 v) {
    const __m256i i = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.f)));
    return _mm256_sub_epi32(_mm256_and_si256(i, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
}

inline __m256i clamp_epi32(__m256i v, int lo, int hi) {
    return _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(hi)), _mm256_set1_epi32(lo));
}

// Lane-major copy of G groups of n values: out[i * G + g] = x[g * n + i].
inline void transpose_in(int n, int G, const float* x, float* out) {
    for (int g = 0; g < G; ++g) {
        for (int i = 0; i < n; ++i) out[i * G + g] = x[g * n + i];
    }
}

// Back to group-major bytes: L[g * n + i] = lanes[i * G + g].
template <typename T>
inline void transpose_levels_out(int n, int G, const int32_t* lanes, T* L) {
    for (int g = 0; g < G; ++g) {
        for (int i = 0; i < n; ++i) L[g * n + i] = T(lanes[i * G + g]);
    }
}

inline bool any(const __m256* m, int V) {
    int bits = 0;
    for (int v = 0; v < V; ++v) bits |= _mm256_movemask_ps(m[v]);
    return bits != 0;
}

// make_qkx2_quants (kQkx3 false) or make_qkx3_quants (true) on 8 * V lane-major groups;
// the V independent vectors interleave to hide the latency of the running sums. The
// levels of the best step are not copied at every improvement: each lane remembers the
// iscale and min that produced them and they are recomputed once at the end, with the
// same operations, hence the same values.
template <bool kQkx3, bool kMad, int V>
void qkx_lanes(int n, int nmax, const float* xt, const float* wt, int32_t* Lt, float* scales,
               float* mins, float rmin, float rdelta, int nstep) {
    constexpr int G = kLanes * V;
    alignas(32) float Lauxf[kMaxN * G];
    auto ld = [](const float* p, int i, int v) { return _mm256_load_ps(p + i * G + v * kLanes); };
    // The levels of step "is" at one element, as the reference's search loop rounds them.
    auto step_level = [nmax](__m256 val) {
        if (kQkx3) {
            // v > 0 ? nearest_int(v < nmax ? v : nmax) : 0, clamping before rounding;
            // _mm256_min_ps(v, nmax) is exactly v < nmax ? v : nmax, NaN included
            const __m256i l = nearest_int8(_mm256_min_ps(val, _mm256_set1_ps(float(nmax))));
            return _mm256_and_si256(l, _mm256_castps_si256(cmp_gt(val, zero_ps())));
        }
        return clamp_epi32(nearest_int8(val), 0, nmax);
    };
    __m256 min[V], max[V], sum_w[V], sum_x[V], flat[V], min0[V], iscale[V], scale[V], best_error[V];
    __m256 found[V], best_iscale[V], best_min[V];  // the step that gave the best levels so far
    for (int v = 0; v < V; ++v) {
        min[v] = max[v] = ld(xt, 0, v);
        sum_w[v] = ld(wt, 0, v);
        sum_x[v] = _mm256_mul_ps(sum_w[v], min[v]);
    }
    for (int i = 1; i < n; ++i) {
        for (int v = 0; v < V; ++v) {
            const __m256 x = ld(xt, i, v), w = ld(wt, i, v);
            min[v] = _mm256_min_ps(x, min[v]);  // x < min ? x : min
            max[v] = _mm256_max_ps(x, max[v]);  // x > max ? x : max
            sum_w[v] = _mm256_add_ps(sum_w[v], w);
            sum_x[v] = _mm256_add_ps(sum_x[v], _mm256_mul_ps(w, x));
        }
    }
    for (int v = 0; v < V; ++v) {
        min[v] = blend(min[v], zero_ps(), cmp_gt(min[v], zero_ps()));
        flat[v] = kQkx3 ? _mm256_cmp_ps(max[v], min[v], _CMP_LE_OQ) : _mm256_cmp_ps(max[v], min[v], _CMP_EQ_OQ);
        min0[v] = min[v];
        iscale[v] = _mm256_div_ps(_mm256_set1_ps(float(nmax)), _mm256_sub_ps(max[v], min[v]));
        scale[v] = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale[v]);
        best_error[v] = zero_ps();
        found[v] = zero_ps();
        best_iscale[v] = iscale[v];
        best_min[v] = min[v];
    }
    for (int i = 0; i < n; ++i) {
        for (int v = 0; v < V; ++v) {
            const __m256 x = ld(xt, i, v), w = ld(wt, i, v);
            const __m256i l = clamp_epi32(nearest_int8(_mm256_mul_ps(iscale[v], _mm256_sub_ps(x, min[v]))), 0, nmax);
            __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale[v], _mm256_cvtepi32_ps(l)), min[v]), x);
            diff = kMad ? abs_ps(diff) : _mm256_mul_ps(diff, diff);
            best_error[v] = _mm256_add_ps(best_error[v], _mm256_mul_ps(w, diff));
        }
    }
    for (int is = 0; nstep >= 1 && is <= nstep; ++is) {
        // min is the best one so far, as in the reference
        const __m256 num = _mm256_set1_ps(rmin + rdelta * is + nmax);
        __m256 sum_l[V], sum_l2[V], sum_xl[V];
        for (int v = 0; v < V; ++v) {
            iscale[v] = _mm256_div_ps(num, _mm256_sub_ps(max[v], min[v]));
            sum_l[v] = sum_l2[v] = sum_xl[v] = zero_ps();
        }
        for (int i = 0; i < n; ++i) {
            for (int v = 0; v < V; ++v) {
                const __m256 x = ld(xt, i, v), w = ld(wt, i, v);
                const __m256 lf = _mm256_cvtepi32_ps(step_level(_mm256_mul_ps(iscale[v], _mm256_sub_ps(x, min[v]))));
                _mm256_store_ps(Lauxf + i * G + v * kLanes, lf);
                const __m256 wl = _mm256_mul_ps(w, lf);
                sum_l[v] = _mm256_add_ps(sum_l[v], wl);
                sum_l2[v] = _mm256_add_ps(sum_l2[v], _mm256_mul_ps(wl, lf));
                sum_xl[v] = _mm256_add_ps(sum_xl[v], _mm256_mul_ps(wl, x));
            }
        }
        __m256 positive[V], this_scale[V], this_min[V], cur_error[V];
        for (int v = 0; v < V; ++v) {
            const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w[v], sum_l2[v]), _mm256_mul_ps(sum_l[v], sum_l[v]));
            positive[v] = cmp_gt(D, zero_ps());
            this_scale[v] = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w[v], sum_xl[v]), _mm256_mul_ps(sum_x[v], sum_l[v])), D);
            this_min[v] = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2[v], sum_x[v]), _mm256_mul_ps(sum_l[v], sum_xl[v])), D);
            const __m256 min_pos = cmp_gt(this_min[v], zero_ps());
            this_min[v] = blend(this_min[v], zero_ps(), min_pos);
            this_scale[v] = blend(this_scale[v], _mm256_div_ps(sum_xl[v], sum_l2[v]), min_pos);
            cur_error[v] = zero_ps();
        }
        if (!any(positive, V)) continue;
        for (int i = 0; i < n; ++i) {
            for (int v = 0; v < V; ++v) {
                const __m256 x = ld(xt, i, v), w = ld(wt, i, v);
                __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale[v], ld(Lauxf, i, v)), this_min[v]), x);
                diff = kMad ? abs_ps(diff) : _mm256_mul_ps(diff, diff);
                cur_error[v] = _mm256_add_ps(cur_error[v], _mm256_mul_ps(w, diff));
            }
        }
        for (int v = 0; v < V; ++v) {
            const __m256 better = _mm256_and_ps(positive[v], cmp_lt(cur_error[v], best_error[v]));
            found[v] = _mm256_or_ps(found[v], better);
            best_iscale[v] = blend(best_iscale[v], iscale[v], better);
            best_min[v] = blend(best_min[v], min[v], better);  // the min this step's levels used
            best_error[v] = blend(best_error[v], cur_error[v], better);
            scale[v] = blend(scale[v], this_scale[v], better);
            min[v] = blend(min[v], this_min[v], better);
        }
    }
    // The best levels: the first rounding where no step improved on it, else the step's;
    // a flat group keeps all-zero levels, a zero scale and its own min.
    for (int v = 0; v < V; ++v) {
        for (int i = 0; i < n; ++i) {
            const __m256 val = _mm256_mul_ps(best_iscale[v], _mm256_sub_ps(ld(xt, i, v), best_min[v]));
            __m256i l = clamp_epi32(nearest_int8(val), 0, nmax);
            if (kQkx3) l = blend_epi32(l, step_level(val), found[v]);
            l = _mm256_andnot_si256(_mm256_castps_si256(flat[v]), l);
            _mm256_store_si256(reinterpret_cast<__m256i*>(Lt + i * G + v * kLanes), l);
        }
        _mm256_storeu_ps(scales + v * kLanes, _mm256_andnot_ps(flat[v], scale[v]));
        _mm256_storeu_ps(mins + v * kLanes, neg_ps(blend(min[v], min0[v], flat[v])));
    }
}

template <bool kQkx3, int V>
void qkx_groups(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* scales,
                float* mins, float rmin, float rdelta, int nstep, bool use_mad) {
    constexpr int G = kLanes * V;
    alignas(32) float xt[kMaxN * G], wt[kMaxN * G];
    alignas(32) int32_t Lt[kMaxN * G];
    transpose_in(n, G, x, xt);
    if (weights) {
        transpose_in(n, G, weights, wt);
    } else {
        for (int i = 0; i < n * G; ++i) wt[i] = xt[i] * xt[i];
    }
    if (use_mad) qkx_lanes<kQkx3, true, V>(n, nmax, xt, wt, Lt, scales, mins, rmin, rdelta, nstep);
    else qkx_lanes<kQkx3, false, V>(n, nmax, xt, wt, Lt, scales, mins, rmin, rdelta, nstep);
    transpose_levels_out(n, G, Lt, L);
}

template <bool kQkx3>
void qkx_batch(int ngroup, int n, int nmax, const float* x, const float* weights, uint8_t* L,
               float* scales, float* mins, float rmin, float rdelta, int nstep, bool use_mad) {
    int g = 0;
    for (; n <= kMaxN && g + 2 * kLanes <= ngroup; g += 2 * kLanes) {
        qkx_groups<kQkx3, 2>(n, nmax, x + g * n, weights ? weights + g * n : nullptr, L + g * n, scales + g,
                             mins + g, rmin, rdelta, nstep, use_mad);
    }
    for (; n <= kMaxN && g + kLanes <= ngroup; g += kLanes) {
        qkx_groups<kQkx3, 1>(n, nmax, x + g * n, weights ? weights + g * n : nullptr, L + g * n, scales + g,
                             mins + g, rmin, rdelta, nstep, use_mad);
    }
    uint8_t Laux[256];
    for (; g < ngroup; ++g) {
        const float* w = weights ? weights + g * n : nullptr;
        scales[g] = kQkx3 ? make_qkx3_quants(n, nmax, x + g * n, w, L + g * n, &mins[g], Laux, rmin, rdelta, nstep, use_mad)
                          : make_qkx2_quants(n, nmax, x + g * n, w, L + g * n, &mins[g], Laux, rmin, rdelta, nstep, use_mad);
    }
}

void qkx2_avx2(int ngroup, int n, int nmax, const float* x, const float* weights, uint8_t* L,
               float* scales, float* mins, float rmin, float rdelta, int nstep, bool use_mad) {
    qkx_batch<false>(ngroup, n, nmax, x, weights, L, scales, mins, rmin, rdelta, nstep, use_mad);
}

void qkx3_avx2(int ngroup, int n, int nmax, const float* x, const float* weights, uint8_t* L,
               float* scales, float* mins, float rmin, float rdelta, int nstep, bool use_mad) {
    qkx_batch<true>(ngroup, n, nmax, x, weights, L, scales, mins, rmin, rdelta, nstep, use_mad);
}

// Largest-magnitude value of each lane with its sign, the first one on ties; the lanes
// of vector v of G lane-major groups.
inline __m256 lanes_signed_absmax(int n, int G, const float* xt, __m256* amax_out) {
    __m256 amax = zero_ps(), max = zero_ps();
    for (int i = 0; i < n; ++i) {
        const __m256 x = _mm256_load_ps(xt + i * G);
        const __m256 bigger = cmp_gt(abs_ps(x), amax);
        amax = blend(amax, abs_ps(x), bigger);
        max = blend(max, x, bigger);
    }
    *amax_out = amax;
    return max;
}

// make_qx_quants with rmse_type 1 on 8 * V lane-major groups (weights wt). Each lane
// remembers the iscale of its best levels and rounds them once at the end.
template <int V>
void qx1_lanes(int n, int nmax, const float* xt, const float* wt, int32_t* Lt, float* scales) {
    constexpr int G = kLanes * V;
    alignas(32) float wx[kMaxN * G];  // w * x, the same in every step
    auto ld = [](const float* p, int i, int v) { return _mm256_load_ps(p + i * G + v * kLanes); };
    const __m256i offset = _mm256_set1_epi32(nmax);
    __m256 max[V], tiny[V], iscale[V], sumlx[V], suml2[V], scale[V], best[V], best_iscale[V];
    for (int v = 0; v < V; ++v) {
        __m256 amax;
        max[v] = lanes_signed_absmax(n, G, xt + v * kLanes, &amax);
        tiny[v] = cmp_lt(amax, _mm256_set1_ps(kGroupMaxEps));
        iscale[v] = _mm256_div_ps(_mm256_set1_ps(float(-nmax)), max[v]);
        best_iscale[v] = iscale[v];
        sumlx[v] = suml2[v] = zero_ps();
    }
    for (int i = 0; i < n; ++i) {
        for (int v = 0; v < V; ++v) {
            const __m256 x = ld(xt, i, v), w = ld(wt, i, v);
            const __m256i l = clamp_epi32(nearest_int8(_mm256_mul_ps(iscale[v], x)), -nmax, nmax - 1);
            const __m256 lf = _mm256_cvtepi32_ps(l), wxi = _mm256_mul_ps(w, x);
            _mm256_store_ps(wx + i * G + v * kLanes, wxi);
            sumlx[v] = _mm256_add_ps(sumlx[v], _mm256_mul_ps(wxi, lf));
            suml2[v] = _mm256_add_ps(suml2[v], _mm256_mul_ps(_mm256_mul_ps(w, lf), lf));
        }
    }
    for (int v = 0; v < V; ++v) {
        // suml2 ? sumlx / suml2 : 0
        scale[v] = _mm256_and_ps(_mm256_cmp_ps(suml2[v], zero_ps(), _CMP_NEQ_UQ), _mm256_div_ps(sumlx[v], suml2[v]));
        best[v] = _mm256_mul_ps(scale[v], sumlx[v]);
    }
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        const __m256 num = _mm256_set1_ps(-(nmax + 0.1f * is));
        for (int v = 0; v < V; ++v) {
            iscale[v] = _mm256_div_ps(num, max[v]);
            sumlx[v] = suml2[v] = zero_ps();
        }
        for (int i = 0; i < n; ++i) {
            for (int v = 0; v < V; ++v) {
                const __m256 x = ld(xt, i, v), w = ld(wt, i, v);
                const __m256i l = clamp_epi32(nearest_int8(_mm256_mul_ps(iscale[v], x)), -nmax, nmax - 1);
                const __m256 lf = _mm256_cvtepi32_ps(l);
                sumlx[v] = _mm256_add_ps(sumlx[v], _mm256_mul_ps(ld(wx, i, v), lf));
                suml2[v] = _mm256_add_ps(suml2[v], _mm256_mul_ps(_mm256_mul_ps(w, lf), lf));
            }
        }
        for (int v = 0; v < V; ++v) {
            const __m256 better = _mm256_and_ps(cmp_gt(suml2[v], zero_ps()),
                                                cmp_gt(_mm256_mul_ps(sumlx[v], sumlx[v]), _mm256_mul_ps(best[v], suml2[v])));
            best_iscale[v] = blend(best_iscale[v], iscale[v], better);
            scale[v] = blend(scale[v], _mm256_div_ps(sumlx[v], suml2[v]), better);
            best[v] = blend(best[v], _mm256_mul_ps(scale[v], sumlx[v]), better);
        }
    }
    for (int v = 0; v < V; ++v) {
        for (int i = 0; i < n; ++i) {
            const __m256i l = clamp_epi32(nearest_int8(_mm256_mul_ps(best_iscale[v], ld(xt, i, v))), -nmax, nmax - 1);
            _mm256_store_si256(reinterpret_cast<__m256i*>(Lt + i * G + v * kLanes),
                               _mm256_andnot_si256(_mm256_castps_si256(tiny[v]), _mm256_add_epi32(l, offset)));
        }
        _mm256_storeu_ps(scales + v * kLanes, _mm256_andnot_ps(tiny[v], scale[v]));
    }
}

template <int V>
void qx1_groups(int n, int nmax, const float* x, int8_t* L, float* scales, const float* qw) {
    constexpr int G = kLanes * V;
    alignas(32) float xt[kMaxN * G], wt[kMaxN * G];
    alignas(32) int32_t Lt[kMaxN * G];
    transpose_in(n, G, x, xt);
    if (qw) {
        transpose_in(n, G, qw, wt);
    } else {
        for (int i = 0; i < n * G; ++i) wt[i] = xt[i] * xt[i];
    }
    qx1_lanes<V>(n, nmax, xt, wt, Lt, scales);
    transpose_levels_out(n, G, Lt, L);
}

void qx1_avx2(int ngroup, int n, int nmax, const float* x, int8_t* L, float* scales, const float* qw) {
    int g = 0;
    for (; n <= kMaxN && g + 2 * kLanes <= ngroup; g += 2 * kLanes) {
        qx1_groups<2>(n, nmax, x + g * n, L + g * n, scales + g, qw ? qw + g * n : nullptr);
    }
    for (; n <= kMaxN && g + kLanes <= ngroup; g += kLanes) {
        qx1_groups<1>(n, nmax, x + g * n, L + g * n, scales + g, qw ? qw + g * n : nullptr);
    }
    for (; g < ngroup; ++g) scales[g] = make_qx_quants(n, nmax, x + g * n, L + g * n, 1, qw ? qw + g * n : nullptr);
}

// make_q3_quants with do_rmse on 8 * V lane-major groups: x^2-weighted levels, then up
// to five rounds of coordinate descent; a lane stops after a round that changes nothing.
// Each element's update depends on the previous one's sums, so the V vectors interleave.
template <int V>
void q3_lanes(int n, int nmax, const float* xt, int32_t* Lt, float* scales) {
    constexpr int G = kLanes * V;
    auto ld = [](const float* p, int i, int v) { return _mm256_load_ps(p + i * G + v * kLanes); };
    auto lp = [Lt](int i, int v) { return reinterpret_cast<__m256i*>(Lt + i * G + v * kLanes); };
    __m256 tiny[V], sumlx[V], suml2[V], active[V];
    for (int v = 0; v < V; ++v) {
        __m256 amax;
        const __m256 max = lanes_signed_absmax(n, G, xt + v * kLanes, &amax);
        tiny[v] = cmp_lt(amax, _mm256_set1_ps(kGroupMaxEps));
        const __m256 iscale = _mm256_div_ps(_mm256_set1_ps(float(-nmax)), max);
        sumlx[v] = suml2[v] = zero_ps();
        for (int i = 0; i < n; ++i) {
            const __m256 x = ld(xt, i, v);
            const __m256i l = clamp_epi32(nearest_int8(_mm256_mul_ps(iscale, x)), -nmax, nmax - 1);
            _mm256_store_si256(lp(i, v), l);
            const __m256 w = _mm256_mul_ps(x, x), lf = _mm256_cvtepi32_ps(l);
            sumlx[v] = _mm256_add_ps(sumlx[v], _mm256_mul_ps(_mm256_mul_ps(w, x), lf));
            suml2[v] = _mm256_add_ps(suml2[v], _mm256_mul_ps(_mm256_mul_ps(w, lf), lf));
        }
        active[v] = _mm256_andnot_ps(tiny[v], _mm256_castsi256_ps(_mm256_set1_epi32(-1)));
    }
    for (int itry = 0; itry < 5 && any(active, V); ++itry) {
        __m256 changed[V];
        for (int v = 0; v < V; ++v) changed[v] = zero_ps();
        for (int i = 0; i < n; ++i) {
            for (int v = 0; v < V; ++v) {
                const __m256 x = ld(xt, i, v);
                const __m256i l = _mm256_load_si256(lp(i, v));
                const __m256 w = _mm256_mul_ps(x, x), wx = _mm256_mul_ps(w, x), lf = _mm256_cvtepi32_ps(l);
                __m256 slx = _mm256_sub_ps(sumlx[v], _mm256_mul_ps(wx, lf));
                __m256 sl2 = _mm256_sub_ps(suml2[v], _mm256_mul_ps(_mm256_mul_ps(w, lf), lf));
                const __m256 slx_pos = cmp_gt(slx, zero_ps());
                const __m256i new_l = clamp_epi32(nearest_int8(_mm256_div_ps(_mm256_mul_ps(x, sl2), slx)), -nmax, nmax - 1);
                const __m256 differs = _mm256_castsi256_ps(
                    _mm256_xor_si256(_mm256_cmpeq_epi32(new_l, l), _mm256_set1_epi32(-1)));
                const __m256 nf = _mm256_cvtepi32_ps(new_l);
                slx = _mm256_add_ps(slx, _mm256_mul_ps(wx, nf));
                sl2 = _mm256_add_ps(sl2, _mm256_mul_ps(_mm256_mul_ps(w, nf), nf));
                const __m256 gain = cmp_gt(_mm256_mul_ps(_mm256_mul_ps(slx, slx), suml2[v]),
                                           _mm256_mul_ps(_mm256_mul_ps(sumlx[v], sumlx[v]), sl2));
                const __m256 take = _mm256_and_ps(_mm256_and_ps(_mm256_and_ps(active[v], slx_pos), differs),
                                                  _mm256_and_ps(cmp_gt(sl2, zero_ps()), gain));
                _mm256_store_si256(lp(i, v), blend_epi32(l, new_l, take));
                sumlx[v] = blend(sumlx[v], slx, take);
                suml2[v] = blend(suml2[v], sl2, take);
                changed[v] = _mm256_or_ps(changed[v], take);
            }
        }
        for (int v = 0; v < V; ++v) active[v] = _mm256_and_ps(active[v], changed[v]);
    }
    const __m256i offset = _mm256_set1_epi32(nmax);
    for (int v = 0; v < V; ++v) {
        for (int i = 0; i < n; ++i) {
            _mm256_store_si256(lp(i, v), _mm256_andnot_si256(_mm256_castps_si256(tiny[v]),
                                                              _mm256_add_epi32(_mm256_load_si256(lp(i, v)), offset)));
        }
        const __m256 scale = _mm256_and_ps(cmp_gt(suml2[v], zero_ps()), _mm256_div_ps(sumlx[v], suml2[v]));
        _mm256_storeu_ps(scales + v * kLanes, _mm256_andnot_ps(tiny[v], scale));
    }
}

template <int V>
void q3_groups(int n, int nmax, const float* x, int8_t* L, float* scales) {
    constexpr int G = kLanes * V;
    alignas(32) float xt[kMaxN * G];
    alignas(32) int32_t Lt[kMaxN * G];
    transpose_in(n, G, x, xt);
    q3_lanes<V>(n, nmax, xt, Lt, scales);
    transpose_levels_out(n, G, Lt, L);
}

void q3_avx2(int ngroup, int n, int nmax, const float* x, int8_t* L, float* scales) {
    int g = 0;
    for (; n <= kMaxN && g + 2 * kLanes <= ngroup; g += 2 * kLanes) q3_groups<2>(n, nmax, x + g * n, L + g * n, scales + g);
    for (; n <= kMaxN && g + kLanes <= ngroup; g += kLanes) q3_groups<1>(n, nmax, x + g * n, L + g * n, scales + g);
    for (; g < ngroup; ++g) scales[g] = make_q3_quants(n, nmax, x + g * n, L + g * n, true);
}

// ---------------------------------------------------------------- IQ4 grid

// kvalues_iq4nl as floats, split in two halves for permutes.
struct iq4_grid {
    __m256 lo, hi;
    iq4_grid() {
        alignas(32) float v[16];
        for (int k = 0; k < 16; ++k) v[k] = kvalues_iq4nl[k];
        lo = _mm256_load_ps(v);
        hi = _mm256_load_ps(v + 8);
    }
    __m256 at(__m256i idx) const {  // kvalues_iq4nl[idx], idx in 0..15
        const __m256 a = _mm256_permutevar8x32_ps(lo, idx), b = _mm256_permutevar8x32_ps(hi, idx);
        return blend(a, b, _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7))));
    }
};

// best_index_int8(16, kvalues_iq4nl, x) per lane: 0 at or below the first value, 15 at or
// above the last (and for NaN); otherwise mu = #values <= x brackets x as
// [val[mu-1], val[mu]) — what the binary search finds — and the nearer one wins, ties up.
inline __m256i iq4_best_index(const iq4_grid& grid, __m256 x) {
    __m256i count = _mm256_setzero_si256();
    for (int k = 0; k < 15; ++k) {
        const __m256 not_below = _mm256_cmp_ps(x, _mm256_set1_ps(float(kvalues_iq4nl[k])), _CMP_NLT_UQ);
        count = _mm256_sub_epi32(count, _mm256_castps_si256(not_below));
    }
    const __m256i mu = _mm256_max_epi32(count, _mm256_set1_epi32(1));
    const __m256i mu1 = _mm256_sub_epi32(mu, _mm256_set1_epi32(1));
    const __m256 lower_nearer = cmp_lt(_mm256_sub_ps(x, grid.at(mu1)), _mm256_sub_ps(grid.at(mu), x));
    __m256i l = blend_epi32(mu, mu1, lower_nearer);
    l = blend_epi32(l, _mm256_setzero_si256(), _mm256_cmp_ps(x, _mm256_set1_ps(-127.f), _CMP_LE_OQ));
    l = blend_epi32(l, _mm256_set1_epi32(15), _mm256_cmp_ps(x, _mm256_set1_ps(113.f), _CMP_GE_OQ));
    return l;
}

// iq4_block_scale on eight lane-major blocks.
void iq4_scale_lanes(int n, const float* xt, const float* wt, float* scales, int ntry, const iq4_grid& grid) {
    __m256 amax;
    const __m256 max = lanes_signed_absmax(n, kLanes, xt, &amax);
    const __m256 tiny = cmp_lt(amax, _mm256_set1_ps(kGroupMaxEps));
    const float v0 = kvalues_iq4nl[0];
    __m256 d = _mm256_div_ps(ntry > 0 ? neg_ps(max) : max, _mm256_set1_ps(v0));
    __m256 id = _mm256_div_ps(_mm256_set1_ps(1.0f), d);
    auto sums = [&](__m256 scale_id, __m256* sumqx, __m256* sumq2) {
        __m256 sqx = zero_ps(), sq2 = zero_ps();
        for (int j = 0; j < n; ++j) {
            const __m256 x = _mm256_load_ps(xt + j * kLanes), w = _mm256_load_ps(wt + j * kLanes);
            const __m256 q = grid.at(iq4_best_index(grid, _mm256_mul_ps(scale_id, x)));
            const __m256 wq = _mm256_mul_ps(w, q);
            sqx = _mm256_add_ps(sqx, _mm256_mul_ps(wq, x));
            sq2 = _mm256_add_ps(sq2, _mm256_mul_ps(wq, q));
        }
        *sumqx = sqx;
        *sumq2 = sq2;
    };
    __m256 sumqx, sumq2;
    sums(id, &sumqx, &sumq2);
    d = _mm256_and_ps(cmp_gt(sumq2, zero_ps()), _mm256_div_ps(sumqx, sumq2));
    __m256 best = _mm256_mul_ps(d, sumqx);
    for (int itry = -ntry; itry <= ntry; ++itry) {
        id = _mm256_div_ps(_mm256_set1_ps(float(itry + kvalues_iq4nl[0])), max);
        sums(id, &sumqx, &sumq2);
        const __m256 better = _mm256_and_ps(cmp_gt(sumq2, zero_ps()),
                                            cmp_gt(_mm256_mul_ps(sumqx, sumqx), _mm256_mul_ps(best, sumq2)));
        d = blend(d, _mm256_div_ps(sumqx, sumq2), better);
        best = blend(best, _mm256_mul_ps(d, sumqx), better);
    }
    _mm256_storeu_ps(scales, _mm256_andnot_ps(tiny, d));
}

void iq4_scale_avx2(int ngroup, int n, const float* x, const float* weights, float* scales, int ntry) {
    static const iq4_grid grid;
    alignas(32) float xt[kMaxN * kLanes], wt[kMaxN * kLanes];
    int g = 0;
    for (; n <= kMaxN && g + kLanes <= ngroup; g += kLanes) {
        transpose_in(n, kLanes, x + g * n, xt);
        transpose_in(n, kLanes, weights + g * n, wt);
        iq4_scale_lanes(n, xt, wt, scales + g, ntry, grid);
    }
    for (; g < ngroup; ++g) scales[g] = iq4_block_scale(n, x + g * n, weights + g * n, ntry);
}

void requantize_avx2(int ngroup, int n, const float* x, const float* d, const float* dm, int lo, int hi,
                     int offset, uint8_t* L) {
    alignas(32) int32_t l[kLanes];
    const __m256i voff = _mm256_set1_epi32(offset);
    for (int g = 0; g < ngroup; ++g) {
        if (!d[g]) continue;
        const float* xg = x + g * n;
        uint8_t* Lg = L + g * n;
        const __m256 vd = _mm256_set1_ps(d[g]), vdm = _mm256_set1_ps(dm ? dm[g] : 0.f);
        int i = 0;
        for (; i + kLanes <= n; i += kLanes) {
            __m256 v = _mm256_loadu_ps(xg + i);
            if (dm) v = _mm256_add_ps(v, vdm);
            const __m256i q = _mm256_add_epi32(clamp_epi32(nearest_int8(_mm256_div_ps(v, vd)), lo, hi), voff);
            _mm256_store_si256(reinterpret_cast<__m256i*>(l), q);
            for (int k = 0; k < kLanes; ++k) Lg[i + k] = uint8_t(l[k]);
        }
        for (; i < n; ++i) {
            const float v = dm ? (xg[i] + dm[g]) / d[g] : xg[i] / d[g];
            const int q = nearest_int(v);
            Lg[i] = uint8_t(offset + (q < lo ? lo : (q > hi ? hi : q)));
        }
    }
}

void iq4_levels_avx2(int n, const float* x, float id, uint8_t* L) {
    static const iq4_grid grid;
    alignas(32) int32_t l[kLanes];
    const __m256 vid = _mm256_set1_ps(id);
    int j = 0;
    for (; j + kLanes <= n; j += kLanes) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(l), iq4_best_index(grid, _mm256_mul_ps(vid, _mm256_loadu_ps(x + j))));
        for (int k = 0; k < kLanes; ++k) L[j + k] = uint8_t(l[k]);
    }
    for (; j < n; ++j) L[j] = uint8_t(best_index_int8(16, kvalues_iq4nl, id * x[j]));
}

// Eight candidates per step, one per lane: each lane sums its distance element by element as
// the reference does and keeps the first of its smallest (strict <, so NaN never wins); the
// lanes' winners then give the first candidate of the smallest distance.
int nearest_candidate_avx2(int n, int count, const uint8_t* q, const float* values, const float* x,
                           const float* weight, float scale) {
    static_assert(kCandidateLanes == kLanes, "one candidate per lane");
    const __m256 vscale = _mm256_set1_ps(scale);
    const __m256 table = values ? _mm256_loadu_ps(values) : zero_ps();
    const __m256i vcount = _mm256_set1_epi32(count);
    __m256 best = _mm256_set1_ps(3.402823466e+38f);  // FLT_MAX
    __m256i best_pos = _mm256_set1_epi32(-1);
    __m256i pos = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int c = 0; c < count; c += kLanes, q += kLanes * n) {
        __m256 d2 = zero_ps();
        for (int i = 0; i < n; ++i) {
            const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + kLanes * i)));
            const __m256 v = values ? _mm256_permutevar8x32_ps(table, b) : _mm256_cvtepi32_ps(b);
            const __m256 diff = _mm256_sub_ps(_mm256_mul_ps(vscale, v), _mm256_set1_ps(x[i]));
            d2 = _mm256_add_ps(d2, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(weight[i]), diff), diff));
        }
        const __m256 in_list = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vcount, pos));
        const __m256 better = _mm256_and_ps(cmp_lt(d2, best), in_list);
        best = blend(best, d2, better);
        best_pos = blend_epi32(best_pos, pos, better);
        pos = _mm256_add_epi32(pos, _mm256_set1_epi32(kLanes));
    }
    // The smallest distance over the lanes, then the first position holding it. Lanes never
    // updated hold FLT_MAX and position -1: they hold the smallest only when no lane was
    // updated, and then -1 is the answer.
    __m256 m = _mm256_min_ps(best, _mm256_permute2f128_ps(best, best, 1));
    m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m256i p = blend_epi32(_mm256_set1_epi32(INT32_MAX), best_pos, _mm256_cmp_ps(best, m, _CMP_EQ_OQ));
    __m128i first = _mm_min_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    first = _mm_min_epi32(first, _mm_shuffle_epi32(first, _MM_SHUFFLE(1, 0, 3, 2)));
    first = _mm_min_epi32(first, _mm_shuffle_epi32(first, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(first);
}

// IQ1's split searches, eight i2 at once. Each lane forms the sums of one split as
// iq1s_split_sums / iq1m_split_sums do (the i1 terms, the same for every lane, in scalar).
// The lanes' pass bits are laid out in the reference's order of candidates (pdep); the first
// becomes the result and the later ones are tested again against its score, so the splits
// are taken exactly as the reference's loop takes them.
inline uint32_t lanes_valid(int base, int n, __m256i& valid) {
    valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(n + 1),
                               _mm256_add_epi32(_mm256_set1_epi32(base), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    return uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(valid)));
}

// Candidates c = nk * lane + k of nk sums per lane (sumqx[k], sumq2[k]) that pass fit_beats
// against best, as bits c.
template <int NK>
inline uint32_t split_pass_bits(const __m256* sumqx, const __m256* sumq2, float best, uint32_t in_range) {
    constexpr uint32_t kSpread = NK == 2 ? 0x5555u : 0x11111111u;
    const __m256 vbest = _mm256_set1_ps(best);
    uint32_t bits = 0;
    for (int k = 0; k < NK; ++k) {
        const __m256 pass = _mm256_and_ps(cmp_gt(sumq2[k], zero_ps()),
                                          cmp_gt(_mm256_mul_ps(sumqx[k], sumqx[k]), _mm256_mul_ps(vbest, sumq2[k])));
        bits |= _pdep_u32(uint32_t(_mm256_movemask_ps(pass)) & in_range, kSpread << k);
    }
    return bits;
}

// Takes every passing candidate of one vector of splits (i1, base + lane) in order.
template <int NK>
inline void take_splits(const __m256* sumqx, const __m256* sumq2, uint32_t in_range, int i1, int base, iq1_split& r) {
    uint32_t bits = split_pass_bits<NK>(sumqx, sumq2, r.best_score, in_range);
    while (bits) {
        const int c = __builtin_ctz(bits);
        alignas(32) float qx[kLanes], q2[kLanes];
        _mm256_store_ps(qx, sumqx[c % NK]);
        _mm256_store_ps(q2, sumq2[c % NK]);
        const float scale = qx[c / NK] / q2[c / NK];
        r = {scale * qx[c / NK], scale, i1, base + c / NK, c % NK};
        bits = split_pass_bits<NK>(sumqx, sumq2, r.best_score, in_range) & (c == 31 ? 0u : ~0u << (c + 1));
    }
}

void iq1s_split_avx2(int n, const float* sumx, const float* sumw, const float* vp, const float* vm, iq1_split& r) {
    const float* v[2] = {vp, vm};
    const __m256 xn = _mm256_set1_ps(sumx[n]), wn = _mm256_set1_ps(sumw[n]);
    for (int i1 = 0; i1 <= n; ++i1) {
        const __m256 x1 = _mm256_set1_ps(sumx[i1]), w1 = _mm256_set1_ps(sumw[i1]);
        for (int base = i1; base <= n; base += kLanes) {
            __m256i valid;
            const uint32_t in_range = lanes_valid(base, n, valid);
            const __m256 x2 = _mm256_maskload_ps(sumx + base, valid);
            const __m256 w2 = _mm256_maskload_ps(sumw + base, valid);
            __m256 sumqx[2], sumq2[2];
            for (int k = 0; k < 2; ++k) {
                const __m256 v1 = _mm256_set1_ps(v[k][1]), v2 = _mm256_set1_ps(v[k][2]);
                const __m256 ax = _mm256_set1_ps((sumx[i1] - sumx[0]) * v[k][0]);
                const __m256 aw = _mm256_set1_ps((sumw[i1] - sumw[0]) * v[k][0] * v[k][0]);
                sumqx[k] = _mm256_add_ps(_mm256_add_ps(ax, _mm256_mul_ps(_mm256_sub_ps(x2, x1), v1)),
                                         _mm256_mul_ps(_mm256_sub_ps(xn, x2), v2));
                sumq2[k] = _mm256_add_ps(_mm256_add_ps(aw, _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(w2, w1), v1), v1)),
                                         _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(wn, w2), v2), v2));
            }
            take_splits<2>(sumqx, sumq2, in_range, i1, base, r);
        }
    }
}

void iq1m_split_avx2(int n, const float* px, const float* pw, const iq1m_split_consts& c, iq1_split& r) {
    for (int i1 = 0; i1 <= n; ++i1) {
        for (int base = i1; base <= n; base += kLanes) {
            __m256i valid;
            const uint32_t in_range = lanes_valid(base, n, valid);
            __m256 qx_p[2], qx_m[2], q2_p[2], q2_m[2];
            for (int h = 0; h < 2; ++h) {
                const float* x = px + h * (n + 1);
                const float* w = pw + h * (n + 1);
                const __m256 sx = _mm256_add_ps(_mm256_set1_ps(x[i1]), _mm256_maskload_ps(x + base, valid));
                const __m256 w2 = _mm256_maskload_ps(w + base, valid);
                qx_p[h] = _mm256_sub_ps(_mm256_set1_ps(c.txs[h] * c.p2), sx);
                qx_m[h] = _mm256_sub_ps(_mm256_set1_ps(c.txs[h] * c.m2), sx);
                q2_p[h] = _mm256_add_ps(_mm256_set1_ps(c.tws[h] * c.p2 * c.p2 + w[i1] * c.cp1),
                                        _mm256_mul_ps(w2, _mm256_set1_ps(c.cp2)));
                q2_m[h] = _mm256_add_ps(_mm256_set1_ps(c.tws[h] * c.m2 * c.m2 + w[i1] * c.cm1),
                                        _mm256_mul_ps(w2, _mm256_set1_ps(c.cm2)));
            }
            const __m256 sumqx[4] = {_mm256_add_ps(qx_p[0], qx_p[1]), _mm256_add_ps(qx_p[0], qx_m[1]),
                                     _mm256_add_ps(qx_m[0], qx_p[1]), _mm256_add_ps(qx_m[0], qx_m[1])};
            const __m256 sumq2[4] = {_mm256_add_ps(q2_p[0], q2_p[1]), _mm256_add_ps(q2_p[0], q2_m[1]),
                                     _mm256_add_ps(q2_m[0], q2_p[1]), _mm256_add_ps(q2_m[0], q2_m[1])};
            take_splits<4>(sumqx, sumq2, in_range, i1, base, r);
        }
    }
}

// The trials' sums side by side, one trial per lane: each 16 columns of the 8 x n levels are
// transposed in registers (three rounds of unpacks), so that column i gives the 8 trials'
// levels of value i; every lane then accumulates in the reference's order.
void trial_sums_avx2(int n, const float* w, const float* x, const int8_t* L, float* sumqx, float* sumq2) {
    static_assert(kTrials == kLanes, "one trial per lane");
    __m256 qx = zero_ps(), q2 = zero_ps();
    for (int c = 0; c < n; c += 16) {
        __m128i r[8];
        for (int t = 0; t < 8; ++t) r[t] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(L + t * n + c));
        __m128i a[8], b[8], cols[8];
        for (int t = 0; t < 4; ++t) {
            a[2 * t] = _mm_unpacklo_epi8(r[2 * t], r[2 * t + 1]);
            a[2 * t + 1] = _mm_unpackhi_epi8(r[2 * t], r[2 * t + 1]);
        }
        for (int h = 0; h < 2; ++h) {  // trials 0-3 (h 0) and 4-7 (h 1)
            const __m128i* ah = a + 4 * h;
            b[4 * h + 0] = _mm_unpacklo_epi16(ah[0], ah[2]);  // columns 0-3
            b[4 * h + 1] = _mm_unpackhi_epi16(ah[0], ah[2]);  // 4-7
            b[4 * h + 2] = _mm_unpacklo_epi16(ah[1], ah[3]);  // 8-11
            b[4 * h + 3] = _mm_unpackhi_epi16(ah[1], ah[3]);  // 12-15
        }
        for (int m = 0; m < 4; ++m) {  // columns 4m .. 4m + 3, two to a register
            cols[2 * m] = _mm_unpacklo_epi32(b[m], b[4 + m]);
            cols[2 * m + 1] = _mm_unpackhi_epi32(b[m], b[4 + m]);
        }
        for (int i = 0; i < 16; ++i) {
            const __m128i col = i % 2 ? _mm_srli_si128(cols[i / 2], 8) : cols[i / 2];
            const __m256i l = _mm256_cvtepi8_epi32(col);
            const __m256 q = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_add_epi32(l, l), _mm256_set1_epi32(1)));
            const float wi = w[c + i];
            qx = _mm256_add_ps(qx, _mm256_mul_ps(_mm256_set1_ps(wi * x[c + i]), q));
            q2 = _mm256_add_ps(q2, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(wi), q), q));
        }
    }
    _mm256_storeu_ps(sumqx, qx);
    _mm256_storeu_ps(sumq2, q2);
}

const quant_search_ops kSearchOpsAvx2 = {qkx2_avx2,      qkx3_avx2,       q3_avx2,         qx1_avx2,
                                         iq4_scale_avx2, requantize_avx2, iq4_levels_avx2, nearest_candidate_avx2,
                                         iq1s_split_avx2,      iq1m_split_avx2, trial_sums_avx2};

size_t quantize_q2_K_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q2_K_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q3_K_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q3_K_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q4_K_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q4_K_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q5_K_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q5_K_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q6_K_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q6_K_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq4_nl_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq4_nl_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq4_xs_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq4_xs_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq2_xxs_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq2_xxs_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq2_xs_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq2_xs_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq2_s_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq2_s_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq3_xxs_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq3_xxs_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq3_s_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq3_s_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq1_s_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq1_s_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq1_m_avx2(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq1_m_with(kSearchOpsAvx2, src, dst, nrow, n_per_row, imatrix);
}

}  // namespace

void register_search_avx2(isa_kernels& k) {
    k.search = &kSearchOpsAvx2;
    type_traits* t = k.types;
    t[GGML_TYPE_Q2_K].quantize = quantize_q2_K_avx2;
    t[GGML_TYPE_Q3_K].quantize = quantize_q3_K_avx2;
    t[GGML_TYPE_Q4_K].quantize = quantize_q4_K_avx2;
    t[GGML_TYPE_Q5_K].quantize = quantize_q5_K_avx2;
    t[GGML_TYPE_Q6_K].quantize = quantize_q6_K_avx2;
    t[GGML_TYPE_IQ4_NL].quantize = quantize_iq4_nl_avx2;
    t[GGML_TYPE_IQ4_XS].quantize = quantize_iq4_xs_avx2;
    t[GGML_TYPE_IQ2_XXS].quantize = quantize_iq2_xxs_avx2;
    t[GGML_TYPE_IQ2_XS].quantize = quantize_iq2_xs_avx2;
    t[GGML_TYPE_IQ2_S].quantize = quantize_iq2_s_avx2;
    t[GGML_TYPE_IQ3_XXS].quantize = quantize_iq3_xxs_avx2;
    t[GGML_TYPE_IQ3_S].quantize = quantize_iq3_s_avx2;
    t[GGML_TYPE_IQ1_S].quantize = quantize_iq1_s_avx2;
    t[GGML_TYPE_IQ1_M].quantize = quantize_iq1_m_avx2;
}

}  // namespace pyggml
