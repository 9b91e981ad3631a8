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

// Several products with inputs of their own in one pool dispatch: jobs[i].y = jobs[i].w
// jobs[i].x over jobs[i].n_tokens tokens, as matmul would give each (the experts a batch's
// tokens were routed to, each over its tokens). Inputs are converted once per distinct
// (x, n_tokens, activation format).
struct matmul_job {
    const weight_view* w;
    const float* x;      // (n_tokens, w->n_cols)
    float* y;            // (n_tokens, w->n_rows)
    int64_t n_tokens;    // 0: nothing to do
};
void matmul_jobs(const matmul_job* jobs, int n_jobs, thread_pool& pool);

}  // namespace pyggml
