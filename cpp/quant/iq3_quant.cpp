// iq3_quant.cpp: the quantizers of the 3-bit codebook formats IQ3_XXS (256-point grid, 7
// stored sign bits per 8) and IQ3_S (512-point grid, 8 sign bits per 8): ggml's
// quantize_iq3_xxs and quantize_iq3_s, operation for operation, so that the bytes match.
//
// Each group of 32 elements is quantized to grid points of 4 levels 0..7 (value 2 l + 1)
// times a group scale. A search over scales rounds every 4 elements to levels; a level code
// that is not a grid point goes to its nearest grid points (the neighbour lists below, which
// ggml builds in iq3xs_init_impl). The group scales then share one fp16 super-block scale and
// a 4-bit multiplier each.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "quant/iq_grids.h"
#include "quant/quants.h"
#include "quant/search.h"

namespace pyggml {

namespace {

constexpr int kMaxQ = 8;          // levels 0..7 per element
constexpr int kCodeCount = 4096;  // level codes of 4 elements: 3 bits each, element i at bits 3 i

// The search view of one grid: every point as 4 bytes 2 l + 1, the grid index of every level
// code (or where its neighbour list starts) and the neighbour lists. Built once per grid.
struct iq3_search_grid {
    std::vector<uint32_t> points;      // (grid size,) byte i: 2 * level of element i + 1
    std::vector<int32_t> map;          // (4096,) the code's grid index, or -(start + 1) off the grid
    std::vector<uint16_t> neighbours;  // per off-grid code from its start: count, then grid indices
    std::vector<uint8_t> lanes;        // the neighbours' bytes as nearest_candidate takes them (quant/search.h)
    std::vector<uint32_t> lanes_first; // (4096,) where each off-grid code's neighbours start in lanes
};

inline int point_byte(uint32_t point, int i) { return int((point >> (8 * i)) & 0xFF); }

// ggml iq3xs_init_impl. The grid comes from the dequantization codebook: level_of maps one
// of its bytes to the element's level. The neighbours of an off-grid code are the grid points
// at its nwant smallest distinct squared distances, nearest first, ties by index.
iq3_search_grid iq3_search_grid_build(const uint32_t* codebook, int grid_size, int (*level_of)(int), int nwant) {
    iq3_search_grid g;
    g.points.resize(grid_size);
    g.map.assign(kCodeCount, -1);
    g.lanes_first.assign(kCodeCount, 0);
    for (int j = 0; j < grid_size; ++j) {
        uint32_t point = 0;
        int code = 0;
        for (int i = 0; i < 4; ++i) {
            const int l = level_of(point_byte(codebook[j], i));
            point |= uint32_t(2 * l + 1) << (8 * i);
            code |= l << (3 * i);
        }
        g.points[j] = point;
        g.map[code] = j;
    }
    std::vector<std::pair<int, int>> dist2(grid_size);  // (squared distance, grid index)
    for (int code = 0; code < kCodeCount; ++code) {
        if (g.map[code] >= 0) continue;
        for (int j = 0; j < grid_size; ++j) {
            int d2 = 0;
            for (int i = 0; i < 4; ++i) {
                const int diff = point_byte(g.points[j], i) - (2 * ((code >> (3 * i)) & 7) + 1);
                d2 += diff * diff;
            }
            dist2[j] = {d2, j};
        }
        std::sort(dist2.begin(), dist2.end());
        const size_t start = g.neighbours.size();
        g.map[code] = -int32_t(start + 1);
        g.neighbours.push_back(0);
        int d2 = dist2[0].first, nhave = 1;
        for (int j = 0; j < grid_size; ++j) {
            if (dist2[j].first > d2) {
                if (nhave == nwant) break;
                d2 = dist2[j].first;
                ++nhave;
            }
            g.neighbours.push_back(uint16_t(dist2[j].second));
        }
        const int count = int(g.neighbours.size() - start - 1);
        g.neighbours[start] = uint16_t(count);
        g.lanes_first[code] = append_candidates(g.lanes, 4, count, [&](int c, int i) {
            return point_byte(g.points[g.neighbours[start + 1 + c]], i);
        });
    }
    return g;
}

// IQ3_XXS bytes are 4, 12, .., 52, 62 for levels 0..7; IQ3_S bytes are 2 l + 1.
int iq3xxs_level(int v) { return (v - 4) / 8; }
int iq3s_level(int v) { return (v - 1) / 2; }

const iq3_search_grid& iq3xxs_search_grid() {
    static const iq3_search_grid g = iq3_search_grid_build(iq3xxs_grid, 256, iq3xxs_level, 2);
    return g;
}

const iq3_search_grid& iq3s_search_grid() {
    static const iq3_search_grid g = iq3_search_grid_build(iq3s_grid, 512, iq3s_level, 3);
    return g;
}

// Where ggml stops on a failed assertion: the squared errors or the scale of a group are not
// numbers, because squares of its values overflow float32.
[[noreturn]] void throw_overflow(const char* type) {
    throw std::invalid_argument(std::string(type) + ": the weighted squares of a group of 32 values overflow"
                                " float32 (|x| above about 1.8e19, or importance weights too large);"
                                " ggml cannot quantize these values either");
}

// ggml asserts a group scale is >= 0; it is NaN when squares of the inputs overflow.
void check_group_scale(const char* type, float scale) {
    if (!(scale >= 0)) throw_overflow(type);
}

// ggml's MAX: the second argument unless the first is greater (so a NaN second wins).
inline float max_of(float a, float b) { return a > b ? a : b; }

// ggml iq3_find_best_neighbour: the neighbour of an off-grid code with the least weighted
// squared error at this scale; writes its levels to L (4) and returns its grid index.
int iq3_nearest_point(const quant_search_ops& ops, const char* type, const iq3_search_grid& g, int code,
                      const float* xval, const float* weight, float scale, int8_t* L) {
    const uint16_t* neighbours = g.neighbours.data() + (-g.map[code] - 1);
    const int c = ops.nearest_candidate(4, neighbours[0], g.lanes.data() + g.lanes_first[code], nullptr, xval, weight,
                                      scale);
    if (c < 0) throw_overflow(type);  // every distance is NaN or inf (ggml asserts)
    const int grid_index = neighbours[1 + c];
    for (int i = 0; i < 4; ++i) L[i] = int8_t((point_byte(g.points[grid_index], i) - 1) / 2);
    return grid_index;
}

// The level code of 4 elements at inverse scale id, each level rounded and clamped to 0..7.
inline int level_code(const float* xval, float id, int8_t* L) {
    int code = 0;
    for (int i = 0; i < 4; ++i) {
        int l = nearest_int(0.5f * (id * xval[i] - 1));
        l = std::max(0, std::min(kMaxQ - 1, l));
        if (L) L[i] = int8_t(l);
        code |= l << (3 * i);
    }
    return code;
}

// How the two formats' group searches differ in ggml.
struct iq3_search_params {
    const char* type;   // the format's name, for errors
    int max_step;       // scales (15 + 0.2 s) / max for s in [-max_step, max_step]
    bool start_on_grid; // the groups count as on the grid before the first search step
    bool refit_all;     // the final pass re-rounds every group of 4, not only the off-grid ones
};
constexpr iq3_search_params kSearchXxs{"IQ3_XXS", 15, true, false};
constexpr iq3_search_params kSearchS{"IQ3_S", 9, false, true};

// The scale of one group of 32 absolute values xval (largest max > 0) and their levels L,
// from ggml's quantize_row_iq3_xxs_impl / quantize_row_iq3_s_impl: weight scores the fit,
// waux (its square root) picks among grid neighbours.
float iq3_group_scale(const quant_search_ops& ops, const iq3_search_grid& g, const iq3_search_params& p, float max,
                      const float* xval, const float* weight, const float* waux, int8_t* L) {
    bool on_grid[8];
    float best = 0;
    float scale = max / (2 * kMaxQ - 1);
    for (int k = 0; k < 8; ++k) on_grid[k] = p.start_on_grid;
    for (int is0 = -p.max_step; is0 <= p.max_step; is0 += kTrials) {
        // kTrials trial scales at a time: their levels, then their sums together, then the
        // better ones taken in order
        const int nt = std::min(kTrials, p.max_step - is0 + 1);
        int8_t Lt[kTrials * 32] = {};
        bool on_grid_t[kTrials][8];
        for (int t = 0; t < nt; ++t) {
            const float id = (2 * kMaxQ - 1 + (is0 + t) * 0.2f) / max;
            const float this_scale = 1 / id;
            int8_t* Laux = Lt + 32 * t;
            for (int k = 0; k < 8; ++k) {
                const int code = level_code(xval + 4 * k, id, Laux + 4 * k);
                on_grid_t[t][k] = g.map[code] >= 0;
                if (!on_grid_t[t][k]) {
                    iq3_nearest_point(ops, p.type, g, code, xval + 4 * k, waux + 4 * k, this_scale, Laux + 4 * k);
                }
            }
        }
        take_better_trials(ops, 32, weight, xval, Lt, nt, best, scale, [&](int t) {
            std::memcpy(L, Lt + 32 * t, 32);
            std::memcpy(on_grid, on_grid_t[t], sizeof(on_grid));
        });
    }
    int n_off_grid = 0;
    for (int k = 0; k < 8; ++k) n_off_grid += on_grid[k] ? 0 : 1;
    if (n_off_grid > 0 && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < 8; ++k) {
            if (!p.refit_all && on_grid[k]) continue;
            const int code = level_code(xval + 4 * k, id, nullptr);
            int grid_index = g.map[code];
            if (grid_index < 0) {
                grid_index = iq3_nearest_point(ops, p.type, g, code, xval + 4 * k, waux + 4 * k, scale, L + 4 * k);
            }
            for (int i = 0; i < 4; ++i) L[4 * k + i] = int8_t((point_byte(g.points[grid_index], i) - 1) / 2);
        }
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < 32; ++i) {
            const float w = weight[i];
            const float q = float(2 * L[i] + 1);
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        if (sumq2 > 0) scale = sumqx / sumq2;
    }
    return scale;
}

// The grid index of the levels of 4 elements (every code L holds after the search is on the grid).
int iq3_grid_index(const iq3_search_grid& g, const int8_t* L) {
    int code = 0;
    for (int i = 0; i < 4; ++i) code |= L[i] << (3 * i);
    if (g.map[code] < 0) throw std::logic_error("IQ3: a level code is not on the grid");  // ggml aborts
    return g.map[code];
}

// The per-element weights of a group: qw * sqrt(sigma2 + x^2) under an importance vector,
// else x^2; waux their square roots.
void iq3_weights(const float* xb, const float* qw, float sigma2, float* weight, float* waux) {
    if (qw) {
        for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    } else {
        for (int i = 0; i < 32; ++i) weight[i] = xb[i] * xb[i];
    }
    for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
}

// sigma2 = 2 * mean(x^2) over a super-block, accumulated in order.
float iq3_sigma2(const float* xbl) {
    float sumx2 = 0;
    for (int i = 0; i < QK_K; ++i) sumx2 += xbl[i] * xbl[i];
    return 2 * sumx2 / QK_K;
}


// ggml quantize_row_iq3_xxs_impl (grid_size 256) for one super-block.
void iq3_xxs_superblock(const quant_search_ops& ops, const float* xbl, const float* qw, block_iq3_xxs& y) {
    const iq3_search_grid& g = iq3xxs_search_grid();
    float scales[QK_K / 32], weight[32], waux[32], xval[32];
    int8_t L[32];
    uint8_t q3[QK_K / 4] = {};                  // (256 / 4,) grid indices
    uint32_t scales_and_signs[QK_K / 32] = {};  // per group: 4 x 7 sign bits, 4-bit scale on top
    float max_scale = 0;
    const float sigma2 = iq3_sigma2(xbl);
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const float* xb = xbl + 32 * ib;
        iq3_weights(xb, qw ? qw + 32 * ib : nullptr, sigma2, weight, waux);
        uint8_t block_signs[4];
        for (int k = 0; k < 4; ++k) {
            int nflip = 0;
            uint8_t s = 0;
            for (int i = 0; i < 8; ++i) {
                if (xb[8 * k + i] >= 0) {
                    xval[8 * k + i] = xb[8 * k + i];
                } else {
                    xval[8 * k + i] = -xb[8 * k + i];
                    ++nflip;
                    s = uint8_t(s | (1 << i));
                }
            }
            if (nflip % 2) {  // an odd count of signs: flip the cheapest element (parity is implied)
                int imin = 0;
                float min = weight[8 * k] * xb[8 * k] * xb[8 * k];
                for (int i = 1; i < 8; ++i) {
                    const float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                    if (ax < min) {
                        min = ax;
                        imin = i;
                    }
                }
                xval[8 * k + imin] = -xval[8 * k + imin];
                s = uint8_t(s ^ (1 << imin));
            }
            block_signs[k] = s & 127;
        }
        float max = xval[0];
        for (int i = 1; i < 32; ++i) max = max_of(max, xval[i]);
        if (max < 1e-8f) {  // GROUP_MAX_EPS_IQ3_XXS
            scales[ib] = 0;
            continue;
        }
        std::memset(L, 0, sizeof(L));
        float scale = iq3_group_scale(ops, g, kSearchXxs, max, xval, weight, waux, L);
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 4; ++k) block_signs[k] = uint8_t(~block_signs[k] & 127);
        }
        for (int k = 0; k < 8; ++k) q3[8 * ib + k] = uint8_t(iq3_grid_index(g, L + 4 * k));
        scales_and_signs[ib] = block_signs[0] | (block_signs[1] << 7) | (block_signs[2] << 14) | (block_signs[3] << 21);
        check_group_scale("IQ3_XXS", scale);
        scales[ib] = scale;
        max_scale = max_of(max_scale, scale);
    }
    std::memset(&y, 0, sizeof(y));
    if (!max_scale) return;
    const float d = max_scale / 31;
    y.d = fp32_to_fp16(d * 1.0125f);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        int l = nearest_int(0.5f * (id * scales[ib] - 1));
        l = std::max(0, std::min(15, l));
        scales_and_signs[ib] |= uint32_t(l) << 28;
    }
    std::memcpy(y.qs, q3, sizeof(q3));
    std::memcpy(y.qs + sizeof(q3), scales_and_signs, sizeof(scales_and_signs));
}

// ggml quantize_row_iq3_s_impl (block_size 32) for one super-block.
void iq3_s_superblock(const quant_search_ops& ops, const float* xbl, const float* qw, block_iq3_s& y) {
    const iq3_search_grid& g = iq3s_search_grid();
    float scales[QK_K / 32], weight[32], waux[32], xval[32];
    int8_t L[32];
    std::memset(&y, 0, sizeof(y));
    // As in ggml, the index and sign bytes advance only past groups that are not all zero:
    // a zero group shifts the later groups' bytes forward (the format's reader does not
    // expect this; ggml writes it, so the same bytes are written here).
    uint8_t* qs = y.qs;
    uint8_t* signs = y.signs;
    float max_scale = 0;
    const float sigma2 = iq3_sigma2(xbl);
    for (int ib = 0; ib < QK_K / 32; ++ib) {
        const float* xb = xbl + 32 * ib;
        iq3_weights(xb, qw ? qw + 32 * ib : nullptr, sigma2, weight, waux);
        uint8_t block_signs[4];
        for (int k = 0; k < 4; ++k) {
            uint8_t s = 0;
            for (int i = 0; i < 8; ++i) {
                if (xb[8 * k + i] >= 0) {
                    xval[8 * k + i] = xb[8 * k + i];
                } else {
                    xval[8 * k + i] = -xb[8 * k + i];
                    s = uint8_t(s | (1 << i));
                }
            }
            block_signs[k] = s;
        }
        float max = xval[0];
        for (int i = 1; i < 32; ++i) max = max_of(max, xval[i]);
        if (!max) {
            scales[ib] = 0;
            continue;
        }
        std::memset(L, 0, sizeof(L));
        float scale = iq3_group_scale(ops, g, kSearchS, max, xval, weight, waux, L);
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 4; ++k) block_signs[k] = uint8_t(~block_signs[k]);
        }
        for (int k = 0; k < 8; ++k) {
            const int grid_index = iq3_grid_index(g, L + 4 * k);
            qs[k] = uint8_t(grid_index & 255);
            y.qh[ib] = uint8_t(y.qh[ib] | ((grid_index >> 8) << k));
        }
        qs += 8;
        std::memcpy(signs, block_signs, 4);
        signs += 4;
        check_group_scale("IQ3_S", scale);
        scales[ib] = scale;
        max_scale = max_of(max_scale, scale);
    }
    if (!max_scale) return;
    const float d = max_scale / 31;
    y.d = fp32_to_fp16(d * 1.033f);
    const float id = 1 / d;
    for (int ib = 0; ib < QK_K / 32; ib += 2) {
        int l1 = nearest_int(0.5f * (id * scales[ib] - 1));
        l1 = std::max(0, std::min(15, l1));
        int l2 = nearest_int(0.5f * (id * scales[ib + 1] - 1));
        l2 = std::max(0, std::min(15, l2));
        y.scales[ib / 2] = uint8_t(l1 | (l2 << 4));
    }
}

template <typename B, void (*Superblock)(const quant_search_ops&, const float*, const float*, B&)>
size_t quantize_iq3(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                    const float* imatrix) {
    const int64_t nblock = n_per_row / QK_K;
    B* y = static_cast<B*>(dst);
    for (int64_t row = 0; row < nrow; ++row, src += n_per_row) {
        for (int64_t ibl = 0; ibl < nblock; ++ibl, ++y) {
            Superblock(ops, src + QK_K * ibl, imatrix ? imatrix + QK_K * ibl : nullptr, *y);
        }
    }
    return size_t(nrow * nblock) * sizeof(B);
}

}  // namespace

size_t quantize_iq3_xxs_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                             int64_t n_per_row, const float* imatrix) {
    return quantize_iq3<block_iq3_xxs, iq3_xxs_superblock>(ops, src, dst, nrow, n_per_row, imatrix);
}

size_t quantize_iq3_s_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                           int64_t n_per_row, const float* imatrix) {
    return quantize_iq3<block_iq3_s, iq3_s_superblock>(ops, src, dst, nrow, n_per_row, imatrix);
}

size_t quantize_iq3_xxs(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq3_xxs_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}

size_t quantize_iq3_s(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq3_s_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}

}  // namespace pyggml
