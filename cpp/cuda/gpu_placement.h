// gpu_placement.h: which parts of a model run on the GPU (the CUDA back end, cpp/cuda/).
//
// Plain data with no CUDA in it, so that the CPU model code holds it whether or not the
// build has CUDA.
#pragma once

#include <cstdint>
#include <vector>

// The ggml weight types the GPU kernels read, once: X(type) for each (gpu_supports_type and
// the matrix and dequantize switches of ops.cu expand it).
#define PYGGML_GPU_TYPES(X)                                                                         \
    X(GGML_TYPE_F32) X(GGML_TYPE_F16) X(GGML_TYPE_BF16)                                             \
    X(GGML_TYPE_Q4_0) X(GGML_TYPE_Q4_1) X(GGML_TYPE_Q5_0) X(GGML_TYPE_Q5_1) X(GGML_TYPE_Q8_0)       \
    X(GGML_TYPE_IQ4_NL) X(GGML_TYPE_Q2_K) X(GGML_TYPE_Q3_K) X(GGML_TYPE_Q4_K) X(GGML_TYPE_Q5_K)     \
    X(GGML_TYPE_Q6_K) X(GGML_TYPE_IQ4_XS)

namespace pyggml {

struct gpu_placement {
    std::vector<uint8_t> layers;  // (n_layer), or empty: 1 where the block runs on the GPU
    bool output = false;          // the final norm, the output matrix and the logit softcap on the GPU

    bool layer(int64_t il) const { return il >= 0 && size_t(il) < layers.size() && layers[size_t(il)] != 0; }
    int64_t n_layers() const {
        int64_t n = 0;
        for (uint8_t l : layers) n += l != 0;
        return n;
    }
    bool any() const { return output || n_layers() > 0; }
};

}  // namespace pyggml
