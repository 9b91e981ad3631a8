// q1_0.cpp: Q1_0, one sign bit per element and one fp16 scale (the mean magnitude) per 128.
// As ggml-quants.c; the importance vector changes nothing (ggml's quantizer ignores it).
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "quant/quants.h"

namespace pyggml {

void quantize_row_q1_0_ref(const float* x, block_q1_0* y, int64_t k) {
    for (int64_t i = 0; i < k / QK1_0; ++i) {
        const float* xb = x + i * QK1_0;
        float sum_abs = 0.0f;
        for (int j = 0; j < QK1_0; ++j) sum_abs += std::fabs(xb[j]);
        y[i].d = fp32_to_fp16(sum_abs / QK1_0);
        std::memset(y[i].qs, 0, sizeof(y[i].qs));
        for (int j = 0; j < QK1_0; ++j) {
            if (xb[j] >= 0.0f) y[i].qs[j / 8] |= uint8_t(1 << (j % 8));
        }
    }
}

void dequantize_row_q1_0(const void* vx, float* y, int64_t k) {
    const block_q1_0* x = static_cast<const block_q1_0*>(vx);
    for (int64_t i = 0; i < k / QK1_0; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK1_0; ++j) y[i * QK1_0 + j] = (x[i].qs[j / 8] >> (j % 8)) & 1 ? d : -d;
    }
}

size_t quantize_q1_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    quantize_row_q1_0_ref(src, static_cast<block_q1_0*>(dst), nrow * n_per_row);
    return size_t(nrow * (n_per_row / QK1_0)) * sizeof(block_q1_0);
}

}  // namespace pyggml
