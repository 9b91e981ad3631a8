// matmul.cpp: y = W x. This version dequantizes each weight row to float32 and
// takes float dot products; it is the reference the fast kernels are checked against.
#include "matmul.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "type_traits.h"

namespace pyggml {

void matmul(const weight_view& w, const float* x, float* y, int64_t n_tokens, thread_pool& pool) {
    const type_traits* t = get_type_traits(w.type);
    if (!t || !t->to_float) throw std::invalid_argument("matmul: weight type cannot be dequantized");
    pool.run([&](int ith, int nth) {
        const int64_t per = (w.n_rows + nth - 1) / nth;
        const int64_t r0 = std::min(w.n_rows, ith * per), r1 = std::min(w.n_rows, r0 + per);
        std::vector<float> row(size_t(w.n_cols));
        for (int64_t r = r0; r < r1; ++r) {
            t->to_float(static_cast<const char*>(w.data) + r * w.row_bytes, row.data(), w.n_cols);
            for (int64_t tok = 0; tok < n_tokens; ++tok) {
                const float* xt = x + tok * w.n_cols;
                double acc = 0.0;
                for (int64_t c = 0; c < w.n_cols; ++c) acc += double(row[c]) * xt[c];
                y[tok * w.n_rows + r] = float(acc);
            }
        }
    });
}

}  // namespace pyggml
