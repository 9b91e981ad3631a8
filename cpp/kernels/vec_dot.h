// vec_dot.h: dot-product kernels between a weight row and quantized activations.
//
// For y = W x the activations x are converted once per call to the weight type's
// "dot type" (Q8_0 / Q8_1 for the legacy types, Q8_K for k-quants and IQ4_XS, the
// weight's own format for F32/F16/BF16; quantize_act.cpp), then one kernel per
// (weight type, dot type) computes each output. Every kernel exists as a scalar
// reference (vec_dot.cpp) and optionally as AVX2 (arch/x86/vec_dot_avx2.cpp) and NEON
// (arch/arm/vec_dot_neon.cpp) twins; core/dispatch.h holds the ones this CPU runs best.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyggml {

// The most activation rows one kernel call handles: each weight block is decoded once
// and dotted with up to this many tokens.
constexpr int VEC_DOT_MAX_NT = 4;

// One signature for every kernel: nr weight rows (bx bytes apart, n elements each)
// times nt activation rows of the dot type (1 <= nt <= VEC_DOT_MAX_NT, by bytes apart).
// Writes s[t * bs + r] = dot(x_r, y_t). Kernels may share work between rows (the
// activation side of a block) as well as between tokens (the weight side).
using vec_dot_fn = void (*)(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y,
                            size_t by, int nt);

// Converts k floats (a multiple of the dot type's block size) to the dot type.
using from_float_fn = void (*)(const float* x, void* y, int64_t k);

// Converts k floats with the feature columns cols[0..n_cols) (ascending) split off: llm.int8's
// activations, whose outlier features, chosen over the whole batch (the columns where any
// token's |x| reaches the weight's act_param), are multiplied apart.
using from_float_split_fn = void (*)(const float* x, void* y, int64_t k, const int32_t* cols, int32_t n_cols);

// Decodes a weight row of n elements into a plain form a tier's kernels read faster
// (block_grid_decoded for the codebook types).
using decode_row_fn = void (*)(const void* x, void* y, int n);

struct vec_dot_traits {
    int32_t vec_dot_type;      // ggml type id of the converted activations
    from_float_fn from_float;  // float32 -> vec_dot_type
    vec_dot_fn vec_dot;
    // Set for a dot type whose conversion splits off the batch's outlier columns (then used
    // instead of from_float).
    from_float_split_fn from_float_split = nullptr;
    // Optional, for products with more tokens than one call takes: the row decoded once
    // (decode, decoded_row_size(n) bytes) and the kernel over decoded rows, which gives
    // vec_dot's results bit for bit. Null: vec_dot decodes the row for every call.
    decode_row_fn decode = nullptr;
    size_t (*decoded_row_size)(int n) = nullptr;
    vec_dot_fn decoded_dot = nullptr;
    // Optional, with decode: the kernel over rows decoded eight at a time (block_grid_x8,
    // kernels/grid_x8.h; nr a multiple of 8, bx the bytes between groups), up to
    // decoded_x8_max_nt tokens a call, giving vec_dot's results bit for bit. Null: rows are
    // decoded one at a time for decoded_dot.
    vec_dot_fn decoded_x8_dot = nullptr;
    int decoded_x8_max_nt = 0;
    // Set with decoded_x8_dot: decodes 8 rows (row_bytes apart, n elements each) into one
    // group of n / 256 block_grid_x8 (or, where decoded_x8_size is set, that many bytes of the
    // type's own group form: Q1_0's block_q8_0x8).
    void (*decode_x8)(const void* x, size_t row_bytes, void* group, int n) = nullptr;
    size_t (*decoded_x8_size)(int n) = nullptr;
};

}  // namespace pyggml
