// gpu_plan.cpp: what the GPU part of a model takes (gpu_layers.h), in plain C++: built
// with or without CUDA, so that the plan can be shown and tested on any machine.
#include <stdexcept>
#include <string>

#include "cuda/gpu_layers.h"
#include "cuda/gpu_walk.h"
#include "core/dispatch.h"

namespace pyggml {

bool gpu_supports_type(int32_t type) {
    switch (type) {
#define PYGGML_CASE(TYPE) case TYPE:
        PYGGML_GPU_TYPES(PYGGML_CASE)
#undef PYGGML_CASE
            return true;
        default:
            return false;
    }
}

// The kernels read rows in units of 32 values (every block type's block is 32 or 256).
bool gpu_supports_weight(int32_t type, int64_t n_cols) { return gpu_supports_type(type) && n_cols > 0 && n_cols % 32 == 0; }

std::vector<int64_t> rope_sets(const model_hparams& hp, int64_t* n_sets) {
    // the same order as llama_model's tables: a set per distinct (base, scale), by first layer
    std::vector<int64_t> layer_set, first;
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        size_t set = 0;
        while (set < first.size() && !(hp.layer_rope_base[size_t(first[set])] == hp.layer_rope_base[size_t(il)] &&
                                       hp.layer_rope_scale[size_t(first[set])] == hp.layer_rope_scale[size_t(il)])) {
            ++set;
        }
        if (set == first.size()) first.push_back(il);
        layer_set.push_back(int64_t(set));
    }
    if (n_sets) *n_sets = int64_t(first.size());
    return layer_set;
}

namespace {

const char* piece_name(int id) {
    static const char* names[] = {"attn_norm",      "attn_q",        "attn_k",          "attn_v",
                                  "attn_q.bias",    "attn_k.bias",   "attn_v.bias",     "attn_q_norm",
                                  "attn_k_norm",    "attn_output",   "post_attention_norm", "ffn_norm",
                                  "ffn_gate",       "ffn_up",        "ffn_down",        "post_ffw_norm",
                                  "output_norm",    "output"};
    return names[id];
}

std::string tensor_name(int64_t il, int id) {
    return (il >= 0 ? "blk." + std::to_string(il) + "." : std::string()) + piece_name(id) + ".weight";
}

}  // namespace

gpu_memory_plan plan_gpu_memory(const model_hparams& hp, const model_weights& w, const gpu_placement& p,
                                int64_t n_ctx, int64_t n_batch) {
    if (!p.layers.empty() && int64_t(p.layers.size()) != hp.n_layer) {
        throw std::invalid_argument("the GPU placement names " + std::to_string(p.layers.size()) +
                                    " layers; the model has " + std::to_string(hp.n_layer));
    }
    if (n_ctx <= 0 || n_batch <= 0) throw std::invalid_argument("n_ctx and n_batch must be positive");
    const int64_t n_placed = p.n_layers();
    if (n_placed > 0) {
        // the attention kernel's limits (cpp/cuda/ops.cu)
        if (hp.head_dim_k % 8 || hp.head_dim_k > 256 || hp.head_dim_v > 256) {
            throw std::invalid_argument("the GPU attention needs head sizes of at most 256 and keys a multiple of 8 "
                                        "(this model: " + std::to_string(hp.head_dim_k) + " and " +
                                        std::to_string(hp.head_dim_v) + ")");
        }
    }
    gpu_memory_plan plan;
    gpu_walk::weights(
        hp, w, p, [&](int64_t, int, const float*, int64_t n) { plan.weights += gpu_walk::aligned(size_t(n) * 4); },
        [&](int64_t il, int id, const weight_view& m) {
            const type_traits* t = get_type_traits(m.type);
            if (!gpu_supports_weight(m.type, m.n_cols)) {
                throw std::invalid_argument(tensor_name(il, id) + ": the GPU has no kernel for " +
                                            (t ? std::string(t->name) : "type " + std::to_string(m.type)) +
                                            " matrices of " + std::to_string(m.n_cols) + " columns");
            }
            if (m.layout != weight_layout_plain) {
                throw std::invalid_argument(tensor_name(il, id) + ": the GPU reads the file's layout, not a repacked one");
            }
            if (m.n_rows >= (int64_t(1) << 31)) throw std::invalid_argument(tensor_name(il, id) + ": too many rows");
            plan.weights += gpu_walk::aligned(gpu_walk::matrix_bytes(m));
        });
    plan.kv = size_t(n_placed) * (gpu_walk::kv_k_bytes(hp, n_ctx) + gpu_walk::kv_v_bytes(hp, n_ctx));
    if (p.any()) {
        int64_t n_sets = 0;
        rope_sets(hp, &n_sets);
        gpu_walk::scratch(hp, p, n_batch, n_sets, [&](int, size_t bytes) { plan.scratch += gpu_walk::aligned(bytes); });
    }
    return plan;
}

}  // namespace pyggml
