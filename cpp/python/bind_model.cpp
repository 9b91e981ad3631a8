// bind_model.cpp: Python binding of the decoder (pyggml._core.Model).
//
// Python reads the GGUF metadata and passes the hyperparameters as a ModelHParams (the
// C++ struct, typed fields) and each tensor as (ggml type, flat uint8 view of the mapped
// file, (ne0, ne1) or (ne0, ne1, n_expert) for stacked experts). The hyperparameters are checked here and every tensor against them
// (model/weights.cpp) before any pointer reaches the model; the arrays (and the mapping
// behind them) are kept alive by the Model object.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "core/dispatch.h"
#include "core/errors.h"
#include "cuda/gpu_layers.h"
#include "model/model.h"
#include "model/weights.h"
#include "python/bindings.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

using byte_array = py::array_t<uint8_t, py::array::c_style>;

const char* activation_name(ffn_activation a) {
    return a == ffn_activation::gelu_tanh ? "gelu_tanh" : a == ffn_activation::swiglu_oai ? "swiglu_oai" : "silu";
}

ffn_activation activation_or_throw(const std::string& name) {
    if (name == "silu") return ffn_activation::silu;
    if (name == "gelu_tanh") return ffn_activation::gelu_tanh;
    if (name == "swiglu_oai") return ffn_activation::swiglu_oai;
    throw py::value_error("unknown activation " + name);
}

const char* gating_name(expert_gating g) { return g == expert_gating::softmax_weight ? "softmax_weight" : "softmax"; }

expert_gating gating_or_throw(const std::string& name) {
    if (name == "softmax") return expert_gating::softmax;
    if (name == "softmax_weight") return expert_gating::softmax_weight;
    throw py::value_error("unknown expert gating " + name);
}

void check_hparams(const model_hparams& hp) {
    auto positive = [](int64_t v, const char* what) {
        if (v <= 0 || v > (int64_t(1) << 31)) throw py::value_error(std::string(what) + " is out of range");
    };
    positive(hp.n_vocab, "n_vocab");
    positive(hp.n_embd, "n_embd");
    positive(hp.n_layer, "n_layer");
    positive(hp.n_head, "n_head");
    positive(hp.n_head_kv, "n_head_kv");
    positive(hp.head_dim_k, "head_dim_k");
    positive(hp.head_dim_v, "head_dim_v");
    positive(hp.n_ff, "n_ff");
    if (hp.n_head % hp.n_head_kv) throw py::value_error("n_head must be a multiple of n_head_kv");
    if (hp.n_rot < 0 || hp.n_rot % 2 || hp.n_rot > hp.head_dim_k) throw py::value_error("n_rot must be even and <= head_dim_k");
    if (hp.n_swa < 0) throw py::value_error("n_swa must not be negative");
    const size_t L = size_t(hp.n_layer);
    if (hp.layer_swa.size() != L || hp.layer_rope_base.size() != L || hp.layer_rope_scale.size() != L ||
        (!hp.layer_no_rope.empty() && hp.layer_no_rope.size() != L)) {
        throw py::value_error("per-layer arrays must have n_layer entries");
    }
    if (hp.attn_temp_floor < 0) throw py::value_error("attn_temp_floor must not be negative");
    if (!(hp.rope_attn_factor > 0.0f) || !std::isfinite(hp.rope_attn_factor)) {
        throw py::value_error("rope_attn_factor must be a finite number > 0");
    }
    if (!std::isfinite(hp.yarn_ext_factor) || hp.yarn_ext_factor < 0.0f) {
        throw py::value_error("yarn_ext_factor must be a finite number >= 0");
    }
    if (hp.yarn_ext_factor != 0.0f) {
        if (hp.yarn_n_ctx_orig <= 0) throw py::value_error("YaRN needs yarn_n_ctx_orig > 0");
        if (!(hp.yarn_beta_fast > 0.0f) || !(hp.yarn_beta_slow > 0.0f) || !std::isfinite(hp.yarn_beta_fast) ||
            !std::isfinite(hp.yarn_beta_slow)) {
            throw py::value_error("yarn_beta_fast and yarn_beta_slow must be finite numbers > 0");
        }
    }
    if (hp.n_expert < 0 || hp.n_expert > (1 << 16)) throw py::value_error("n_expert must be in [0, 65536]");
    if (hp.n_expert > 0) {
        if (hp.n_expert_used < 1 || hp.n_expert_used > hp.n_expert) {
            throw py::value_error("n_expert_used must be in [1, n_expert]");
        }
        positive(hp.n_ff_exp, "n_ff_exp");
    }
}

// tensors: {name: (ggml type, flat uint8 view, (ne0, ne1[, ne2])[, act_param])}. Each tensor the model takes is
// checked here for its form (model/weights.cpp checks its shape) and its array kept alive.
tensor_lookup dict_lookup(const py::dict& tensors, py::list& keep) {
    return [&tensors, &keep](const std::string& name, tensor_ref& out) {
        if (!tensors.contains(py::str(name))) return false;
        py::tuple e = tensors[py::str(name)].cast<py::tuple>();
        if (e.size() != 3 && e.size() != 4) throw py::value_error(name + ": expected (type, data, ne[, act_param])");
        byte_array data = e[1].cast<byte_array>();
        out.type = e[0].cast<int32_t>();
        out.data = data.data();
        out.n_bytes = size_t(data.size());
        out.ne = e[2].cast<std::vector<int64_t>>();
        out.act_param = e.size() == 4 ? e[3].cast<float>() : 0.0f;
        keep.append(data);
        return true;
    };
}

// The Python-facing object: the model, the arrays it points into, and a lock so two
// threads cannot run the same model (and its pool) at once.
struct model_handle {
    std::unique_ptr<llama_model> model;
    py::list keep;
    py::object owner;
    std::mutex busy;

    std::unique_lock<std::mutex> lock() {
        std::unique_lock<std::mutex> l(busy, std::try_to_lock);
        if (!l.owns_lock()) throw std::runtime_error("the model is already running on another thread");
        return l;
    }
};

// gpu_layers: the blocks to run on the GPU; gpu_output: the head too.
gpu_placement parse_placement(const model_hparams& hp, const std::vector<int64_t>& gpu_layers, bool gpu_output) {
    gpu_placement p;
    p.output = gpu_output;
    if (gpu_layers.empty() && !gpu_output) return p;
    p.layers.assign(size_t(hp.n_layer), 0);
    for (int64_t il : gpu_layers) {
        if (il < 0 || il >= hp.n_layer) throw py::value_error("GPU layer " + std::to_string(il) + " is out of range");
        p.layers[size_t(il)] = 1;
    }
    return p;
}

std::unique_ptr<model_handle> make_model(model_hparams hp, py::dict tensors, int64_t n_ctx, int64_t n_batch,
                                         int n_threads, int32_t kv_type, bool precise, py::object owner,
                                         bool repack, const std::vector<int64_t>& gpu_layers, bool gpu_output,
                                         int64_t n_seq_max) {
    if (n_ctx <= 0 || n_ctx > (int64_t(1) << 24)) throw py::value_error("n_ctx must be in [1, 2^24]");
    if (n_batch <= 0) throw py::value_error("n_batch must be positive");
    if (n_threads < 0 || n_threads > 1024) throw py::value_error("n_threads must be in [0, 1024]");
    if (n_seq_max <= 0 || n_seq_max > 4096) throw py::value_error("n_seq_max must be in [1, 4096]");
    if (n_ctx * n_seq_max > (int64_t(1) << 24)) throw py::value_error("n_ctx * n_seq_max must be at most 2^24");
    auto h = std::make_unique<model_handle>();
    check_hparams(hp);
    py::list keep;
    model_weights w = load_weights(hp, dict_lookup(tensors, keep));
    h->keep = keep;
    const gpu_placement gpu = parse_placement(hp, gpu_layers, gpu_output);
    h->owner = owner;
    const int64_t kv_width = hp.n_head_kv * (hp.head_dim_k + hp.head_dim_v);
    const int64_t n_layer = hp.n_layer;
    try {
        py::gil_scoped_release release;
        h->model = std::make_unique<llama_model>(std::move(hp), std::move(w), n_ctx, n_batch, n_threads, kv_type,
                                                 precise, repack, gpu, n_seq_max);
    } catch (const std::bad_alloc&) {
        const type_traits* kt = get_type_traits(kv_type);
        const double kv_bytes = double(n_layer) * double(n_ctx * n_seq_max) * double(kv_width) *
                                (kt ? double(kt->type_size) / double(kt->blck_size) : 4.0);
        throw resource_error("out of memory allocating the model's buffers (the KV cache for n_ctx = " +
                             std::to_string(n_ctx) + " alone is " + std::to_string(int64_t(kv_bytes / (1 << 20))) +
                             " MiB): use a smaller n_ctx");
    }
    return h;
}

py::dict plan_dict(const gpu_memory_plan& p) {
    py::dict d;
    d["weights"] = p.weights;
    d["kv"] = p.kv;
    d["scratch"] = p.scratch;
    d["total"] = p.total();
    return d;
}

// The GPU memory a placement would take, without loading anything onto a GPU (any build).
py::dict gpu_plan(const model_hparams& hp, py::dict tensors, const std::vector<int64_t>& gpu_layers, bool gpu_output,
                  int64_t n_ctx, int64_t n_batch) {
    check_hparams(hp);
    py::list keep;
    const model_weights w = load_weights(hp, dict_lookup(tensors, keep));
    const gpu_placement p = parse_placement(hp, gpu_layers, gpu_output);
    return plan_dict(plan_gpu_memory(hp, w, p, n_ctx, std::min(n_batch, n_ctx)));
}

py::array_t<float> eval(model_handle& h, py::array_t<int32_t, py::array::c_style | py::array::forcecast> tokens,
                        bool all_logits) {
    if (tokens.ndim() != 1 || tokens.size() == 0) throw py::value_error("tokens must be a non-empty 1-D array");
    auto lock = h.lock();
    llama_model& m = *h.model;
    const int64_t n = tokens.size(), n_vocab = m.hparams().n_vocab;
    py::array_t<float> logits({all_logits ? n : int64_t(1), n_vocab});
    float* out = logits.mutable_data();
    const int32_t* tok = tokens.data();
    {
        py::gil_scoped_release release;
        m.eval(tok, n, all_logits, out);
    }
    return logits;
}

py::array_t<float> embed(model_handle& h, py::array_t<int32_t, py::array::c_style | py::array::forcecast> tokens,
                         int64_t seq) {
    if (tokens.ndim() != 1 || tokens.size() == 0) throw py::value_error("tokens must be a non-empty 1-D array");
    auto lock = h.lock();
    llama_model& m = *h.model;
    const int64_t n = tokens.size();
    py::array_t<float> embd({n, m.hparams().n_embd});
    float* out = embd.mutable_data();
    const int32_t* tok = tokens.data();
    {
        py::gil_scoped_release release;
        m.eval_embeddings(tok, n, out, seq);
    }
    return embd;
}

using token_array = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

// batch: [(sequence id, 1-D token array), ...]. Returns the logits of every token of every
// entry (all_logits) or of each entry's last token, (rows, n_vocab), in entry order.
py::array_t<float> eval_batch(model_handle& h, const std::vector<std::pair<int64_t, token_array>>& batch,
                              bool all_logits) {
    if (batch.empty()) throw py::value_error("eval_batch needs at least one (sequence, tokens) entry");
    std::vector<seq_tokens> seqs;
    int64_t n_rows = 0;
    for (const auto& [seq, tokens] : batch) {
        if (tokens.ndim() != 1 || tokens.size() == 0) throw py::value_error("tokens must be a non-empty 1-D array");
        seqs.push_back({seq, tokens.data(), int64_t(tokens.size())});
        n_rows += all_logits ? int64_t(tokens.size()) : 1;
    }
    auto lock = h.lock();
    llama_model& m = *h.model;
    py::array_t<float> logits({n_rows, m.hparams().n_vocab});
    float* out = logits.mutable_data();
    {
        py::gil_scoped_release release;
        m.eval_batch(seqs.data(), int64_t(seqs.size()), all_logits, out);
    }
    return logits;
}

// The requested linear-layer inputs of a pass over n rows: one (n, width) float32 array per
// (layer, site) in `sites`, then the output matrix's input when `output` is set, and the
// capture that fills them. Sites and last_layer are checked here.
py::list capture_arrays(const llama_model& m, int64_t n, const std::vector<std::pair<int64_t, int>>& sites, bool output,
                        int64_t last_layer, activation_capture& cap) {
    const model_hparams& hp = m.hparams();
    if (last_layer >= hp.n_layer || last_layer < -1) throw py::value_error("last_layer is out of range");
    if (output && last_layer >= 0) throw py::value_error("the output input needs every layer (last_layer = -1)");
    cap.last_layer = last_layer;
    cap.dst.assign(size_t(hp.n_layer * n_capture_sites), nullptr);
    py::list arrays;
    for (auto [layer, site] : sites) {
        if (layer < 0 || layer >= hp.n_layer) throw py::value_error("capture layer " + std::to_string(layer) + " is out of range");
        if (site < 0 || site >= n_capture_sites) throw py::value_error("capture site must be in [0, 6)");
        if (m.capture_width(site) == 0) {
            throw py::value_error("capture site " + std::to_string(site) +
                                  (m.hparams().n_expert ? " has no single input in a mixture-of-experts model (its experts: sites 4 and 5)"
                                                        : " is a mixture-of-experts site and this model has no experts"));
        }
        if (last_layer >= 0 && layer > last_layer) throw py::value_error("capture layer is after last_layer");
        float*& slot = cap.dst[size_t(layer * n_capture_sites + site)];
        if (slot) throw py::value_error("capture site requested twice");
        py::array_t<float> a({n, m.capture_width(site)});
        slot = a.mutable_data();
        arrays.append(a);
    }
    if (output) {
        py::array_t<float> a({n, hp.n_embd});
        cap.output_in = a.mutable_data();
        arrays.append(a);
    }
    return arrays;
}

// Runs `pass` (a forward pass of the model) with the capture set, the GIL released.
template <class F>
void run_captured(llama_model& m, activation_capture& cap, F&& pass) {
    py::gil_scoped_release release;
    m.set_capture(&cap);
    try {
        pass();
    } catch (...) {
        m.set_capture(nullptr);
        throw;
    }
    m.set_capture(nullptr);
}

// Runs tokens like eval and returns the requested linear-layer inputs (capture_arrays).
// Only the last position's logits are computed.
py::list eval_capture(model_handle& h, py::array_t<int32_t, py::array::c_style | py::array::forcecast> tokens,
                      const std::vector<std::pair<int64_t, int>>& sites, bool output, int64_t last_layer) {
    if (tokens.ndim() != 1 || tokens.size() == 0) throw py::value_error("tokens must be a non-empty 1-D array");
    auto lock = h.lock();
    llama_model& m = *h.model;
    const int64_t n = tokens.size();
    activation_capture cap;
    py::list arrays = capture_arrays(m, n, sites, output, last_layer, cap);
    py::array_t<float> logits({int64_t(1), m.hparams().n_vocab});
    float* out = logits.mutable_data();
    const int32_t* tok = tokens.data();
    run_captured(m, cap, [&] { m.eval(tok, n, false, out); });
    return arrays;
}

// eval_capture for several sequences in one pass, as eval_batch runs them: the arrays hold
// the rows of every entry, in entry order.
py::list eval_capture_batch(model_handle& h, const std::vector<std::pair<int64_t, token_array>>& batch,
                            const std::vector<std::pair<int64_t, int>>& sites, bool output, int64_t last_layer) {
    if (batch.empty()) throw py::value_error("eval_capture_batch needs at least one (sequence, tokens) entry");
    std::vector<seq_tokens> seqs;
    int64_t n = 0;
    for (const auto& [seq, tokens] : batch) {
        if (tokens.ndim() != 1 || tokens.size() == 0) throw py::value_error("tokens must be a non-empty 1-D array");
        seqs.push_back({seq, tokens.data(), int64_t(tokens.size())});
        n += int64_t(tokens.size());
    }
    auto lock = h.lock();
    llama_model& m = *h.model;
    activation_capture cap;
    py::list arrays = capture_arrays(m, n, sites, output, last_layer, cap);
    py::array_t<float> logits({int64_t(seqs.size()), m.hparams().n_vocab});
    float* out = logits.mutable_data();
    run_captured(m, cap, [&] { m.eval_batch(seqs.data(), int64_t(seqs.size()), false, out); });
    return arrays;
}

}  // namespace

void pyggml::bind_model(py::module_& m) {
    py::class_<model_hparams>(m, "ModelHParams", "A decoder's hyper-parameters, as pyggml.Model.hparams computes them")
        .def(py::init([](int64_t n_vocab, int64_t n_embd, int64_t n_layer, int64_t n_head, int64_t n_head_kv,
                         int64_t head_dim_k, int64_t head_dim_v, int64_t n_ff, int32_t n_rot, bool rope_neox,
                         float rms_eps, float attn_scale, float embd_scale, float final_logit_softcap,
                         float attn_logit_softcap, int64_t n_swa, const std::string& activation,
                         std::vector<uint8_t> layer_swa, std::vector<float> layer_rope_base,
                         std::vector<float> layer_rope_scale, std::vector<uint8_t> layer_no_rope,
                         float attn_temp_scale, int64_t attn_temp_floor, int64_t n_expert, int64_t n_expert_used,
                         int64_t n_ff_exp, bool expert_weights_norm, float expert_weights_scale,
                         float rope_attn_factor, const std::string& expert_gating_name, float yarn_ext_factor,
                         float yarn_beta_fast, float yarn_beta_slow, int64_t yarn_n_ctx_orig) {
                 model_hparams hp;
                 hp.n_vocab = n_vocab;
                 hp.n_embd = n_embd;
                 hp.n_layer = n_layer;
                 hp.n_head = n_head;
                 hp.n_head_kv = n_head_kv;
                 hp.head_dim_k = head_dim_k;
                 hp.head_dim_v = head_dim_v;
                 hp.n_ff = n_ff;
                 hp.n_rot = n_rot;
                 hp.rope_neox = rope_neox;
                 hp.rms_eps = rms_eps;
                 hp.attn_scale = attn_scale;
                 hp.embd_scale = embd_scale;
                 hp.final_logit_softcap = final_logit_softcap;
                 hp.attn_logit_softcap = attn_logit_softcap;
                 hp.n_swa = n_swa;
                 hp.act = activation_or_throw(activation);
                 hp.layer_swa = std::move(layer_swa);
                 hp.layer_rope_base = std::move(layer_rope_base);
                 hp.layer_rope_scale = std::move(layer_rope_scale);
                 hp.layer_no_rope = std::move(layer_no_rope);
                 hp.attn_temp_scale = attn_temp_scale;
                 hp.attn_temp_floor = attn_temp_floor;
                 hp.n_expert = n_expert;
                 hp.n_expert_used = n_expert_used;
                 hp.n_ff_exp = n_ff_exp;
                 hp.expert_weights_norm = expert_weights_norm;
                 hp.expert_weights_scale = expert_weights_scale;
                 hp.rope_attn_factor = rope_attn_factor;
                 hp.gating = gating_or_throw(expert_gating_name);
                 hp.yarn_ext_factor = yarn_ext_factor;
                 hp.yarn_beta_fast = yarn_beta_fast;
                 hp.yarn_beta_slow = yarn_beta_slow;
                 hp.yarn_n_ctx_orig = yarn_n_ctx_orig;
                 return hp;
             }),
             py::kw_only(), py::arg("n_vocab"), py::arg("n_embd"), py::arg("n_layer"), py::arg("n_head"),
             py::arg("n_head_kv"), py::arg("head_dim_k"), py::arg("head_dim_v"), py::arg("n_ff"), py::arg("n_rot"),
             py::arg("rope_neox"), py::arg("rms_eps"), py::arg("attn_scale"), py::arg("embd_scale"),
             py::arg("final_logit_softcap"), py::arg("attn_logit_softcap"), py::arg("n_swa"), py::arg("activation"),
             py::arg("layer_swa"), py::arg("layer_rope_base"), py::arg("layer_rope_scale"),
             py::arg("layer_no_rope") = std::vector<uint8_t>{}, py::arg("attn_temp_scale") = 0.0f,
             py::arg("attn_temp_floor") = 0, py::arg("n_expert") = 0, py::arg("n_expert_used") = 0,
             py::arg("n_ff_exp") = 0, py::arg("expert_weights_norm") = false, py::arg("expert_weights_scale") = 1.0f,
             py::arg("rope_attn_factor") = 1.0f, py::arg("expert_gating") = "softmax",
             py::arg("yarn_ext_factor") = 0.0f, py::arg("yarn_beta_fast") = 32.0f, py::arg("yarn_beta_slow") = 1.0f,
             py::arg("yarn_n_ctx_orig") = 0)
        .def_readwrite("n_vocab", &model_hparams::n_vocab)
        .def_readwrite("n_embd", &model_hparams::n_embd)
        .def_readwrite("n_layer", &model_hparams::n_layer)
        .def_readwrite("n_head", &model_hparams::n_head)
        .def_readwrite("n_head_kv", &model_hparams::n_head_kv)
        .def_readwrite("head_dim_k", &model_hparams::head_dim_k)
        .def_readwrite("head_dim_v", &model_hparams::head_dim_v)
        .def_readwrite("n_ff", &model_hparams::n_ff)
        .def_readwrite("n_rot", &model_hparams::n_rot)
        .def_readwrite("rope_neox", &model_hparams::rope_neox)
        .def_readwrite("rms_eps", &model_hparams::rms_eps)
        .def_readwrite("attn_scale", &model_hparams::attn_scale)
        .def_readwrite("embd_scale", &model_hparams::embd_scale)
        .def_readwrite("final_logit_softcap", &model_hparams::final_logit_softcap)
        .def_readwrite("attn_logit_softcap", &model_hparams::attn_logit_softcap)
        .def_readwrite("n_swa", &model_hparams::n_swa)
        .def_property(
            "activation", [](const model_hparams& hp) { return std::string(activation_name(hp.act)); },
            [](model_hparams& hp, const std::string& name) { hp.act = activation_or_throw(name); })
        .def_readwrite("layer_swa", &model_hparams::layer_swa)
        .def_readwrite("layer_rope_base", &model_hparams::layer_rope_base)
        .def_readwrite("layer_rope_scale", &model_hparams::layer_rope_scale)
        .def_readwrite("layer_no_rope", &model_hparams::layer_no_rope)
        .def_readwrite("attn_temp_scale", &model_hparams::attn_temp_scale)
        .def_readwrite("attn_temp_floor", &model_hparams::attn_temp_floor)
        .def_readwrite("n_expert", &model_hparams::n_expert)
        .def_readwrite("n_expert_used", &model_hparams::n_expert_used)
        .def_readwrite("n_ff_exp", &model_hparams::n_ff_exp)
        .def_readwrite("expert_weights_norm", &model_hparams::expert_weights_norm)
        .def_readwrite("expert_weights_scale", &model_hparams::expert_weights_scale)
        .def_readwrite("rope_attn_factor", &model_hparams::rope_attn_factor)
        .def_property(
            "expert_gating", [](const model_hparams& hp) { return std::string(gating_name(hp.gating)); },
            [](model_hparams& hp, const std::string& name) { hp.gating = gating_or_throw(name); })
        .def_readwrite("yarn_ext_factor", &model_hparams::yarn_ext_factor)
        .def_readwrite("yarn_beta_fast", &model_hparams::yarn_beta_fast)
        .def_readwrite("yarn_beta_slow", &model_hparams::yarn_beta_slow)
        .def_readwrite("yarn_n_ctx_orig", &model_hparams::yarn_n_ctx_orig);

    py::class_<model_handle>(m, "Model")
        .def(py::init(&make_model), py::arg("hparams"), py::arg("tensors"), py::arg("n_ctx"), py::arg("n_batch"),
             py::arg("n_threads"), py::arg("kv_type"), py::arg("precise") = false, py::arg("owner") = py::none(),
             py::arg("repack") = true, py::arg("gpu_layers") = std::vector<int64_t>(), py::arg("gpu_output") = false,
             py::arg("n_seq_max") = 1)
        .def_static("gpu_plan", &gpu_plan, py::arg("hparams"), py::arg("tensors"), py::arg("gpu_layers"),
                    py::arg("gpu_output"), py::arg("n_ctx"), py::arg("n_batch"),
                    "bytes of GPU memory (weights, kv, scratch, total) the placement would take; raises "
                    "ValueError for tensors or sizes the GPU has no kernel for")
        .def("eval", &eval, py::arg("tokens"), py::arg("all_logits") = false,
             "Run tokens at positions n_past.. of sequence 0; returns (n, n_vocab) or (1, n_vocab) float32 logits")
        .def("eval_batch", &eval_batch, py::arg("batch"), py::arg("all_logits") = false,
             "Run [(seq, tokens), ...] in one pass, each at its sequence's positions; returns float32 logits "
             "(every token's, or each entry's last token's), rows in entry order")
        .def("embed", &embed, py::arg("tokens"), py::arg("seq") = 0,
             "Run tokens at the sequence's next positions; returns (n, n_embd) float32 hidden states after the final norm")
        .def("eval_capture", &eval_capture, py::arg("tokens"), py::arg("sites"), py::arg("output") = false,
             py::arg("last_layer") = -1,
             "Run tokens like eval; returns the inputs of the linear layers at (layer, site) pairs "
             "(site 0: q/k/v input, 1: attention output input, 2: gate/up input, 3: ffn_down input), "
             "each (n, width) float32, plus the output matrix's input when output is set; with "
             "last_layer >= 0 the pass stops after that layer")
        .def("eval_capture_batch", &eval_capture_batch, py::arg("batch"), py::arg("sites"), py::arg("output") = false,
             py::arg("last_layer") = -1,
             "eval_capture over [(seq, tokens), ...] in one pass as eval_batch runs them; each array holds every "
             "entry's rows in entry order")
        .def("shift_context",
             [](model_handle& h, int64_t n_keep, int64_t n_discard, int64_t seq) {
                 auto lock = h.lock();
                 py::gil_scoped_release release;
                 h.model->shift_context(n_keep, n_discard, seq);
             },
             py::arg("n_keep"), py::arg("n_discard"), py::arg("seq") = 0)
        .def("reset", [](model_handle& h) { auto lock = h.lock(); h.model->reset(); })
        .def("truncate",
             [](model_handle& h, int64_t n_past, int64_t seq) { auto lock = h.lock(); h.model->truncate(n_past, seq); },
             py::arg("n_past"), py::arg("seq") = 0, "Keep only the first n_past cached positions of a sequence")
        .def("seq_copy",
             [](model_handle& h, int64_t src, int64_t dst, int64_t n) {
                 auto lock = h.lock();
                 py::gil_scoped_release release;
                 h.model->seq_copy(src, dst, n);
             },
             py::arg("src"), py::arg("dst"), py::arg("n"), "Sequence dst becomes a copy of src's first n positions")
        .def("seq_pos", [](model_handle& h, int64_t seq) { return h.model->seq_pos(seq); }, py::arg("seq"),
             "Positions a sequence holds")
        .def_property_readonly("n_seq_max", [](model_handle& h) { return h.model->n_seq_max(); })
        .def_property_readonly("n_past", [](model_handle& h) { return h.model->n_past(); })
        .def_property_readonly("n_ctx", [](model_handle& h) { return h.model->n_ctx(); })
        .def_property_readonly("n_batch", [](model_handle& h) { return h.model->n_batch(); })
        .def_property_readonly("n_threads", [](model_handle& h) { return h.model->n_threads(); })
        .def_property_readonly("kv_bytes", [](model_handle& h) { return h.model->cache().bytes(); })
        .def_property_readonly("precise", [](model_handle& h) { return h.model->precise(); })
        .def_property_readonly("repacked_bytes", [](model_handle& h) { return h.model->repacked_bytes(); },
                               "bytes of weights held rearranged for this CPU's kernels (a copy of the file's)")
        .def_property_readonly("copied_bytes", [](model_handle& h) { return h.model->copied_bytes(); },
                               "bytes of plain matrices held copied into the model's huge-page buffer")
        .def_property_readonly("gpu_bytes",
                               [](model_handle& h) -> py::object {
                                   const gpu_layers* g = h.model->gpu();
                                   return g ? py::object(plan_dict(g->memory())) : py::object(py::none());
                               },
                               "GPU memory the model holds (weights, kv, scratch, total), or None")
        .def_property_readonly("gpu_device",
                               [](model_handle& h) -> py::object {
                                   const gpu_layers* g = h.model->gpu();
                                   return g ? py::object(py::str(g->device_name())) : py::object(py::none());
                               },
                               "the name of the GPU the model runs layers on, or None");
}
