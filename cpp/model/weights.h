// weights.h: a decoder's tensors by their GGUF names, checked and turned into the
// matrices and vectors of model_weights (model.h).
//
// The names are llama.cpp's: token_embd, output_norm, output (absent when tied to
// token_embd), rope_freqs, and per layer blk.N.attn_norm, attn_q/k/v (+ .bias),
// attn_q_norm/attn_k_norm, attn_output, post_attention_norm, ffn_norm, ffn_gate/up/down,
// post_ffw_norm; with experts, blk.N.ffn_gate_inp and the 3-D ffn_gate_exps/ffn_up_exps/
// ffn_down_exps instead of ffn_gate/up/down; phi3's fused attn_qkv (q, k, v rows) and ffn_up of
// 2 * n_ff rows (gate, then up) are read as row slices. Every shape is checked against the hyper-parameters before a pointer is kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/model.h"

namespace pyggml {

// One tensor as the caller holds it (the mapped file): ne = (ne0, ne1), ne0 elements a row.
struct tensor_ref {
    int32_t type = 0;            // ggml type id
    const void* data = nullptr;
    size_t n_bytes = 0;
    std::vector<int64_t> ne;
    float act_param = 0.0f;      // weight_view::act_param (llm.int8's outlier threshold)
};

// Finds a tensor by GGUF name; false when there is none of that name.
using tensor_lookup = std::function<bool(const std::string& name, tensor_ref& out)>;

// The model's weights from the tensors `find` gives; throws std::invalid_argument naming
// the tensor that is missing or does not fit hp.
model_weights load_weights(const model_hparams& hp, const tensor_lookup& find);

}  // namespace pyggml
