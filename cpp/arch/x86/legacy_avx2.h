// legacy_avx2.h: the AVX2 row quantizers of legacy_avx2.cpp that quantize_act_avx2.cpp
// converts activations with (Q8_0 and Q8_1), bit-identical to quantize_row_q8_*_ref.
#pragma once

#include <cstdint>

#include "core/blocks.h"

namespace pyggml {

void quantize_row_q8_0_avx2(const float* x, block_q8_0* y, int64_t k);
void quantize_row_q8_1_avx2(const float* x, block_q8_1* y, int64_t k);

}  // namespace pyggml
