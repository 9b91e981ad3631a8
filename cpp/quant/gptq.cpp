// gptq.cpp: GPTQ's column loop (see gptq.h).
#include "quant/gptq.h"

#include <cmath>

#include "core/parallel.h"

namespace pyggml {

namespace {

// Index of the level nearest to x (levels ascending); ties go to the lower level.
int nearest_level(float x, const float* levels, int n_levels) {
    int lo = 0;
    for (int q = 1; q < n_levels; ++q) {
        if (x > 0.5f * (levels[q - 1] + levels[q])) lo = q;
        else break;
    }
    return lo;
}

void one_row(float* w, const float* u, float* err, uint8_t* idx, int64_t n_cols, int64_t c0, int64_t c1,
             const float* scale, const float* offset, const float* levels, int n_levels) {
    for (int64_t c = c0; c < c1; ++c) {
        const float s = scale[c - c0], o = offset[c - c0];
        int q;
        if (s == 0.0f) {  // every level decodes to the offset: take the one nearest zero
            q = nearest_level(0.0f, levels, n_levels);
        } else {
            q = nearest_level((w[c] - o) / s, levels, n_levels);
        }
        const float value = s * levels[q] + o;
        const float e = (w[c] - value) / u[c * n_cols + c];
        idx[c] = uint8_t(q);
        err[c] = e;
        const float* uc = u + c * n_cols;
        for (int64_t k = c + 1; k < n_cols; ++k) w[k] -= e * uc[k];
    }
}

}  // namespace

void gptq_columns(float* w, const float* u, float* err, uint8_t* idx, int64_t n_rows, int64_t n_cols, int64_t c0,
                  int64_t c1, const float* scale, const float* offset, const float* levels, int n_levels,
                  int n_threads) {
    const int64_t n_sel = c1 - c0;
    parallel_for(n_rows, n_threads, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            one_row(w + r * n_cols, u, err + r * n_cols, idx + r * n_cols, n_cols, c0, c1, scale + r * n_sel,
                    offset + r * n_sel, levels, n_levels);
        }
    });
}

}  // namespace pyggml
