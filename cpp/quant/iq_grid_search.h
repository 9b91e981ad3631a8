// iq_grid_search.h: what the IQ1 and IQ2 quantizers need to find grid points (ggml's
// iq2xs_init_impl), built once per grid on first use and never changed after.
//
// An 8-element group is searched as 2-bit codes l (0..2 per element, packed as
// u = sum l_i << 2i). A code word on the grid maps to its index; one off the grid has a list
// of neighbours: the grid points at the nwant smallest distinct squared distances from it,
// ordered by (distance, index) exactly as ggml's qsort orders them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/blocks.h"

namespace pyggml {

struct iq_grid_search {
    std::vector<uint64_t> points;        // (n_grid,) each element as the byte 2 l + 1 (1, 3 or 5)
    std::vector<int32_t> index;          // (4^8,) grid index of code word u, or -1 off the grid
    std::vector<uint32_t> first;         // (4^8 + 1,) neighbours of u: neighbours[first[u] .. first[u + 1])
    std::vector<uint16_t> neighbours;    // grid indices, the lists of all off-grid code words
    // The same lists as quant_search_ops::nearest_candidate takes them (quant/search.h): the
    // bytes 2 l + 1 of u's neighbours start at lanes[lanes_first[u]].
    std::vector<uint8_t> lanes;
    std::vector<uint32_t> lanes_first;   // (4^8,)

    int n_grid() const { return int(points.size()); }
    const uint16_t* neighbours_begin(uint16_t u) const { return neighbours.data() + first[u]; }
    const uint16_t* neighbours_end(uint16_t u) const { return neighbours.data() + first[u + 1]; }
    int neighbour_count(uint16_t u) const { return int(first[u + 1] - first[u]); }
    const uint8_t* neighbour_lanes(uint16_t u) const { return lanes.data() + lanes_first[u]; }
};

// The searches of the four grids, built on first call (thread-safe) and shared thereafter.
const iq_grid_search& iq2xxs_grid_search();  // 256 points, neighbours at 2 distances
const iq_grid_search& iq2xs_grid_search();   // 512 points, 2 distances
const iq_grid_search& iq2s_grid_search();    // 1024 points, 1 distance
const iq_grid_search& iq1s_grid_search();    // 2048 points, 3 distances (IQ1_S and IQ1_M)

// The row loop of the grid quantizers: block(x, qw, y) for each super-block of 256 (qw: its
// importance weights, or null). A row it cannot quantize (std::invalid_argument) is reported
// with the type's name before the message.
template <typename Block, typename Fn>
size_t quantize_superblocks(const char* name, const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                            const float* imatrix, Fn&& block) {
    const int64_t nblock = n_per_row / QK_K;
    Block* y = static_cast<Block*>(dst);
    try {
        for (int64_t row = 0; row < nrow; ++row, src += n_per_row) {
            for (int64_t ibl = 0; ibl < nblock; ++ibl, ++y) {
                block(src + QK_K * ibl, imatrix ? imatrix + QK_K * ibl : nullptr, *y);
            }
        }
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string(name) + ": " + e.what());
    }
    return size_t(nrow * nblock) * sizeof(Block);
}

}  // namespace pyggml
