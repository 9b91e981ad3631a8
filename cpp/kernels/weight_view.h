// weight_view.h: a weight matrix as the kernels see it: its type, its rows, their layout.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyggml {

// How a weight's rows are laid out in memory: as in the file, or rearranged by repack.h.
enum weight_layout : int32_t {
    weight_layout_plain = 0,
    weight_layout_q4_Kx8 = 1,  // block_q4_Kx8 (core/blocks.h)
    weight_layout_q4_0x8 = 2,  // block_q4_0x8
    weight_layout_q8_0x8 = 3,  // block_q8_0x8
    weight_layout_q5_0x8 = 4,  // block_q5_0x8
    weight_layout_q6_Kx8 = 5,  // block_q6_Kx8
    weight_layout_iq4_nlx8 = 6,  // block_iq4_nlx8
    weight_layout_mxfp4x8 = 7,   // block_mxfp4x8
    weight_layout_q5_Kx8 = 8,    // block_q5_Kx8
    weight_layout_q4_1x8 = 9,    // block_q4_1x8
    weight_layout_q5_1x8 = 10,   // block_q5_1x8
    weight_layout_iq4_xsx8 = 11,  // block_iq4_xsx8
    weight_layout_q3_Kx8 = 12,  // block_q3_Kx8
    weight_layout_q2_Kx8 = 13,  // block_q2_Kx8
    weight_layout_count = 14,  // keep last
};

// A non-owning view of a 2-D weight tensor as stored in a GGUF file (or repacked).
struct weight_view {
    int32_t type;        // ggml type id
    const void* data;    // (n_rows, row_bytes)
    int64_t n_rows;      // output features
    int64_t n_cols;      // input features (elements per row)
    size_t row_bytes;
    int32_t layout = weight_layout_plain;  // weight_layout
    float act_param = 0.0f;  // the activation conversion's parameter (llm.int8: outlier threshold)
};

}  // namespace pyggml
