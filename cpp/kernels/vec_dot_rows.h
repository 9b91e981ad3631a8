// vec_dot_rows.h: adapts a one-row, one-token dot product to the common kernel signature
// (vec_dot.h), for the scalar references.
#pragma once

#include <cstddef>

#include "kernels/vec_dot.h"

namespace pyggml {

using dot1_fn = float (*)(int n, const void* x, const void* y);

template <dot1_fn Dot>
void dot_rows(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    for (int r = 0; r < nr; ++r) {
        const void* xr = static_cast<const char*>(x) + r * bx;
        for (int t = 0; t < nt; ++t) s[t * bs + r] = Dot(n, xr, static_cast<const char*>(y) + t * by);
    }
}

}  // namespace pyggml
