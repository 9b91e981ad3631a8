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
    GGML_TYPE_COUNT = 42,
};

// Convert k floats' worth of blocks (k a multiple of the block size) to float32.
using to_float_fn = void (*)(const void* src, float* dst, int64_t k);
// Quantize nrow rows of n_per_row floats; imatrix (n_per_row weights) may be null.
// Returns the bytes written. Same contract as ggml_quantize_chunk's per-type functions.
using quantize_fn = size_t (*)(const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                               const float* imatrix);

struct type_traits {
    const char* name;
    int64_t blck_size;       // elements per block
    size_t type_size;        // bytes per block
    bool is_quantized;
    to_float_fn to_float;    // null: cannot be dequantized
    quantize_fn quantize;    // null: cannot be quantized
    bool uses_imatrix;       // quantize() takes the importance vector into account
};

inline size_t row_size(const type_traits& t, int64_t n) {
    return size_t(n / t.blck_size) * t.type_size;
}

}  // namespace pyggml
