// types.cpp: the table of tensor types with their reference conversions (see types.h).
#include "core/types.h"

#include "core/dispatch.h"
#include "quant/quants.h"
#include "quant/weight_formats.h"

namespace pyggml {

namespace {

struct entry {
    int32_t id;
    type_traits traits;
};

// name, block size, bytes per block, quantized, to_float, quantize, uses_imatrix
const entry kTypes[] = {
    {GGML_TYPE_F32, {"F32", 1, 4, false, dequantize_row_f32, quantize_f32, false}},
    {GGML_TYPE_F16, {"F16", 1, 2, false, dequantize_row_f16, quantize_f16, false}},
    {GGML_TYPE_BF16, {"BF16", 1, 2, false, dequantize_row_bf16, quantize_bf16, false}},
    {GGML_TYPE_Q4_0, {"Q4_0", QK4_0, sizeof(block_q4_0), true, dequantize_row_q4_0, quantize_q4_0, true}},
    {GGML_TYPE_Q4_1, {"Q4_1", QK4_1, sizeof(block_q4_1), true, dequantize_row_q4_1, quantize_q4_1, true}},
    {GGML_TYPE_Q5_0, {"Q5_0", QK5_0, sizeof(block_q5_0), true, dequantize_row_q5_0, quantize_q5_0, true}},
    {GGML_TYPE_Q5_1, {"Q5_1", QK5_1, sizeof(block_q5_1), true, dequantize_row_q5_1, quantize_q5_1, true}},
    {GGML_TYPE_Q8_0, {"Q8_0", QK8_0, sizeof(block_q8_0), true, dequantize_row_q8_0, quantize_q8_0, false}},
    {GGML_TYPE_Q8_1, {"Q8_1", QK8_1, sizeof(block_q8_1), true, dequantize_row_q8_1, quantize_q8_1, false}},
    {GGML_TYPE_Q2_K, {"Q2_K", QK_K, sizeof(block_q2_K), true, dequantize_row_q2_K, quantize_q2_K, true}},
    {GGML_TYPE_Q3_K, {"Q3_K", QK_K, sizeof(block_q3_K), true, dequantize_row_q3_K, quantize_q3_K, true}},
    {GGML_TYPE_Q4_K, {"Q4_K", QK_K, sizeof(block_q4_K), true, dequantize_row_q4_K, quantize_q4_K, true}},
    {GGML_TYPE_Q5_K, {"Q5_K", QK_K, sizeof(block_q5_K), true, dequantize_row_q5_K, quantize_q5_K, true}},
    {GGML_TYPE_Q6_K, {"Q6_K", QK_K, sizeof(block_q6_K), true, dequantize_row_q6_K, quantize_q6_K, true}},
    {GGML_TYPE_Q8_K, {"Q8_K", QK_K, sizeof(block_q8_K), true, dequantize_row_q8_K, quantize_q8_K, false}},
    {GGML_TYPE_IQ4_NL, {"IQ4_NL", QK4_NL, sizeof(block_iq4_nl), true, dequantize_row_iq4_nl, quantize_iq4_nl, true}},
    {GGML_TYPE_IQ4_XS, {"IQ4_XS", QK_K, sizeof(block_iq4_xs), true, dequantize_row_iq4_xs, quantize_iq4_xs, true}},
    {GGML_TYPE_IQ2_XXS, {"IQ2_XXS", QK_K, sizeof(block_iq2_xxs), true, dequantize_row_iq2_xxs, quantize_iq2_xxs, true}},
    {GGML_TYPE_IQ2_XS, {"IQ2_XS", QK_K, sizeof(block_iq2_xs), true, dequantize_row_iq2_xs, quantize_iq2_xs, true}},
    {GGML_TYPE_IQ2_S, {"IQ2_S", QK_K, sizeof(block_iq2_s), true, dequantize_row_iq2_s, quantize_iq2_s, true}},
    {GGML_TYPE_IQ3_XXS, {"IQ3_XXS", QK_K, sizeof(block_iq3_xxs), true, dequantize_row_iq3_xxs, quantize_iq3_xxs, true}},
    {GGML_TYPE_IQ3_S, {"IQ3_S", QK_K, sizeof(block_iq3_s), true, dequantize_row_iq3_s, quantize_iq3_s, true}},
    {GGML_TYPE_IQ1_S, {"IQ1_S", QK_K, sizeof(block_iq1_s), true, dequantize_row_iq1_s, quantize_iq1_s, true}},
    {GGML_TYPE_IQ1_M, {"IQ1_M", QK_K, sizeof(block_iq1_m), true, dequantize_row_iq1_m, quantize_iq1_m, true}},
    {GGML_TYPE_TQ1_0, {"TQ1_0", QK_K, sizeof(block_tq1_0), true, dequantize_row_tq1_0, quantize_tq1_0, false}},
    {GGML_TYPE_TQ2_0, {"TQ2_0", QK_K, sizeof(block_tq2_0), true, dequantize_row_tq2_0, quantize_tq2_0, false}},
    {GGML_TYPE_MXFP4, {"MXFP4", QK_MXFP4, sizeof(block_mxfp4), true, dequantize_row_mxfp4, quantize_mxfp4, false}},
    {GGML_TYPE_NVFP4, {"NVFP4", QK_NVFP4, sizeof(block_nvfp4), true, dequantize_row_nvfp4, quantize_nvfp4, false}},
    {GGML_TYPE_Q1_0, {"Q1_0", QK1_0, sizeof(block_q1_0), true, dequantize_row_q1_0, quantize_q1_0, false}},
    // pyggml's load-time formats: rows with a header, made by quant/weight_formats.h's
    // quantize_tensor_* (a whole tensor at a time), so no quantize entry here.
    {PYGGML_TYPE_I8_ROW, {"I8_ROW", 32, 32, true, dequantize_row_i8_row, nullptr, false, row_header_i8}},
    {PYGGML_TYPE_I8Z_ROW, {"I8Z_ROW", 32, 32, true, dequantize_row_i8z_row, nullptr, false, row_header_i8z}},
    {PYGGML_TYPE_I8_B64, {"I8_B64", QK_I8B, sizeof(block_i8_64), true, dequantize_row_i8_b64, nullptr, false}},
    {PYGGML_TYPE_I8Z_B64, {"I8Z_B64", QK_I8B, sizeof(block_i8z_64), true, dequantize_row_i8z_b64, nullptr, false}},
    {PYGGML_TYPE_LLM_INT8, {"LLM_INT8", 32, 32, true, dequantize_row_i8_row, nullptr, false, row_header_i8}},
    {PYGGML_TYPE_NF4, {"NF4", QK_NF4, sizeof(block_nf4), true, dequantize_row_nf4, nullptr, false}},
    {PYGGML_TYPE_FP4, {"FP4", QK_NF4, sizeof(block_nf4), true, dequantize_row_fp4, nullptr, false}},
    {PYGGML_TYPE_NF4_DQ, {"NF4_DQ", QK_NF4, QK_NF4 / 2, true, dequantize_row_nf4_dq, nullptr, false, row_header_nf4_dq}},
    {PYGGML_TYPE_FP4_DQ, {"FP4_DQ", QK_NF4, QK_NF4 / 2, true, dequantize_row_fp4_dq, nullptr, false, row_header_nf4_dq}},
    {PYGGML_TYPE_A8_ROW, {"A8_ROW", 32, 32, true, dequantize_row_a8, nullptr, false, row_header_a8}},
    {PYGGML_TYPE_A8_OUTLIER, {"A8_OUTLIER", 32, 32 * 9, true, nullptr, nullptr, false, row_header_a8_outlier}},
};

}  // namespace

void register_types(isa_kernels& k) {
    for (const entry& e : kTypes) k.types[e.id] = e.traits;
}

}  // namespace pyggml
