// gptq.h: GPTQ (Frantar et al., 2022) of one weight matrix onto a block format's grid.
//
// Python (pyggml/gptq.py) prepares the matrix (Hessian, damping, the Cholesky factor of its
// inverse, act-order's permutation); gptq_quantize runs the rest in one call on one pool:
// each GGUF block's scales from the type's quantizer on the error-corrected weights, the
// column loop, and the packing of the level indices into the scale bytes. The one step it
// leaves to the caller is the lazy update of the columns after each block of `block`
// columns (a matrix product, which the caller's BLAS makes; the bytes depend on its sums).
#pragma once

#include <cstdint>
#include <functional>

#include "core/threads.h"
#include "core/types.h"
#include "quant/grid.h"

namespace pyggml {

// For each row r of the block w (n_rows, n_cols), columns c in [c0, c1) in order:
//   idx[r, c] = the level q minimizing |w[r, c] - (scale[r, c - c0] * levels[q] + offset[r, c - c0])|
//   err[r, c] = (w[r, c] - that value) / u[c, c]
//   w[r, k] -= err[r, c] * u[c, k] for every k > c in the block
// u: (n_cols, n_cols) upper Cholesky factor of the inverse Hessian for these columns.
// scale/offset: (n_rows, c1 - c0); levels: (n_levels) ascending. Rows are independent and
// are split over the pool.
void gptq_columns(float* w, const float* u, float* err, uint8_t* idx, int64_t n_rows, int64_t n_cols, int64_t c0,
                  int64_t c1, const float* scale, const float* offset, const float* levels, int n_levels,
                  thread_pool& pool);

struct gptq_matrix {
    int64_t n_rows = 0, n_cols = 0;
    // (n_rows, n_cols) the weights in the order GPTQ visits the columns (act-order: permuted),
    // rewritten as the algorithm goes: each block's columns by the column loop, the later
    // columns by later_columns.
    float* w = nullptr;
    // (n_cols, n_cols) upper Cholesky factor of the damped inverse Hessian, in the same order.
    const float* u = nullptr;
    // Act-order: perm[c] is the file column of visited column c, and w_file (n_rows, n_cols)
    // the weights in file order, from which every block's scales are taken up front. Null:
    // the columns in file order, each GGUF block's scales taken from its current weights
    // when GPTQ reaches it.
    const int64_t* perm = nullptr;
    const float* w_file = nullptr;
    // (n_cols) per-column importance in file order steering the scales as an imatrix does,
    // or null for plain round-to-nearest scales.
    const float* importance = nullptr;
    int64_t block = 128;  // columns between lazy updates: a multiple or a divisor of the type's block size
};

// w[:, c1:] -= err (n_rows, c1 - c0) @ u[c0:c1, c1:], called after the columns [c0, c1).
using gptq_later_columns_fn = std::function<void(int64_t c0, int64_t c1, const float* err)>;

// GPTQ of m onto the grid of f (type t, its quantizer); out: the tensor's bytes (n_rows,
// row_size) in file column order. Throws std::invalid_argument for shapes that do not fit.
void gptq_quantize(const grid_format& f, const type_traits& t, const gptq_matrix& m,
                   const gptq_later_columns_fn& later_columns, uint8_t* out, thread_pool& pool);

}  // namespace pyggml
