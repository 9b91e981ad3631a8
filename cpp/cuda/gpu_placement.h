// gpu_placement.h: which parts of a model run on the GPU (the CUDA back end, cpp/cuda/).
//
// Plain data with no CUDA in it, so that the CPU model code holds it whether or not the
// build has CUDA.
#pragma once

#include <cstdint>
#include <vector>

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
