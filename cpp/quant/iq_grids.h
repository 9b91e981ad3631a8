// iq_grids.h: the codebooks of the IQ1, IQ2 and IQ3 formats, defined once (iq_grids.cpp, generated
// by scripts/make_iq_grids.py), and the sign tables shared by the IQ2 and IQ3 formats.
#pragma once

#include <cstdint>

namespace pyggml {

// Grid points of 8 (uint64) or 4 (uint32) elements; byte j is element j. IQ2 values are
// 0x08, 0x19, 0x2b; IQ3_XXS values 4..62; IQ3_S odd values 1..15; IQ1_S -1, 0, 1 (int8).
extern const uint64_t iq2xxs_grid[256];
extern const uint64_t iq2xs_grid[512];
extern const uint64_t iq2s_grid[1024];
extern const uint32_t iq3xxs_grid[256];
extern const uint32_t iq3s_grid[512];
extern const uint64_t iq1s_grid[2048];

constexpr int NGRID_IQ1S = 2048;
constexpr float IQ1S_DELTA = 0.125f;
constexpr float IQ1M_DELTA = 0.125f;

// The sign byte of 8 elements from its 7 stored bits: the eighth is their parity (an even
// number of negative signs), ggml's ksigns_iq2xs[i].
constexpr uint8_t ksigns_iq2xs(uint32_t i) {
    uint32_t p = i ^ (i >> 4);
    p ^= p >> 2;
    p ^= p >> 1;
    return uint8_t(i | ((p & 1) << 7));
}

// One element of a grid point.
inline int grid_byte(uint64_t point, int j) { return int((point >> (8 * j)) & 0xFF); }

}  // namespace pyggml
