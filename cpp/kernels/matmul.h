// matmul.h: y = W x for a weight matrix in any block type and float32 activations.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/threads.h"

namespace pyggml {

// How a weight's rows are laid out in memory: as in the file, or rearranged by repack.h.
enum weight_layout : int32_t {
    weight_layout_plain = 0,
    weight_layout_q4_Kx8 = 1,  // block_q4_Kx8 (blocks.h)
    weight_layout_q4_0x8 = 2,  // block_q4_0x8
    weight_layout_q8_0x8 = 3,  // block_q8_0x8
    weight_layout_q5_0x8 = 4,  // block_q5_0x8
    weight_layout_q6_Kx8 = 5,  // block_q6_Kx8
};

// A non-owning view of a 2-D weight tensor as stored in a GGUF file (or repacked).
struct weight_view {
    int32_t type;        // ggml type id
    const void* data;    // (n_rows, row_bytes)
    int64_t n_rows;      // output features
    int64_t n_cols;      // input features (elements per row)
    size_t row_bytes;
    int32_t layout = weight_layout_plain;  // weight_layout
};

// y[t * n_rows + r] = sum_c W[r, c] * x[t * n_cols + c], for t < n_tokens.
// x: (n_tokens, n_cols) float32; y: (n_tokens, n_rows) float32. Runs on the pool.
void matmul(const weight_view& w, const float* x, float* y, int64_t n_tokens, thread_pool& pool);

// Several weights times the same x in one pool dispatch: outs[i].y = outs[i].w x, as
// matmul would give each. x is converted once per distinct activation format and the
// tiles of all weights are handed out from one counter, so one token's small matrices
// (q, k, v; gate, up) cost one dispatch and one tail instead of one each.
struct matmul_output {
    const weight_view* w;
    float* y;
};
void matmul_shared_input(const matmul_output* outs, int n_outs, const float* x, int64_t n_tokens,
                         thread_pool& pool);

}  // namespace pyggml
