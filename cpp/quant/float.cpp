// float.cpp: F32, F16 and BF16 rows (conversion, no blocks).
#include <cstring>

#include "core/fp16.h"
#include "quant/quants.h"

namespace pyggml {

void dequantize_row_f32(const void* x, float* y, int64_t k) {
    std::memcpy(y, x, size_t(k) * sizeof(float));
}

void dequantize_row_f16(const void* x, float* y, int64_t k) {
    const uint16_t* h = static_cast<const uint16_t*>(x);
    for (int64_t i = 0; i < k; ++i) y[i] = fp16_to_fp32(h[i]);
}

void dequantize_row_bf16(const void* x, float* y, int64_t k) {
    const uint16_t* h = static_cast<const uint16_t*>(x);
    for (int64_t i = 0; i < k; ++i) y[i] = bf16_to_fp32(h[i]);
}

size_t quantize_f32(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    const size_t n = size_t(nrow * n_per_row);
    std::memcpy(dst, src, n * sizeof(float));
    return n * sizeof(float);
}

size_t quantize_f16(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    const int64_t n = nrow * n_per_row;
    uint16_t* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
    return size_t(n) * 2;
}

size_t quantize_bf16(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    const int64_t n = nrow * n_per_row;
    uint16_t* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
    return size_t(n) * 2;
}

}  // namespace pyggml
