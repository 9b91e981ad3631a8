// iq1_quant.cpp: the quantizers of the 1.5- and 1.75-bit codebook formats IQ1_S and IQ1_M,
// operation for operation ggml's quantize_row_iq1_{s,m}_impl, so the bytes match.
//
// Each element becomes -1, 0 or +1 shifted by +-1/8 (IQ1S_DELTA), the shift's sign chosen per
// 32 (IQ1_S) or per 8 (IQ1_M). For each group the best split of its sorted values into the
// three levels is found exhaustively from prefix sums; code words off the grid
// (iq_grid_search.h) are replaced by their best neighbour. Group scales take 3 bits against
// the super-block's fp16 scale (with ggml's fudge factors 1.125 and 1.1125). IQ1_S needs an
// importance vector, as in ggml; IQ1_M takes x^2 as weights without one.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/fp16.h"
#include "quant/iq_grid_search.h"
#include "quant/iq_grids.h"
#include "quant/quants.h"
#include "quant/search.h"

namespace pyggml {

namespace {

constexpr float kGroupMaxEpsIq1S = 1e-12f;
constexpr float kGroupMaxEpsIq1M = 1e-7f;
constexpr float kFltMax = 3.402823466e+38f;

// The level values of a shift: +1/8 (x_p) and -1/8 (x_m), for codes 0, 1, 2.
constexpr float kShiftPlus[3] = {-1 + IQ1S_DELTA, IQ1S_DELTA, 1 + IQ1S_DELTA};
constexpr float kShiftMinus[3] = {-1 - IQ1S_DELTA, -IQ1S_DELTA, 1 - IQ1S_DELTA};

inline int point_code(uint64_t p, int i) { return (int((p >> (8 * i)) & 0xFF) - 1) / 2; }

// The order of a group's values from smallest to largest, equal values in element order
// (ggml sorts (value, index) pairs with qsort, which glibc runs as a stable merge sort).
void sort_order(int n, const float* xb, int* idx) {
    for (int j = 0; j < n; ++j) idx[j] = j;
    std::stable_sort(idx, idx + n, [xb](int a, int b) { return xb[a] < xb[b]; });
}

// ggml iq1_find_best_neighbour2: the neighbour of off-grid code word u nearest to xb under
// weight at this scale with level values xx; writes its codes to L, returns its index. (ggml
// scans the whole grid when no neighbour is at a finite distance.)
int best_neighbour(const quant_search_ops& ops, const iq_grid_search& g, uint16_t u, const float* xb,
                   const float* weight, float scale, const float* xx, int8_t* L) {
    // the level value of each stored byte 2 l + 1
    const float values[8] = {0, xx[0], 0, xx[1], 0, xx[2], 0, 0};
    const int c = ops.nearest_candidate(8, g.neighbour_count(u), g.neighbour_lanes(u), values, xb, weight, scale);
    int grid_index = c >= 0 ? g.neighbours_begin(u)[c] : -1;
    float best = kFltMax;
    for (int j = 0; grid_index < 0 && j < g.n_grid(); ++j) {
        float d2 = 0;
        for (int i = 0; i < 8; ++i) {
            const float q = xx[point_code(g.points[j], i)];
            const float diff = scale * q - xb[i];
            d2 += weight[i] * diff * diff;
        }
        if (d2 < best) {
            best = d2;
            grid_index = j;
        }
    }
    if (grid_index < 0) {
        throw std::invalid_argument(
            "the grid search found no point (values too large for float32 arithmetic; ggml aborts on such a row)");
    }
    for (int i = 0; i < 8; ++i) L[i] = int8_t(point_code(g.points[grid_index], i));
    return grid_index;
}

inline uint16_t code_word(const int8_t* L) {
    uint16_t u = 0;
    for (int i = 0; i < 8; ++i) u = uint16_t(u | (L[i] << 2 * i));
    return u;
}

// Levels from the best split: sorted positions [0, i1) -> 0, [i1, i2) -> 1, the rest 2.
void split_levels(int n, const int* idx, int i1, int i2, int8_t* L) {
    for (int j = 0; j < i1; ++j) L[idx[j]] = 0;
    for (int j = i1; j < i2; ++j) L[idx[j]] = 1;
    for (int j = i2; j < n; ++j) L[idx[j]] = 2;
}

// The grid index of each 8 of a group with levels L (shift values xx_of(k) for the k-th 8),
// off-grid words replaced by their best neighbour; then, if any was, the refitted scale.
template <typename ShiftOf>
void group_to_grid(const quant_search_ops& ops, const iq_grid_search& g, int n, const float* xb, const float* weight,
                   int8_t* L, ShiftOf&& xx_of, uint16_t* index, float& scale) {
    bool all_on_grid = true;
    for (int k = 0; k < n / 8; ++k) {
        const uint16_t u = code_word(L + 8 * k);
        int grid_index = g.index[u];
        if (grid_index < 0) {
            all_on_grid = false;
            grid_index = best_neighbour(ops, g, u, xb + 8 * k, weight + 8 * k, scale, xx_of(k), L + 8 * k);
        }
        index[k] = uint16_t(grid_index);
    }
    if (all_on_grid) return;
    float sumqx = 0, sumq2 = 0;
    for (int k = 0; k < n / 8; ++k) {
        const float* xx = xx_of(k);
        for (int j = 0; j < 8; ++j) {
            const float w = weight[8 * k + j];
            const float q = xx[point_code(g.points[index[k]], j)];
            sumqx += w * q * xb[8 * k + j];
            sumq2 += w * q * q;
        }
    }
    if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
}

inline int scale_field3(float id, float scale) {
    const int l = nearest_int(0.5f * (id * scale - 1));
    return l < 0 ? 0 : (l > 7 ? 7 : l);
}

float sigma2_of(const float* xbl) {
    float sumx2 = 0;
    for (int i = 0; i < QK_K; ++i) sumx2 += xbl[i] * xbl[i];
    return 2 * sumx2 / QK_K;
}

void iq1_s_block(const quant_search_ops& ops, const iq_grid_search& g, const float* xbl, const float* qw, block_iq1_s& y) {
    constexpr int bs = 32;
    float scales[QK_K / bs], weight[bs], sumx[bs + 1], sumw[bs + 1];
    int8_t L[bs], shifts[QK_K / bs];
    int idx[bs];
    uint16_t index[bs / 8];
    y.d = fp32_to_fp16(0.f);
    std::memset(y.qs, 0, sizeof(y.qs));
    std::memset(y.qh, 0, sizeof(y.qh));
    float max_scale = 0;
    const float sigma2 = sigma2_of(xbl);
    for (int ib = 0; ib < QK_K / bs; ++ib) {
        const float* xb = xbl + bs * ib;
        for (int i = 0; i < bs; ++i) weight[i] = qw[bs * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]);
        float max = std::fabs(xb[0]);
        for (int i = 1; i < bs; ++i) max = max > std::fabs(xb[i]) ? max : std::fabs(xb[i]);
        scales[ib] = 0;
        shifts[ib] = 1;
        if (max < kGroupMaxEpsIq1S) continue;
        sort_order(bs, xb, idx);
        sumx[0] = sumw[0] = 0;
        for (int j = 0; j < bs; ++j) {
            const int i = idx[j];
            sumx[j + 1] = sumx[j] + weight[i] * xb[i];
            sumw[j + 1] = sumw[j] + weight[i];
        }
        iq1_split r{-kFltMax, max};
        ops.iq1s_split(bs, sumx, sumw, kShiftPlus, kShiftMinus, r);
        const int besti1 = r.i1, besti2 = r.i2;
        int best_shift = r.k < 0 ? 0 : r.k == 0 ? 1 : -1;
        float scale = r.scale;
        if (besti1 < 0 || besti2 < 0 || best_shift == 0) continue;
        split_levels(bs, idx, besti1, besti2, L);
        if (scale < 0) {
            for (int j = 0; j < bs; ++j) L[j] = int8_t(2 - L[j]);
            scale = -scale;
            best_shift = -best_shift;
        }
        const float* xx = best_shift == 1 ? kShiftPlus : kShiftMinus;
        group_to_grid(ops, g, bs, xb, weight, L, [xx](int) { return xx; }, index, scale);
        uint16_t h = 0;
        for (int k = 0; k < bs / 8; ++k) {
            y.qs[(bs / 8) * ib + k] = uint8_t(index[k] & 255);
            h = uint16_t(h | ((index[k] >> 8) << 3 * k));
        }
        y.qh[ib] = h;
        scales[ib] = scale;
        shifts[ib] = int8_t(best_shift);
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (!max_scale) return;
    const float d = max_scale / 15;
    y.d = fp32_to_fp16(d * 1.125f);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / bs; ++ib) {
        int l = scale_field3(id, scales[ib]);
        if (shifts[ib] == -1) l |= 8;
        y.qh[ib] = uint16_t(y.qh[ib] | (l << 12));
    }
}

// IQ1_M's per-16 shift choice k: bit 1 the first 8's shift is -1/8, bit 0 the second's.
inline const float* iq1_m_shift(int k, int half) {
    return (half == 0 ? k < 2 : k % 2 == 0) ? kShiftPlus : kShiftMinus;
}

void iq1_m_weights(const float* xb, const float* qw, float sigma2, float* weight) {
    constexpr int bs = 16;
    if (qw) {
        for (int i = 0; i < bs; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    } else {
        for (int i = 0; i < bs; ++i) weight[i] = xb[i] * xb[i];
    }
}

void iq1_m_block(const quant_search_ops& ops, const iq_grid_search& g, const float* xbl, const float* qw, block_iq1_m& y) {
    constexpr int bs = 16;
    constexpr uint8_t masks[4] = {0x00, 0x80, 0x08, 0x88};
    float scales[QK_K / bs], weight[bs];
    int8_t L[bs], shifts[QK_K / bs];
    int idx[bs];
    uint16_t index[bs / 8];
    std::memset(y.qs, 0, sizeof(y.qs));
    std::memset(y.qh, 0, sizeof(y.qh));
    std::memset(y.scales, 0, sizeof(y.scales));
    float max_scale = 0;
    const float sigma2 = sigma2_of(xbl);
    const float p2 = kShiftPlus[2], m2 = kShiftMinus[2];
    const float cp1 = kShiftPlus[0] * kShiftPlus[0] - kShiftPlus[1] * kShiftPlus[1];
    const float cp2 = kShiftPlus[1] * kShiftPlus[1] - kShiftPlus[2] * kShiftPlus[2];
    const float cm1 = kShiftMinus[0] * kShiftMinus[0] - kShiftMinus[1] * kShiftMinus[1];
    const float cm2 = kShiftMinus[1] * kShiftMinus[1] - kShiftMinus[2] * kShiftMinus[2];
    for (int ib = 0; ib < QK_K / bs; ++ib) {
        const float* xb = xbl + bs * ib;
        iq1_m_weights(xb, qw ? qw + bs * ib : nullptr, sigma2, weight);
        float max = std::fabs(xb[0]);
        for (int i = 1; i < bs; ++i) max = max > std::fabs(xb[i]) ? max : std::fabs(xb[i]);
        scales[ib] = 0;
        shifts[ib] = 0;
        if (max < kGroupMaxEpsIq1M) continue;
        sort_order(bs, xb, idx);
        // prefix sums per half (each half has its own shift): px = sum w x, pw = sum w
        float px[2][bs + 1], pw[2][bs + 1];
        px[0][0] = px[1][0] = 0;
        pw[0][0] = pw[1][0] = 0;
        for (int j = 0; j < bs; ++j) {
            const int i = idx[j];
            const int h = i < bs / 2 ? 0 : 1;
            px[h][j + 1] = px[h][j] + weight[i] * xb[i];
            px[1 - h][j + 1] = px[1 - h][j];
            pw[h][j + 1] = pw[h][j] + weight[i];
            pw[1 - h][j + 1] = pw[1 - h][j];
        }
        const iq1m_split_consts consts{p2, m2, cp1, cp2, cm1, cm2, {px[0][bs], px[1][bs]}, {pw[0][bs], pw[1][bs]}};
        iq1_split r{-kFltMax, max};
        ops.iq1m_split(bs, &px[0][0], &pw[0][0], consts, r);
        const int besti1 = r.i1, besti2 = r.i2;
        int best_k = r.k;
        float scale = r.scale;
        if (besti1 < 0 || besti2 < 0 || best_k < 0) continue;
        split_levels(bs, idx, besti1, besti2, L);
        if (scale < 0) {
            for (int j = 0; j < bs; ++j) L[j] = int8_t(2 - L[j]);
            scale = -scale;
            best_k = 3 - best_k;
        }
        group_to_grid(ops, g, bs, xb, weight, L, [best_k](int k) { return iq1_m_shift(best_k, k); }, index, scale);
        y.qs[2 * ib + 0] = uint8_t(index[0] & 255);
        y.qs[2 * ib + 1] = uint8_t(index[1] & 255);
        y.qh[ib] = uint8_t((index[0] >> 8) | ((index[1] >> 8) << 4));
        scales[ib] = scale;
        shifts[ib] = int8_t(best_k);
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (!max_scale) return;
    uint16_t sc[4] = {};  // the scale words, little-endian in y.scales
    float d = max_scale / 15;
    const float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int ib = 0; ib < QK_K / bs; ++ib) {
        const int l = scale_field3(id, scales[ib]);
        sc[ib / 4] = uint16_t(sc[ib / 4] | (l << 3 * (ib % 4)));
        y.qh[ib] = uint8_t(y.qh[ib] | masks[shifts[ib]]);
        const float* xb = xbl + bs * ib;
        iq1_m_weights(xb, qw ? qw + bs * ib : nullptr, sigma2, weight);
        for (int k = 0; k < bs / 8; ++k) {
            const float* xx = iq1_m_shift(shifts[ib], k);
            const uint64_t p = g.points[y.qs[2 * ib + k] + ((y.qh[ib] << (8 - 4 * k)) & 0x700)];
            for (int j = 0; j < 8; ++j) {
                const float w = weight[8 * k + j];
                const float q = xx[point_code(p, j)] * float(2 * l + 1);
                sumqx += w * q * xb[8 * k + j];
                sumq2 += w * q * q;
            }
        }
    }
    if (sumq2 > 0) d = sumqx / sumq2;
    const uint16_t s = fp32_to_fp16(d * 1.1125f);
    sc[0] = uint16_t(sc[0] | ((s & 0x000f) << 12));
    sc[1] = uint16_t(sc[1] | ((s & 0x00f0) << 8));
    sc[2] = uint16_t(sc[2] | ((s & 0x0f00) << 4));
    sc[3] = uint16_t(sc[3] | (s & 0xf000));
    std::memcpy(y.scales, sc, sizeof(sc));
}

}  // namespace

size_t quantize_iq1_s_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                           const float* imatrix) {
    if (!imatrix) throw std::invalid_argument("IQ1_S needs an importance vector (imatrix)");
    const iq_grid_search& g = iq1s_grid_search();
    return quantize_superblocks<block_iq1_s>("IQ1_S", src, dst, nrow, n_per_row, imatrix,
                                             [&](const float* x, const float* qw, block_iq1_s& y) {
                                                 iq1_s_block(ops, g, x, qw, y);
                                             });
}

size_t quantize_iq1_m_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                           const float* imatrix) {
    const iq_grid_search& g = iq1s_grid_search();
    return quantize_superblocks<block_iq1_m>("IQ1_M", src, dst, nrow, n_per_row, imatrix,
                                             [&](const float* x, const float* qw, block_iq1_m& y) {
                                                 iq1_m_block(ops, g, x, qw, y);
                                             });
}

size_t quantize_iq1_s(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq1_s_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}

size_t quantize_iq1_m(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq1_m_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}

}  // namespace pyggml
