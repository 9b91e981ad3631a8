// grid.h: a block format seen as a grid: per-group scale and offset plus one
// quant index per element.
//
// For every supported type, each dequantized element equals
//     scale[g] * levels[q] + offset[g]
// (bit for bit, in float32, multiply then add) where q in [0, n_levels) is the
// element's quant index and g = column / group_size its group. This lets a caller
// (GPTQ-style rounding with error feedback) keep the scales a quantizer chose and
// rewrite only the indices. Supported: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K,
// IQ4_NL, IQ4_XS.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyggml {

struct grid_format {
    const char* name;
    int32_t type;
    int64_t block_size;     // elements per block
    size_t block_bytes;     // bytes per block
    int group_size;         // elements sharing one scale/offset (16 or 32)
    int n_levels;           // quant indices are 0 .. n_levels-1
    // levels: (n_levels,) float values of the grid
    void (*levels)(float* out);
    // One block -> (block_size / group_size,) scales and offsets.
    void (*params)(const uint8_t* blk, float* scale, float* offset);
    // One block -> (block_size,) quant indices.
    void (*unpack)(const uint8_t* blk, uint8_t* idx);
    // Overwrite the quant indices of one block with idx (block_size,), each < n_levels;
    // scales, mins and d are left as they are.
    void (*pack)(uint8_t* blk, const uint8_t* idx);
};

// Null for a type without a grid view.
const grid_format* get_grid_format(int32_t type);

// Rows of ncols elements (a multiple of f.block_size); data holds nrows rows.
// scale, offset: (nrows, ncols / group_size)
void grid_params_rows(const grid_format& f, const uint8_t* data, int64_t nrows, int64_t ncols,
                      float* scale, float* offset);
// idx: (nrows, ncols)
void grid_unpack_rows(const grid_format& f, const uint8_t* data, int64_t nrows, int64_t ncols,
                      uint8_t* idx);
// In place: data (nrows, row bytes) gets the indices idx (nrows, ncols).
void grid_pack_rows(const grid_format& f, uint8_t* data, int64_t nrows, int64_t ncols,
                    const uint8_t* idx);

}  // namespace pyggml
