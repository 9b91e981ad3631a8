// search.cpp: scale searches shared by the k-quant and IQ4 quantizers (see search.h).
//
// Float order matters: every sum is a float accumulated left to right as in ggml-quants.c,
// and the build uses -ffp-contract=off so no product is fused into an FMA.
#include "quant/search.h"

#include "core/blocks.h"
#include "core/dispatch.h"

#include <cmath>
#include <cstring>

namespace pyggml {

namespace {

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Largest-magnitude element with its sign (ties keep the first).
inline float signed_absmax(int n, const float* x, float* amax_out) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    *amax_out = amax;
    return max;
}

// The per-element weight of make_qx_quants.
inline float qx_weight(const float* qw, int rmse_type, const float* x, int i) {
    if (qw) return qw[i];
    switch (rmse_type) {
        case 1: return x[i] * x[i];
        case 2: return 1.0f;
        case 3: return std::fabs(x[i]);
        default: return std::sqrt(std::fabs(x[i]));
    }
}

}  // namespace

// ggml: make_qx_quants
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw) {
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; ++i) {
            const int l = nearest_int(iscale * x[i]);
            L[i] = int8_t(nmax + clamp_int(l, -nmax, nmax - 1));
        }
        return 1 / iscale;
    }
    bool return_early = false;
    if (rmse_type < 0) {
        rmse_type = -rmse_type;
        return_early = true;
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = int8_t(l + nmax);
        const float w = qx_weight(qw, rmse_type, x, i);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = qx_weight(qw, rmse_type, x, i);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = nearest_int(iscale * x[i]);
                L[i] = int8_t(nmax + clamp_int(l, -nmax, nmax - 1));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// ggml: make_q3_quants
float make_q3_quants(int n, int nmax, const float* x, int8_t* L, bool do_rmse) {
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    if (do_rmse) {
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            L[i] = int8_t(l);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int itry = 0; itry < 5; ++itry) {
            int n_changed = 0;
            for (int i = 0; i < n; ++i) {
                const float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * L[i];
                if (slx > 0) {
                    float sl2 = suml2 - w * L[i] * L[i];
                    const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                    if (new_l != L[i]) {
                        slx += w * x[i] * new_l;
                        sl2 += w * new_l * new_l;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[i] = int8_t(new_l);
                            sumlx = slx;
                            suml2 = sl2;
                            ++n_changed;
                        }
                    }
                }
            }
            if (!n_changed) break;
        }
        for (int i = 0; i < n; ++i) L[i] = int8_t(L[i] + nmax);
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }
    for (int i = 0; i < n; ++i) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = int8_t(l + nmax);
    }
    return 1 / iscale;
}

// ggml: make_qkx2_quants
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = uint8_t(clamp_int(l, 0, nmax));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = uint8_t(l);
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// ggml: make_qkx3_quants
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
    auto weight = [&](int i) { return weights ? weights[i] : x[i] * x[i]; };
    float min = x[0], max = x[0];
    float sum_w = weight(0);
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weight(i);
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max <= min) {
        std::memset(L, 0, size_t(n));
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_mad = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = uint8_t(clamp_int(l, 0, nmax));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_mad += weight(i) * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            // Clamp before rounding: v may be huge when max - min is tiny.
            const float v = iscale * (x[i] - min);
            const int l = v > 0 ? nearest_int(v < float(nmax) ? v : float(nmax)) : 0;
            Laux[i] = uint8_t(l);
            const float w = weight(i);
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float mad = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                mad += weight(i) * diff;
            }
            if (mad < best_mad) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// ggml: make_qp_quants
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights) {
    float max = 0;
    for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
    if (max < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; ++i) L[i] = uint8_t(nearest_int(iscale * x[i]));
    const float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * L[i];
        best_mse += quant_weights[i] * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) continue;
        const float iscale_is = (0.1f * is + nmax) / max;
        const float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale_is * x[i]);
            l = l < nmax ? l : nmax;
            const float diff = x[i] - scale_is * l;
            mse += quant_weights[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = uint8_t(l);
        const float w = quant_weights[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = quant_weights[i];
            float slx = sumlx - w * x[i] * L[i];
            float sl2 = suml2 - w * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                int new_l = nearest_int(x[i] * sl2 / slx);
                new_l = new_l < nmax ? new_l : nmax;
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = uint8_t(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ggml: best_index_int8 (binary search, then the nearer of the two bracketing values)
int best_index_int8(int n, const int8_t* val, float x) {
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int ml = 0, mu = n - 1;
    while (mu - ml > 1) {
        const int mav = (ml + mu) / 2;
        if (x < val[mav]) mu = mav;
        else ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

// ggml quantize_row_iq4_nl_impl, the part that picks one block's scale.
float iq4_block_scale(int n, const float* xb, const float* weight, int ntry) {
    const int8_t* values = kvalues_iq4nl;
    float amax = 0, max = 0;
    for (int j = 0; j < n; ++j) {
        const float ax = std::fabs(xb[j]);
        if (ax > amax) { amax = ax; max = xb[j]; }
    }
    if (amax < kGroupMaxEps) return 0.f;
    float d = ntry > 0 ? -max / values[0] : max / values[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < n; ++j) {
        const float q = values[best_index_int8(16, values, id * xb[j])];
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -ntry; itry <= ntry; ++itry) {
        id = (itry + values[0]) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < n; ++j) {
            const float q = values[best_index_int8(16, values, id * xb[j])];
            const float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

namespace {

void qkx2_ref(int ngroup, int n, int nmax, const float* x, const float* weights, uint8_t* L,
              float* scales, float* mins, float rmin, float rdelta, int nstep, bool use_mad) {
    uint8_t Laux[256];
    for (int g = 0; g < ngroup; ++g) {
        scales[g] = make_qkx2_quants(n, nmax, x + g * n, weights + g * n, L + g * n, &mins[g], Laux,
                                     rmin, rdelta, nstep, use_mad);
    }
}

void qkx3_ref(int ngroup, int n, int nmax, const float* x, const float* weights, uint8_t* L,
              float* scales, float* mins, float rmin, float rdelta, int nstep, bool use_mad) {
    uint8_t Laux[256];
    for (int g = 0; g < ngroup; ++g) {
        scales[g] = make_qkx3_quants(n, nmax, x + g * n, weights ? weights + g * n : nullptr, L + g * n,
                                     &mins[g], Laux, rmin, rdelta, nstep, use_mad);
    }
}

void q3_ref(int ngroup, int n, int nmax, const float* x, int8_t* L, float* scales) {
    for (int g = 0; g < ngroup; ++g) scales[g] = make_q3_quants(n, nmax, x + g * n, L + g * n, true);
}

void qx1_ref(int ngroup, int n, int nmax, const float* x, int8_t* L, float* scales, const float* qw) {
    for (int g = 0; g < ngroup; ++g) {
        scales[g] = make_qx_quants(n, nmax, x + g * n, L + g * n, 1, qw ? qw + g * n : nullptr);
    }
}

void iq4_scale_ref(int ngroup, int n, const float* x, const float* weights, float* scales, int ntry) {
    for (int g = 0; g < ngroup; ++g) scales[g] = iq4_block_scale(n, x + g * n, weights + g * n, ntry);
}

void requantize_ref(int ngroup, int n, const float* x, const float* d, const float* dm, int lo, int hi,
                    int offset, uint8_t* L) {
    for (int g = 0; g < ngroup; ++g) {
        if (!d[g]) continue;
        for (int i = 0; i < n; ++i) {
            const float v = dm ? (x[g * n + i] + dm[g]) / d[g] : x[g * n + i] / d[g];
            L[g * n + i] = uint8_t(offset + clamp_int(nearest_int(v), lo, hi));
        }
    }
}

void iq4_levels_ref(int n, const float* x, float id, uint8_t* L) {
    for (int j = 0; j < n; ++j) L[j] = uint8_t(best_index_int8(16, kvalues_iq4nl, id * x[j]));
}

int nearest_candidate_ref(int n, int count, const uint8_t* q, const float* values, const float* x, const float* weight,
                          float scale) {
    float best_d2 = 3.402823466e+38f;  // FLT_MAX
    int best = -1;
    for (int c = 0; c < count; ++c) {
        const uint8_t* qc = q + size_t(c / kCandidateLanes * n) * kCandidateLanes + c % kCandidateLanes;
        float d2 = 0;
        for (int i = 0; i < n; ++i) {
            const uint8_t b = qc[i * kCandidateLanes];
            const float diff = scale * (values ? values[b] : float(b)) - x[i];
            d2 += weight[i] * diff * diff;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            best = c;
        }
    }
    return best;
}

// ggml's loops, the better split taken at once.
void iq1s_split_ref(int n, const float* sumx, const float* sumw, const float* vp, const float* vm, iq1_split& r) {
    for (int i1 = 0; i1 <= n; ++i1) {
        for (int i2 = i1; i2 <= n; ++i2) {
            for (int k = 0; k < 2; ++k) {
                float sumqx, sumq2;
                iq1s_split_sums(n, sumx, sumw, k ? vm : vp, i1, i2, sumqx, sumq2);
                if (fit_beats(sumqx, sumq2, r.best_score)) {
                    const float scale = sumqx / sumq2;
                    r = {scale * sumqx, scale, i1, i2, k};
                }
            }
        }
    }
}

void iq1m_split_ref(int n, const float* px, const float* pw, const iq1m_split_consts& c, iq1_split& r) {
    for (int i1 = 0; i1 <= n; ++i1) {
        for (int i2 = i1; i2 <= n; ++i2) {
            float sumqx[4], sumq2[4];
            iq1m_split_sums(n, px, pw, c, i1, i2, sumqx, sumq2);
            for (int k = 0; k < 4; ++k) {
                if (fit_beats(sumqx[k], sumq2[k], r.best_score)) {
                    const float scale = sumqx[k] / sumq2[k];
                    r = {scale * sumqx[k], scale, i1, i2, k};
                }
            }
        }
    }
}

void trial_sums_ref(int n, const float* w, const float* x, const int8_t* L, float* sumqx, float* sumq2) {
    for (int t = 0; t < kTrials; ++t) {
        float qx = 0, q2 = 0;
        for (int i = 0; i < n; ++i) {
            const float q = float(2 * L[t * n + i] + 1);
            qx += w[i] * x[i] * q;
            q2 += w[i] * q * q;
        }
        sumqx[t] = qx;
        sumq2[t] = q2;
    }
}

}  // namespace

const quant_search_ops kSearchOpsRef = {qkx2_ref, qkx3_ref, q3_ref, qx1_ref, iq4_scale_ref, requantize_ref, iq4_levels_ref,
                                        nearest_candidate_ref, iq1s_split_ref, iq1m_split_ref, trial_sums_ref};

void register_search(isa_kernels& k) { k.search = &kSearchOpsRef; }

}  // namespace pyggml
