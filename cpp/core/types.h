// types.h: one table describing every tensor type the runtime knows.
//
// Ids are ggml's (they are what GGUF files store). Everything that needs to know
// how big a block is, how to turn it into floats or how to make it from floats
// looks it up through core/dispatch.h (get_type_traits), which holds this table with
// each conversion replaced by the fastest bit-identical twin the CPU runs; no other code
// switches on the type. A new type: an entry in types.cpp, its block in blocks.h, its
// reference conversions in quant/, its dot kernel in kernels/vec_dot.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyggml {

enum ggml_type : int32_t {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_NVFP4 = 40,
    GGML_TYPE_Q1_0 = 41,
    GGML_TYPE_COUNT = 42,  // ggml's ids (what files store) lie below

    // pyggml's weight formats quantized at load (pyggml.runtime.weight_format), and their
    // activations. Made in memory from F16/BF16/F32 tensors, never read from or written to
    // a file (other readers could not load them); ids from 64 so ggml's new ids never meet
    // them. Row layouts: core/blocks.h.
    PYGGML_TYPE_I8_ROW = 64,      // int8, one absmax scale per row (or the tensor's in every row)
    PYGGML_TYPE_I8Z_ROW = 65,     // int8 with a scale and zero point per row (or the tensor's)
    PYGGML_TYPE_I8_B64 = 66,      // block_i8_64: int8, absmax scale per 64
    PYGGML_TYPE_I8Z_B64 = 67,     // block_i8z_64: int8, scale and zero point per 64
    PYGGML_TYPE_LLM_INT8 = 68,    // I8_ROW's rows; activations split into outliers and int8
    PYGGML_TYPE_NF4 = 69,         // block_nf4 with bitsandbytes' NF4 code book
    PYGGML_TYPE_FP4 = 70,         // block_nf4's layout with bitsandbytes' FP4 code book
    PYGGML_TYPE_NF4_DQ = 71,      // NF4 with double-quantized block scales
    PYGGML_TYPE_FP4_DQ = 72,      // FP4 with double-quantized block scales
    PYGGML_TYPE_A8_ROW = 73,      // activations: int8, one absmax scale per token
    PYGGML_TYPE_A8_OUTLIER = 74,  // llm.int8's activations: A8_ROW of the inliers + the outliers
    PYGGML_TYPE_TABLE_SIZE = 75,  // keep last: the size of the per-type tables
};

// The first of pyggml's load-time ids (see above).
constexpr int32_t PYGGML_TYPE_FIRST_RUNTIME = PYGGML_TYPE_I8_ROW;

// Convert k floats' worth of blocks (k a multiple of the block size) to float32.
using to_float_fn = void (*)(const void* src, float* dst, int64_t k);
// Quantize nrow rows of n_per_row floats; imatrix (n_per_row weights) may be null.
// Returns the bytes written. Same contract as ggml_quantize_chunk's per-type functions.
using quantize_fn = size_t (*)(const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                               const float* imatrix);
// Bytes every row of n elements holds before its blocks (the load-time formats' row scales).
using row_header_fn = size_t (*)(int64_t n);

struct type_traits {
    const char* name;
    int64_t blck_size;       // elements per block
    size_t type_size;        // bytes per block
    bool is_quantized;
    to_float_fn to_float;    // null: cannot be dequantized
    quantize_fn quantize;    // null: cannot be quantized
    bool uses_imatrix;       // quantize() takes the importance vector into account
    // Null for ggml's types. Set: each row starts with row_header(n) bytes, and to_float /
    // quantize take one row at a time (their k / n_per_row is the row's length).
    row_header_fn row_header = nullptr;
};

inline size_t row_size(const type_traits& t, int64_t n) {
    return (t.row_header ? t.row_header(n) : 0) + size_t(n / t.blck_size) * t.type_size;
}

}  // namespace pyggml
