// weight_formats.h: the quantizers of pyggml's load-time weight formats (core/types.h,
// PYGGML_TYPE_*; row layouts in core/blocks.h) and of their activations.
//
// int8_formats.cpp: absmax and zero-point int8 per tensor, per row or per block of 64, and the
// per-token int8 activations (with llm.int8's outlier split). bnb4.cpp: bitsandbytes' NF4 and
// FP4 with optional double quantization. Each quantize_tensor_* takes a whole tensor (the
// per-tensor scale and the double quantization's offset are the tensor's), nrow rows of n.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/blocks.h"

namespace pyggml {

// The dynamic 8-bit map of bitsandbytes (functional.create_dynamic_map(signed=True)), sorted:
// the codes of the double-quantized block scales.
const float* dynamic_map_256();

// Bytes before the blocks of a row of n (types.h row_header_fn).
size_t row_header_i8(int64_t n);
size_t row_header_i8z(int64_t n);
size_t row_header_a8(int64_t n);
size_t row_header_a8_outlier(int64_t n);
size_t row_header_nf4_dq(int64_t n);

// type: PYGGML_TYPE_I8_ROW, I8Z_ROW, I8_B64, I8Z_B64 or LLM_INT8. per_tensor (row types only):
// one scale (and zero point) for the whole tensor, stored in every row. Returns bytes written.
size_t quantize_tensor_int8(int32_t type, const float* src, void* dst, int64_t nrow, int64_t n, bool per_tensor);
// type: PYGGML_TYPE_NF4, FP4, NF4_DQ or FP4_DQ.
size_t quantize_tensor_bnb4(int32_t type, const float* src, void* dst, int64_t nrow, int64_t n);

// One row of k (dequantize_row_* signature; types.h to_float_fn).
void dequantize_row_i8_row(const void* x, float* y, int64_t k);
void dequantize_row_i8z_row(const void* x, float* y, int64_t k);
void dequantize_row_i8_b64(const void* x, float* y, int64_t k);
void dequantize_row_i8z_b64(const void* x, float* y, int64_t k);
void dequantize_row_nf4(const void* x, float* y, int64_t k);
void dequantize_row_fp4(const void* x, float* y, int64_t k);
void dequantize_row_nf4_dq(const void* x, float* y, int64_t k);
void dequantize_row_fp4_dq(const void* x, float* y, int64_t k);
void dequantize_row_a8(const void* x, float* y, int64_t k);

// Activations of one token (k floats): A8_ROW, and A8_OUTLIER with the columns cols[0..n_cols)
// (ascending; outlier_columns) split off.
void quantize_row_a8_ref(const float* x, void* y, int64_t k);
void quantize_row_a8_outlier_ref(const float* x, void* y, int64_t k, const int32_t* cols, int32_t n_cols);
// llm.int8's outlier features of a batch x (n_tokens, k): the columns where |x| >= threshold for
// any token (bitsandbytes' test), ascending.
std::vector<int32_t> outlier_columns(const float* x, int64_t n_tokens, int64_t k, float threshold);

// The absmax of block b of a double-quantized row (bnb4.cpp).
// Its parts: the offset, the second-level scales (ng), the codes (nb) and the 4-bit quants.
inline int64_t nf4_dq_groups(int64_t nb) { return (nb + QK_NF4_DQ - 1) / QK_NF4_DQ; }
inline float load_f32(const uint8_t* p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
}
inline float nf4_dq_absmax(const uint8_t* row, int64_t nb, int64_t b, const float* dyn) {
    const int64_t ng = nf4_dq_groups(nb);
    return dyn[row[4 + 4 * ng + b]] * load_f32(row + 4 + 4 * (b / QK_NF4_DQ)) + load_f32(row);
}

}  // namespace pyggml
