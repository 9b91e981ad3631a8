// rows.cpp: whole-tensor conversions on the threads (see rows.h).
#include "quant/rows.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/threads.h"

namespace pyggml {

namespace {

// Rows handed to one thread at least: about 64 Ki values.
int64_t min_rows(int64_t n_per_row) { return std::max<int64_t>(1, (1 << 16) / n_per_row); }

// Quantizes with run(n_rows, min_rows, fn): parallel_for on a pool made for the call or a given one.
template <typename Run>
void quantize_rows_on(const type_traits& t, const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                      const float* imatrix, Run&& run) {
    if (t.is_quantized) {
        const int64_t n = n_rows * n_per_row;
        for (int64_t i = 0; i < n; ++i) {
            if (!std::isfinite(src[i])) {
                throw std::invalid_argument(std::string(t.name) + ": input holds a non-finite value (" +
                                            std::to_string(src[i]) + ") at row " + std::to_string(i / n_per_row) +
                                            ", column " + std::to_string(i % n_per_row) +
                                            "; block quantization needs finite floats");
            }
        }
    }
    const size_t row_bytes = row_size(t, n_per_row);
    uint8_t* y = static_cast<uint8_t*>(dst);
    run(n_rows, min_rows(n_per_row), [&](int64_t r0, int64_t r1) {
        t.quantize(src + r0 * n_per_row, y + r0 * row_bytes, r1 - r0, n_per_row, imatrix);
    });
}

}  // namespace

void quantize_rows(const type_traits& t, const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                   const float* imatrix, int n_threads) {
    quantize_rows_on(t, src, dst, n_rows, n_per_row, imatrix, [&](int64_t n, int64_t min_chunk, auto&& fn) {
        parallel_for(n, n_threads, min_chunk, fn);
    });
}

void quantize_rows(const type_traits& t, const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                   const float* imatrix, thread_pool& pool) {
    quantize_rows_on(t, src, dst, n_rows, n_per_row, imatrix, [&](int64_t n, int64_t min_chunk, auto&& fn) {
        parallel_for(pool, n, min_chunk, fn);
    });
}

void dequantize_rows(const type_traits& t, const void* src, float* dst, int64_t n_rows, int64_t n_per_row,
                     int n_threads) {
    const size_t row_bytes = row_size(t, n_per_row);
    const uint8_t* x = static_cast<const uint8_t*>(src);
    parallel_for(n_rows, n_threads, min_rows(n_per_row), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) t.to_float(x + r * row_bytes, dst + r * n_per_row, n_per_row);
    });
}

}  // namespace pyggml
