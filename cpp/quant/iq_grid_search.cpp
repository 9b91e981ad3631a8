// iq_grid_search.cpp: the code-word maps and neighbour lists of the IQ1/IQ2 grids (see
// iq_grid_search.h), derived from the grids of iq_grids.cpp.
#include "quant/iq_grid_search.h"

#include <cstddef>

#include "quant/iq_grids.h"
#include "quant/search.h"

namespace pyggml {

namespace {

constexpr int kCodeWords = 1 << 16;  // 8 elements of 2 bits
constexpr int kMaxDist2 = 8 * 6 * 6;  // largest squared distance between bytes in 1..7

// The 2-bit code (0..2) of each stored grid value: IQ2's magnitudes 0x08, 0x19, 0x2b and
// IQ1's int8 -1, 0, 1.
int iq2_code(int byte) { return byte == 0x08 ? 0 : byte == 0x19 ? 1 : 2; }
int iq1_code(int byte) { return int8_t(byte) + 1; }

// True when every 2-bit code of u is at most 2: the only code words the quantizers form.
bool reachable(int u) {
    for (int i = 0; i < 8; ++i) {
        if (((u >> (2 * i)) & 3) == 3) return false;
    }
    return true;
}

iq_grid_search build(const uint64_t* grid, int n_grid, int nwant, int (*code)(int)) {
    iq_grid_search s;
    s.points.resize(n_grid);
    s.index.assign(kCodeWords, -1);
    for (int j = 0; j < n_grid; ++j) {
        uint64_t p = 0;
        int u = 0;
        for (int i = 0; i < 8; ++i) {
            const int l = code(grid_byte(grid[j], i));
            p |= uint64_t(2 * l + 1) << (8 * i);
            u |= l << (2 * i);
        }
        s.points[j] = p;
        s.index[u] = j;
    }
    s.first.assign(kCodeWords + 1, 0);
    s.lanes_first.assign(kCodeWords, 0);
    std::vector<int> dist2(n_grid);
    for (int u = 0; u < kCodeWords; ++u) {
        s.first[u] = uint32_t(s.neighbours.size());
        if (s.index[u] >= 0 || !reachable(u)) continue;
        bool present[kMaxDist2 + 1] = {};
        for (int j = 0; j < n_grid; ++j) {
            int d2 = 0;
            for (int i = 0; i < 8; ++i) {
                const int diff = grid_byte(s.points[j], i) - (2 * ((u >> (2 * i)) & 3) + 1);
                d2 += diff * diff;
            }
            dist2[j] = d2;
            present[d2] = true;
        }
        // the nwant smallest distances present, each with its points in index order
        int have = 0;
        for (int d2 = 0; d2 <= kMaxDist2 && have < nwant; ++d2) {
            if (!present[d2]) continue;
            ++have;
            for (int j = 0; j < n_grid; ++j) {
                if (dist2[j] == d2) s.neighbours.push_back(uint16_t(j));
            }
        }
        const uint16_t* list = s.neighbours.data() + s.first[u];
        s.lanes_first[u] = append_candidates(s.lanes, 8, int(s.neighbours.size() - s.first[u]),
                                             [&](int c, int i) { return grid_byte(s.points[list[c]], i); });
    }
    s.first[kCodeWords] = uint32_t(s.neighbours.size());
    return s;
}

}  // namespace

const iq_grid_search& iq2xxs_grid_search() {
    static const iq_grid_search s = build(iq2xxs_grid, 256, 2, iq2_code);
    return s;
}

const iq_grid_search& iq2xs_grid_search() {
    static const iq_grid_search s = build(iq2xs_grid, 512, 2, iq2_code);
    return s;
}

const iq_grid_search& iq2s_grid_search() {
    static const iq_grid_search s = build(iq2s_grid, 1024, 1, iq2_code);
    return s;
}

const iq_grid_search& iq1s_grid_search() {
    static const iq_grid_search s = build(iq1s_grid, NGRID_IQ1S, 3, iq1_code);
    return s;
}

}  // namespace pyggml
