// matmul_precise.h: y = W x keeping the activations in float32.
//
// The fast matmul (matmul.h) converts activations to the weight's dot type (Q8_0,
// Q8_K, F16...) as ggml does. This one dequantizes each weight row to float32 and
// takes float dot products instead: slower, but it differs from a float32 reference
// only by summation order. Used by Model(precise=True) to check the forward pass.
#pragma once

#include <cstdint>

#include "core/threads.h"
#include "kernels/matmul.h"

namespace pyggml {

// x: (n_tokens, w.n_cols) float32; y: (n_tokens, w.n_rows) float32. Runs on the pool.
void matmul_precise(const weight_view& w, const float* x, float* y, int64_t n_tokens, thread_pool& pool);

}  // namespace pyggml
