// matmul.h: y = W x for a weight matrix in any block type and float32 activations.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/threads.h"
#include "kernels/weight_view.h"

namespace pyggml {

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
