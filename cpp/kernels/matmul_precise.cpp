// matmul_precise.cpp: float32-activation matmul (see matmul_precise.h).
#include "kernels/matmul_precise.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "core/dispatch.h"
#include "kernels/ops.h"

namespace pyggml {

void matmul_precise(const weight_view& w, const float* x, float* y, int64_t n_tokens, thread_pool& pool) {
    const type_traits* t = get_type_traits(w.type);
    if (!t || !t->to_float) throw std::invalid_argument("matmul_precise: weight type cannot be dequantized");
    if (w.layout != weight_layout_plain) throw std::invalid_argument("matmul_precise: needs weights in the file layout");
    const int64_t chunk = 16;  // rows handed out at a time
    const int64_t n_chunks = (w.n_rows + chunk - 1) / chunk;
    pool.run([&](int ith, int nth) {
        std::vector<float> row(size_t(w.n_cols));  // one dequantized weight row
        for (int64_t c = ith; c < n_chunks; c += nth) {
            const int64_t r1 = std::min(w.n_rows, (c + 1) * chunk);
            for (int64_t r = c * chunk; r < r1; ++r) {
                t->to_float(static_cast<const char*>(w.data) + r * w.row_bytes, row.data(), w.n_cols);
                for (int64_t tok = 0; tok < n_tokens; ++tok) {
                    y[tok * w.n_rows + r] = dot_f32(row.data(), x + tok * w.n_cols, w.n_cols);
                }
            }
        }
    });
}

}  // namespace pyggml
