// gptq.h: the column loop of GPTQ (Frantar et al., 2022) on a block of weight columns.
//
// Python (pyggml/gptq.py) owns the algorithm: Hessian, Cholesky, block scales from the
// type's quantizer, lazy updates of later blocks with BLAS. This is its inner loop, which
// visits one column at a time and so cannot be written as array operations.
#pragma once

#include <cstdint>

namespace pyggml {

// For each row r of the block w (n_rows, n_cols), columns c in [c0, c1) in order:
//   idx[r, c] = the level q minimizing |w[r, c] - (scale[r, c - c0] * levels[q] + offset[r, c - c0])|
//   err[r, c] = (w[r, c] - that value) / u[c, c]
//   w[r, k] -= err[r, c] * u[c, k] for every k > c in the block
// u: (n_cols, n_cols) upper Cholesky factor of the inverse Hessian for these columns.
// scale/offset: (n_rows, c1 - c0); levels: (n_levels) ascending. Rows are independent and
// are split over n_threads threads (0: every core).
void gptq_columns(float* w, const float* u, float* err, uint8_t* idx, int64_t n_rows, int64_t n_cols, int64_t c0,
                  int64_t c1, const float* scale, const float* offset, const float* levels, int n_levels,
                  int n_threads);

}  // namespace pyggml
