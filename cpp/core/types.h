// types.h: one table describing every tensor type the runtime knows.
//
// Ids are ggml's (they are what GGUF files store). Everything that needs to know
// how big a block is, how to turn it into floats or how to make it from floats
// looks it up here; no other code switches on the type.
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
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_COUNT = 41,
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

// Null for an id the runtime does not know. Conversions are the fastest variants this
// CPU runs (SIMD twins, bit-identical to the reference).
const type_traits* get_type_traits(int32_t type);
// The same table with the scalar reference conversions, for tests and as the oracle.
const type_traits* get_type_traits_ref(int32_t type);

inline size_t row_size(const type_traits& t, int64_t n) {
    return size_t(n / t.blck_size) * t.type_size;
}

}  // namespace pyggml
