// iq2_quant.cpp: the quantizers of the 2-bit codebook formats IQ2_XXS, IQ2_XS and IQ2_S,
// operation for operation ggml's quantize_row_iq2_{xxs,xs,s}_impl, so the bytes match.
//
// Each group of 8 magnitudes becomes a point of the type's grid (levels 1, 3, 5 times a
// scale; iq_grid_search.h) and a sign byte. For every 32 (IQ2_XXS) or 16 elements a scale is
// searched over 13 or 19 trial scales, code words off the grid replaced by their best
// neighbour; the scales are then stored in 4 bits against the super-block's fp16 scale.
// IQ2_XXS and IQ2_XS keep 7 sign bits (an even number of negatives; where the count is odd
// the least important element's sign is flipped) and, as in ggml, need an importance
// vector; IQ2_S keeps all 8 and takes x^2 + sigma^2/4 as weights without one.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/fp16.h"
#include "quant/iq_grid_search.h"
#include "quant/quants.h"
#include "quant/search.h"

namespace pyggml {

namespace {

constexpr int kMaxQ = 3;                 // levels 2 l + 1 for l in [0, kMaxQ - 1]
constexpr float kGroupMaxEpsIq2S = 1e-8f;

// Where ggml aborts: a group whose search found no grid point (weighted squares that
// overflow float32, magnitudes near 1e19 and above), or left levels off the grid.
constexpr const char* kOverflow =
    "the grid search found no point (values too large for float32 arithmetic; ggml aborts on such a row)";

// Element i of a search grid point (1, 3 or 5).
inline int point_byte(uint64_t p, int i) { return int((p >> (8 * i)) & 0xFF); }

// ggml iq2_find_best_neighbour: among the neighbours of off-grid code word u, the point
// nearest to xval under weight at this scale; writes its codes to L and returns its index.
int best_neighbour(const quant_search_ops& ops, const iq_grid_search& g, uint16_t u, const float* xval,
                   const float* weight, float scale, int8_t* L) {
    const int c = ops.nearest_candidate(8, g.neighbour_count(u), g.neighbour_lanes(u), nullptr, xval, weight, scale);
    if (c < 0) throw std::invalid_argument(kOverflow);
    const int grid_index = g.neighbours_begin(u)[c];
    for (int i = 0; i < 8; ++i) L[i] = int8_t((point_byte(g.points[grid_index], i) - 1) / 2);
    return grid_index;
}

// The code word of 8 levels.
inline uint16_t code_word(const int8_t* L) {
    uint16_t u = 0;
    for (int i = 0; i < 8; ++i) u = uint16_t(u | (L[i] << 2 * i));
    return u;
}

// Levels of 8 magnitudes at inverse scale id: clamp(nearest_int((id x - 1) / 2), 0, 2).
inline void levels8(const float* xval, float id, int8_t* L) {
    for (int i = 0; i < 8; ++i) {
        const int l = nearest_int(0.5f * (id * xval[i] - 1));
        L[i] = int8_t(l < 0 ? 0 : (l > kMaxQ - 1 ? kMaxQ - 1 : l));
    }
}

// The grid index of 8 levels, the nearest neighbour (rewriting L) where they are off the grid.
inline int on_grid(const quant_search_ops& ops, const iq_grid_search& g, const float* xval, const float* waux,
                   float scale, int8_t* L, bool* was_on_grid = nullptr) {
    const uint16_t u = code_word(L);
    int grid_index = g.index[u];
    if (was_on_grid) *was_on_grid = grid_index >= 0;
    if (grid_index < 0) grid_index = best_neighbour(ops, g, u, xval, waux, scale, L);
    return grid_index;
}

// sum w x q and sum w q^2 with q = 2 L + 1.
inline void weighted_sums(int n, const float* weight, const float* xval, const int8_t* L, float& sumqx,
                          float& sumq2) {
    sumqx = 0;
    sumq2 = 0;
    for (int i = 0; i < n; ++i) {
        const float w = weight[i];
        const float q = float(2 * L[i] + 1);
        sumqx += w * xval[i] * q;
        sumq2 += w * q * q;
    }
}

// Magnitudes and sign bits of 8 elements. With even_signs the count of negatives is made even
// by flipping the element of least weight * x^2 (its magnitude stored negated).
uint8_t split_signs(const float* xb, const float* weight, float* xval, bool even_signs) {
    int nflip = 0;
    uint8_t s = 0;
    for (int i = 0; i < 8; ++i) {
        if (xb[i] >= 0) {
            xval[i] = xb[i];
        } else {
            xval[i] = -xb[i];
            ++nflip;
            s = uint8_t(s | (1 << i));
        }
    }
    if (even_signs && nflip % 2) {
        int imin = 0;
        float min = weight[0] * xb[0] * xb[0];
        for (int i = 1; i < 8; ++i) {
            const float ax = weight[i] * xb[i] * xb[i];
            if (ax < min) {
                min = ax;
                imin = i;
            }
        }
        xval[imin] = -xval[imin];
        s = uint8_t(s ^ (1 << imin));
    }
    return s;
}

float sum_squares(const float* x) {
    float sumx2 = 0;
    for (int i = 0; i < QK_K; ++i) sumx2 += x[i] * x[i];
    return sumx2;
}

// The 4-bit field of a group scale against the super-block scale d = max_scale / 31.
inline int scale_field(float id, float scale) {
    const int l = nearest_int(0.5f * (id * scale - 1));
    return l < 0 ? 0 : (l > 15 ? 15 : l);
}

// The grid indices of the 8s of levels L; ggml aborts where one is off the grid, which its
// searches never leave.
void grid_indices(const iq_grid_search& g, int n8, const int8_t* L, int* grid) {
    for (int k = 0; k < n8; ++k) {
        grid[k] = g.index[code_word(L + 8 * k)];
        if (grid[k] < 0) throw std::invalid_argument(kOverflow);
    }
}

// One 32-element group of IQ2_XXS: false for a group of zeros (scale 0, nothing stored);
// else its scale, the grid indices of its four 8s in grid[] and the codes in L.
bool iq2_xxs_group(const quant_search_ops& ops, const iq_grid_search& g, const float* xval, const float* weight,
                   const float* waux, int8_t* L, int* grid, float& scale) {
    float max = xval[0];
    for (int i = 1; i < 32; ++i) max = max > xval[i] ? max : xval[i];
    if (max < kGroupMaxEps) return false;
    uint8_t Lqp[32];
    scale = make_qp_quants(32, kMaxQ + 1, xval, Lqp, weight);
    const float eff_max = scale * kMaxQ;
    if (eff_max <= 0) return false;
    float best = 0;
    for (int is0 = -6; is0 <= 6; is0 += kTrials) {  // kTrials trial scales at a time, as in IQ3
        const int nt = std::min(kTrials, 6 - is0 + 1);
        int8_t Lt[kTrials * 32] = {};
        for (int t = 0; t < nt; ++t) {
            const float id = (2 * kMaxQ - 1 + (is0 + t) * 0.1f) / eff_max;
            const float this_scale = 1 / id;
            int8_t* Laux = Lt + 32 * t;
            for (int k = 0; k < 4; ++k) {
                levels8(xval + 8 * k, id, Laux + 8 * k);
                on_grid(ops, g, xval + 8 * k, waux + 8 * k, this_scale, Laux + 8 * k);
            }
        }
        take_better_trials(ops, 32, weight, xval, Lt, nt, best, scale, [&](int t) { std::memcpy(L, Lt + 32 * t, 32); });
    }
    if (scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < 4; ++k) {
            levels8(xval + 8 * k, id, L + 8 * k);
            const int j = on_grid(ops, g, xval + 8 * k, waux + 8 * k, scale, L + 8 * k);
            for (int i = 0; i < 8; ++i) L[8 * k + i] = int8_t((point_byte(g.points[j], i) - 1) / 2);
        }
        float sumqx, sumq2;
        weighted_sums(32, weight, xval, L, sumqx, sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
    }
    grid_indices(g, 4, L, grid);
    return true;
}

// One 16-element group of IQ2_XS or IQ2_S, the same search (eps: the all-zero threshold);
// results as iq2_xxs_group.
bool iq2_xs_group(const quant_search_ops& ops, const iq_grid_search& g, const float* xval, const float* weight,
                  const float* waux, float eps, int8_t* L, int* grid, float& scale) {
    float max = xval[0];
    for (int i = 1; i < 16; ++i) max = max > xval[i] ? max : xval[i];
    std::memset(L, 0, 16);
    if (max < eps) return false;
    float best = 0;
    scale = max / (2 * kMaxQ - 1);
    bool is_on_grid[2] = {true, true};
    for (int is0 = -9; is0 <= 9; is0 += kTrials) {
        const int nt = std::min(kTrials, 9 - is0 + 1);
        int8_t Lt[kTrials * 16] = {};
        bool on_grid_t[kTrials][2];
        for (int t = 0; t < nt; ++t) {
            const float id = (2 * kMaxQ - 1 + (is0 + t) * 0.1f) / max;
            const float this_scale = 1 / id;
            int8_t* Laux = Lt + 16 * t;
            for (int k = 0; k < 2; ++k) {
                levels8(xval + 8 * k, id, Laux + 8 * k);
                on_grid(ops, g, xval + 8 * k, waux + 8 * k, this_scale, Laux + 8 * k, &on_grid_t[t][k]);
            }
        }
        take_better_trials(ops, 16, weight, xval, Lt, nt, best, scale, [&](int t) {
            std::memcpy(L, Lt + 16 * t, 16);
            is_on_grid[0] = on_grid_t[t][0];
            is_on_grid[1] = on_grid_t[t][1];
        });
    }
    if ((!is_on_grid[0] || !is_on_grid[1]) && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < 2; ++k) {
            if (is_on_grid[k]) continue;
            levels8(xval + 8 * k, id, L + 8 * k);
            on_grid(ops, g, xval + 8 * k, waux + 8 * k, scale, L + 8 * k);
        }
        float sumqx, sumq2;
        weighted_sums(16, weight, xval, L, sumqx, sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
    }
    grid_indices(g, 2, L, grid);
    return true;
}

void iq2_xxs_block(const quant_search_ops& ops, const iq_grid_search& g, const float* xbl, const float* qw,
                   block_iq2_xxs& y) {
    float scales[QK_K / 32], weight[32], waux[32], xval[32];
    int8_t L[32];
    uint32_t q2[2 * (QK_K / 32)] = {};  // per 32: four grid indices, then 4 x 7 sign bits and the scale
    y.d = fp32_to_fp16(0.f);
    float max_scale = 0;
    const float sigma2 = sum_squares(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const float* xb = xbl + 32 * ib;
        const float* w = qw + 32 * ib;
        for (int i = 0; i < 32; ++i) weight[i] = w[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
        for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
        uint8_t signs[4];
        for (int k = 0; k < 4; ++k) {
            signs[k] = uint8_t(split_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k, true) & 127);
        }
        int grid[4];
        float scale;
        if (!iq2_xxs_group(ops, g, xval, weight, waux, L, grid, scale)) {
            scales[ib] = 0;
            continue;
        }
        if (scale < 0) {  // ggml's guard: a negative scale flips the signs instead
            scale = -scale;
            for (int k = 0; k < 4; ++k) signs[k] = uint8_t(~signs[k] & 127);
        }
        for (int k = 0; k < 4; ++k) {
            q2[2 * ib + 0] |= uint32_t(grid[k]) << 8 * k;
            q2[2 * ib + 1] |= uint32_t(signs[k]) << 7 * k;
        }
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (!max_scale) {
        std::memset(y.qs, 0, sizeof(y.qs));
        return;
    }
    const float d = max_scale / 31;
    y.d = fp32_to_fp16(d);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / 32; ++ib) q2[2 * ib + 1] |= uint32_t(scale_field(id, scales[ib])) << 28;
    std::memcpy(y.qs, q2, sizeof(y.qs));
}

// IQ2_XS (is_s false) or IQ2_S (true): groups of 16, signs and scale fields as each stores them.
template <typename Block, bool is_s>
void iq2_xs_block(const quant_search_ops& ops, const iq_grid_search& g, const float* xbl, const float* qw, Block& y) {
    float scales[QK_K / 16], weight[16], waux[16], xval[16];
    int8_t L[16];
    uint16_t q2[QK_K / 8] = {};  // IQ2_XS: per 8, the grid index and 7 sign bits
    std::memset(&y, 0, sizeof(y));
    float max_scale = 0;
    const float sigma2 = (is_s ? 2 : 1) * sum_squares(xbl) / QK_K;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const float* xb = xbl + 16 * ib;
        if (qw) {
            for (int i = 0; i < 16; ++i) weight[i] = qw[16 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]);
        } else {
            for (int i = 0; i < 16; ++i) weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
        }
        for (int i = 0; i < 16; ++i) waux[i] = std::sqrt(weight[i]);
        uint8_t signs[2];
        for (int k = 0; k < 2; ++k) {
            const uint8_t s = split_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k, !is_s);
            signs[k] = is_s ? s : uint8_t(s & 127);
        }
        int grid[2];
        float scale;
        if (!iq2_xs_group(ops, g, xval, weight, waux, is_s ? kGroupMaxEpsIq2S : kGroupMaxEps, L, grid, scale)) {
            scales[ib] = 0;
            continue;
        }
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 2; ++k) signs[k] = is_s ? uint8_t(~signs[k]) : uint8_t(~signs[k] & 127);
        }
        for (int k = 0; k < 2; ++k) {
            const int i8 = 2 * ib + k;
            if constexpr (is_s) {
                y.qs[i8] = uint8_t(grid[k] & 255);
                y.qh[i8 / 4] = uint8_t(y.qh[i8 / 4] | ((grid[k] >> 8) << 2 * (i8 % 4)));
                y.qs[QK_K / 8 + i8] = signs[k];
            } else {
                q2[i8] = uint16_t(grid[k] | (signs[k] << 9));
            }
        }
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (!max_scale) {
        if constexpr (!is_s) std::memset(y.qs, 0, sizeof(y.qs));
        return;
    }
    const float d = max_scale / 31;
    y.d = fp32_to_fp16(is_s ? d * 0.9875f : d);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const int l = scale_field(id, scales[ib]);
        if (ib % 2 == 0) y.scales[ib / 2] = uint8_t(l);
        else y.scales[ib / 2] = uint8_t(y.scales[ib / 2] | (l << 4));
    }
    if constexpr (!is_s) std::memcpy(y.qs, q2, sizeof(y.qs));
}

void require_imatrix(const float* imatrix, const char* name) {
    if (!imatrix) throw std::invalid_argument(std::string(name) + " needs an importance vector (imatrix)");
}

}  // namespace

size_t quantize_iq2_xxs_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                             int64_t n_per_row, const float* imatrix) {
    require_imatrix(imatrix, "IQ2_XXS");
    const iq_grid_search& g = iq2xxs_grid_search();
    return quantize_superblocks<block_iq2_xxs>("IQ2_XXS", src, dst, nrow, n_per_row, imatrix,
                                               [&](const float* x, const float* qw, block_iq2_xxs& y) {
                                                   iq2_xxs_block(ops, g, x, qw, y);
                                               });
}

size_t quantize_iq2_xs_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                            int64_t n_per_row, const float* imatrix) {
    require_imatrix(imatrix, "IQ2_XS");
    const iq_grid_search& g = iq2xs_grid_search();
    return quantize_superblocks<block_iq2_xs>("IQ2_XS", src, dst, nrow, n_per_row, imatrix,
                                              [&](const float* x, const float* qw, block_iq2_xs& y) {
                                                  iq2_xs_block<block_iq2_xs, false>(ops, g, x, qw, y);
                                              });
}

size_t quantize_iq2_s_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                           int64_t n_per_row, const float* imatrix) {
    const iq_grid_search& g = iq2s_grid_search();
    return quantize_superblocks<block_iq2_s>("IQ2_S", src, dst, nrow, n_per_row, imatrix,
                                             [&](const float* x, const float* qw, block_iq2_s& y) {
                                                 iq2_xs_block<block_iq2_s, true>(ops, g, x, qw, y);
                                             });
}

size_t quantize_iq2_xxs(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq2_xxs_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}

size_t quantize_iq2_xs(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq2_xs_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}

size_t quantize_iq2_s(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq2_s_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}

}  // namespace pyggml
