// quants.h: reference quantizers and dequantizers for every block type.
//
// quantize_row_*_ref and dequantize_row_* work on k floats (a multiple of the block
// size); quantize_* (the traits entry) works on whole rows and takes an optional
// importance vector, exactly as the functions of the same name in ggml-quants.c.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/blocks.h"

namespace pyggml {

// float formats (float.cpp)
void dequantize_row_f32(const void* x, float* y, int64_t k);
void dequantize_row_f16(const void* x, float* y, int64_t k);
void dequantize_row_bf16(const void* x, float* y, int64_t k);
size_t quantize_f32(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_f16(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_bf16(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);

// legacy 32-element blocks (legacy.cpp)
void quantize_row_q4_0_ref(const float* x, block_q4_0* y, int64_t k);
void quantize_row_q4_1_ref(const float* x, block_q4_1* y, int64_t k);
void quantize_row_q5_0_ref(const float* x, block_q5_0* y, int64_t k);
void quantize_row_q5_1_ref(const float* x, block_q5_1* y, int64_t k);
void quantize_row_q8_0_ref(const float* x, block_q8_0* y, int64_t k);
void quantize_row_q8_1_ref(const float* x, block_q8_1* y, int64_t k);
void dequantize_row_q4_0(const void* x, float* y, int64_t k);
void dequantize_row_q4_1(const void* x, float* y, int64_t k);
void dequantize_row_q5_0(const void* x, float* y, int64_t k);
void dequantize_row_q5_1(const void* x, float* y, int64_t k);
void dequantize_row_q8_0(const void* x, float* y, int64_t k);
void dequantize_row_q8_1(const void* x, float* y, int64_t k);
size_t quantize_q4_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q4_1(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q5_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q5_1(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q8_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q8_1(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);

// k-quants (k.cpp)
void quantize_row_q2_K_ref(const float* x, block_q2_K* y, int64_t k);
void quantize_row_q3_K_ref(const float* x, block_q3_K* y, int64_t k);
void quantize_row_q4_K_ref(const float* x, block_q4_K* y, int64_t k);
void quantize_row_q5_K_ref(const float* x, block_q5_K* y, int64_t k);
void quantize_row_q6_K_ref(const float* x, block_q6_K* y, int64_t k);
void quantize_row_q8_K_ref(const float* x, block_q8_K* y, int64_t k);
void dequantize_row_q2_K(const void* x, float* y, int64_t k);
void dequantize_row_q3_K(const void* x, float* y, int64_t k);
void dequantize_row_q4_K(const void* x, float* y, int64_t k);
void dequantize_row_q5_K(const void* x, float* y, int64_t k);
void dequantize_row_q6_K(const void* x, float* y, int64_t k);
void dequantize_row_q8_K(const void* x, float* y, int64_t k);
size_t quantize_q2_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q3_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q4_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q5_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q6_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q8_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);

// non-linear 4-bit grid (iq4.cpp)
void dequantize_row_iq4_nl(const void* x, float* y, int64_t k);
void dequantize_row_iq4_xs(const void* x, float* y, int64_t k);
size_t quantize_iq4_nl(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq4_xs(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);

// ternary (ternary.cpp), 4-bit floats (fp4.cpp), signs (q1_0.cpp); no importance weighting
void quantize_row_tq1_0_ref(const float* x, block_tq1_0* y, int64_t k);
void quantize_row_tq2_0_ref(const float* x, block_tq2_0* y, int64_t k);
void quantize_row_mxfp4_ref(const float* x, block_mxfp4* y, int64_t k);
void quantize_row_nvfp4_ref(const float* x, block_nvfp4* y, int64_t k);
void quantize_row_q1_0_ref(const float* x, block_q1_0* y, int64_t k);
void dequantize_row_tq1_0(const void* x, float* y, int64_t k);
void dequantize_row_tq2_0(const void* x, float* y, int64_t k);
void dequantize_row_mxfp4(const void* x, float* y, int64_t k);
void dequantize_row_nvfp4(const void* x, float* y, int64_t k);
void dequantize_row_q1_0(const void* x, float* y, int64_t k);
size_t quantize_tq1_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_tq2_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_mxfp4(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_nvfp4(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q1_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);

// codebook formats (iq_grid_dequant.cpp)
void dequantize_row_iq2_xxs(const void* x, float* y, int64_t k);
void dequantize_row_iq2_xs(const void* x, float* y, int64_t k);
void dequantize_row_iq2_s(const void* x, float* y, int64_t k);
void dequantize_row_iq3_xxs(const void* x, float* y, int64_t k);
void dequantize_row_iq3_s(const void* x, float* y, int64_t k);
void dequantize_row_iq1_s(const void* x, float* y, int64_t k);
void dequantize_row_iq1_m(const void* x, float* y, int64_t k);

// codebook quantizers (iq2_quant.cpp, iq1_quant.cpp). IQ2_XXS, IQ2_XS and IQ1_S need an
// importance vector, as in ggml (std::invalid_argument without one); IQ2_S and IQ1_M do not.
size_t quantize_iq2_xxs(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq2_xs(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq2_s(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq1_s(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq1_m(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);

// 3-bit codebook quantizers (iq3_quant.cpp)
size_t quantize_iq3_xxs(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq3_s(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);

// The k-quant, IQ4 and codebook quantizers above with their searches taken from a chosen
// table (search.h): kSearchOpsRef gives the reference quantizers; any other table
// gives the same bytes.
struct quant_search_ops;
size_t quantize_q2_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q3_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q4_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q5_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_q6_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq4_nl_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq4_xs_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq2_xxs_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq2_xs_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq2_s_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq3_xxs_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq3_s_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq1_s_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
size_t quantize_iq1_m_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);

}  // namespace pyggml
