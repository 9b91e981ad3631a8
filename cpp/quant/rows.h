// rows.h: whole tensors converted row by row, the rows split over a pool made for the call.
#pragma once

#include <cstdint>

#include "core/types.h"

namespace pyggml {

class thread_pool;

// Quantizes n_rows rows of n_per_row floats (src) into dst (n_rows * row_size(t, n_per_row)
// bytes) with t.quantize; imatrix: n_per_row weights, or null. On n_threads threads (<= 0:
// the default) or on a pool; the bytes do not depend on the count. Block formats have no
// defined result for NaN or infinity: for such input nothing is written and
// std::invalid_argument names the first one.
void quantize_rows(const type_traits& t, const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                   const float* imatrix, int n_threads);
void quantize_rows(const type_traits& t, const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                   const float* imatrix, thread_pool& pool);

// dst (n_rows, n_per_row) float32 from the n_rows rows of t's bytes in src.
void dequantize_rows(const type_traits& t, const void* src, float* dst, int64_t n_rows, int64_t n_per_row,
                     int n_threads);

}  // namespace pyggml
