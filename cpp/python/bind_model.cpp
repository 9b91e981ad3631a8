// bind_model.cpp: Python binding of the decoder (pyggml._core.Model).
//
// Python reads the GGUF metadata and passes the hyperparameters as a dict and each
// tensor as (ggml type, flat uint8 view of the mapped file, (ne0, ne1)). Every size is
// checked here against the hyperparameters before any pointer reaches C++; the arrays
// (and the mapping behind them) are kept alive by the Model object.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "core/dispatch.h"
#include "core/errors.h"
#include "model/model.h"
#include "python/bindings.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

using byte_array = py::array_t<uint8_t, py::array::c_style>;

struct tensor_table {
    py::dict tensors;
    py::list keep;  // arrays whose memory the model points into

    bool has(const std::string& name) const { return tensors.contains(py::str(name)); }

    py::tuple entry(const std::string& name) const {
        if (!has(name)) throw py::value_error("missing tensor " + name);
        py::tuple e = tensors[py::str(name)].cast<py::tuple>();
        if (e.size() != 3) throw py::value_error(name + ": expected (type, data, (ne0, ne1))");
        return e;
    }

    // A 2-D weight with ne0 = n_cols (input features) and ne1 = n_rows (output features).
    // matmul: the weight is multiplied (its type needs a dot kernel); false for a table
    // whose rows are only looked up.
    weight_view weight(const std::string& name, int64_t n_cols, int64_t n_rows, bool matmul = true) {
        py::tuple e = entry(name);
        const int32_t type = e[0].cast<int32_t>();
        byte_array data = e[1].cast<byte_array>();
        auto ne = e[2].cast<std::vector<int64_t>>();
        const type_traits* t = get_type_traits(type);
        if (!t) throw py::value_error(name + ": unknown ggml type id " + std::to_string(type));
        if (!t->to_float) throw py::value_error(name + ": tensor type " + t->name + " is not supported yet");
        if (matmul && !get_vec_dot_traits(type)) {
            throw py::value_error(name + ": type " + t->name + " is not a weight type (no matrix product kernel)");
        }
        if (ne.size() != 2 || ne[0] != n_cols || ne[1] != n_rows) {
            std::string got;
            for (size_t i = 0; i < ne.size(); ++i) got += (i ? ", " : "") + std::to_string(ne[i]);
            throw py::value_error(name + ": shape (" + got + "), expected (" + std::to_string(n_cols) + ", " +
                                  std::to_string(n_rows) + ")");
        }
        if (n_cols % t->blck_size) throw py::value_error(name + ": row length is not a multiple of the block size");
        const size_t rb = row_size(*t, n_cols);
        if (size_t(data.size()) != rb * size_t(n_rows)) {
            throw py::value_error(name + ": data holds " + std::to_string(data.size()) + " bytes, expected " +
                                  std::to_string(rb * size_t(n_rows)));
        }
        keep.append(data);
        return weight_view{type, data.data(), n_rows, n_cols, rb};
    }

    // A float32 vector of n elements, or null when optional and absent.
    const float* vec(const std::string& name, int64_t n, bool optional = false) {
        if (!has(name)) {
            if (optional) return nullptr;
            throw py::value_error("missing tensor " + name);
        }
        py::tuple e = entry(name);
        const int32_t type = e[0].cast<int32_t>();
        byte_array data = e[1].cast<byte_array>();
        if (type != GGML_TYPE_F32) throw py::value_error(name + ": vectors must be passed as F32");
        if (data.size() != n * 4) {
            throw py::value_error(name + ": expected " + std::to_string(n) + " float32 values");
        }
        keep.append(data);
        return reinterpret_cast<const float*>(data.data());
    }
};

template <typename T>
T get(const py::dict& d, const char* key) {
    if (!d.contains(key)) throw py::value_error(std::string("missing hyperparameter ") + key);
    try {
        return d[key].cast<T>();
    } catch (const py::cast_error&) {
        throw py::value_error(std::string("hyperparameter ") + key + " = " + std::string(py::repr(d[key])) +
                              " has the wrong type or is out of range");
    }
}

model_hparams parse_hparams(const py::dict& d) {
    model_hparams hp;
    hp.n_vocab = get<int64_t>(d, "n_vocab");
    hp.n_embd = get<int64_t>(d, "n_embd");
    hp.n_layer = get<int64_t>(d, "n_layer");
    hp.n_head = get<int64_t>(d, "n_head");
    hp.n_head_kv = get<int64_t>(d, "n_head_kv");
    hp.head_dim_k = get<int64_t>(d, "head_dim_k");
    hp.head_dim_v = get<int64_t>(d, "head_dim_v");
    hp.n_ff = get<int64_t>(d, "n_ff");
    hp.n_rot = get<int32_t>(d, "n_rot");
    hp.rope_neox = get<bool>(d, "rope_neox");
    hp.rms_eps = get<float>(d, "rms_eps");
    hp.attn_scale = get<float>(d, "attn_scale");
    hp.embd_scale = get<float>(d, "embd_scale");
    hp.final_logit_softcap = get<float>(d, "final_logit_softcap");
    hp.attn_logit_softcap = get<float>(d, "attn_logit_softcap");
    hp.n_swa = get<int64_t>(d, "n_swa");
    const std::string act = get<std::string>(d, "activation");
    if (act == "silu") hp.act = ffn_activation::silu;
    else if (act == "gelu_tanh") hp.act = ffn_activation::gelu_tanh;
    else throw py::value_error("unknown activation " + act);
    hp.layer_swa = get<std::vector<uint8_t>>(d, "layer_swa");
    hp.layer_rope_base = get<std::vector<float>>(d, "layer_rope_base");
    hp.layer_rope_scale = get<std::vector<float>>(d, "layer_rope_scale");

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
    if (hp.layer_swa.size() != L || hp.layer_rope_base.size() != L || hp.layer_rope_scale.size() != L) {
        throw py::value_error("per-layer arrays must have n_layer entries");
    }
    return hp;
}

model_weights parse_weights(const model_hparams& hp, tensor_table& tt) {
    model_weights w;
    const int64_t E = hp.n_embd, q_dim = hp.n_head * hp.head_dim_k, k_dim = hp.n_head_kv * hp.head_dim_k;
    const int64_t v_dim = hp.n_head_kv * hp.head_dim_v, o_dim = hp.n_head * hp.head_dim_v;
    const bool tied = !tt.has("output.weight");
    w.token_embd = tt.weight("token_embd.weight", E, hp.n_vocab, /*matmul=*/tied);
    w.output_norm = tt.vec("output_norm.weight", E);
    w.output = tied ? w.token_embd : tt.weight("output.weight", E, hp.n_vocab);
    w.rope_freqs = tt.vec("rope_freqs.weight", hp.n_rot / 2, true);
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        layer_weights L;
        L.attn_norm = tt.vec(p + "attn_norm.weight", E);
        L.wq = tt.weight(p + "attn_q.weight", E, q_dim);
        L.wk = tt.weight(p + "attn_k.weight", E, k_dim);
        L.wv = tt.weight(p + "attn_v.weight", E, v_dim);
        L.wo = tt.weight(p + "attn_output.weight", o_dim, E);
        L.bq = tt.vec(p + "attn_q.bias", q_dim, true);
        L.bk = tt.vec(p + "attn_k.bias", k_dim, true);
        L.bv = tt.vec(p + "attn_v.bias", v_dim, true);
        L.q_norm = tt.vec(p + "attn_q_norm.weight", hp.head_dim_k, true);
        L.k_norm = tt.vec(p + "attn_k_norm.weight", hp.head_dim_k, true);
        L.post_attn_norm = tt.vec(p + "post_attention_norm.weight", E, true);
        L.ffn_norm = tt.vec(p + "ffn_norm.weight", E);
        L.ffn_gate = tt.weight(p + "ffn_gate.weight", E, hp.n_ff);
        L.ffn_up = tt.weight(p + "ffn_up.weight", E, hp.n_ff);
        L.ffn_down = tt.weight(p + "ffn_down.weight", hp.n_ff, E);
        L.post_ffn_norm = tt.vec(p + "post_ffw_norm.weight", E, true);
        w.layers.push_back(L);
    }
    return w;
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

std::unique_ptr<model_handle> make_model(py::dict hparams, py::dict tensors, int64_t n_ctx, int64_t n_batch,
                                         int n_threads, int32_t kv_type, bool precise, py::object owner,
                                         bool repack) {
    if (n_ctx <= 0 || n_ctx > (int64_t(1) << 24)) throw py::value_error("n_ctx must be in [1, 2^24]");
    if (n_batch <= 0) throw py::value_error("n_batch must be positive");
    if (n_threads < 0 || n_threads > 1024) throw py::value_error("n_threads must be in [0, 1024]");
    auto h = std::make_unique<model_handle>();
    model_hparams hp = parse_hparams(hparams);
    tensor_table tt{tensors, py::list()};
    model_weights w = parse_weights(hp, tt);
    h->keep = tt.keep;
    h->owner = owner;
    const int64_t kv_width = hp.n_head_kv * (hp.head_dim_k + hp.head_dim_v);
    const int64_t n_layer = hp.n_layer;
    try {
        py::gil_scoped_release release;
        h->model = std::make_unique<llama_model>(std::move(hp), std::move(w), n_ctx, n_batch, n_threads, kv_type,
                                                 precise, repack);
    } catch (const std::bad_alloc&) {
        const type_traits* kt = get_type_traits(kv_type);
        const double kv_bytes = double(n_layer) * double(n_ctx) * double(kv_width) *
                                (kt ? double(kt->type_size) / double(kt->blck_size) : 4.0);
        throw resource_error("out of memory allocating the model's buffers (the KV cache for n_ctx = " +
                             std::to_string(n_ctx) + " alone is " + std::to_string(int64_t(kv_bytes / (1 << 20))) +
                             " MiB): use a smaller n_ctx");
    }
    return h;
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

py::array_t<float> embed(model_handle& h, py::array_t<int32_t, py::array::c_style | py::array::forcecast> tokens) {
    if (tokens.ndim() != 1 || tokens.size() == 0) throw py::value_error("tokens must be a non-empty 1-D array");
    auto lock = h.lock();
    llama_model& m = *h.model;
    const int64_t n = tokens.size();
    py::array_t<float> embd({n, m.hparams().n_embd});
    float* out = embd.mutable_data();
    const int32_t* tok = tokens.data();
    {
        py::gil_scoped_release release;
        m.eval_embeddings(tok, n, out);
    }
    return embd;
}

// Runs tokens like eval and returns the requested linear-layer inputs: one (n, width)
// float32 array per (layer, site) in `sites`, then the output matrix's input when
// `output` is set. Only the last position's logits are computed.
py::list eval_capture(model_handle& h, py::array_t<int32_t, py::array::c_style | py::array::forcecast> tokens,
                      const std::vector<std::pair<int64_t, int>>& sites, bool output, int64_t last_layer) {
    if (tokens.ndim() != 1 || tokens.size() == 0) throw py::value_error("tokens must be a non-empty 1-D array");
    auto lock = h.lock();
    llama_model& m = *h.model;
    const model_hparams& hp = m.hparams();
    const int64_t n = tokens.size();
    if (last_layer >= hp.n_layer || last_layer < -1) throw py::value_error("last_layer is out of range");
    if (output && last_layer >= 0) throw py::value_error("the output input needs every layer (last_layer = -1)");
    activation_capture cap;
    cap.last_layer = last_layer;
    cap.dst.assign(size_t(hp.n_layer * n_capture_sites), nullptr);
    py::list arrays;
    for (auto [layer, site] : sites) {
        if (layer < 0 || layer >= hp.n_layer) throw py::value_error("capture layer " + std::to_string(layer) + " is out of range");
        if (site < 0 || site >= n_capture_sites) throw py::value_error("capture site must be in [0, 4)");
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
    py::array_t<float> logits({int64_t(1), hp.n_vocab});
    float* out = logits.mutable_data();
    const int32_t* tok = tokens.data();
    {
        py::gil_scoped_release release;
        m.set_capture(&cap);
        try {
            m.eval(tok, n, false, out);
        } catch (...) {
            m.set_capture(nullptr);
            throw;
        }
        m.set_capture(nullptr);
    }
    return arrays;
}

}  // namespace

void pyggml::bind_model(py::module_& m) {
    py::class_<model_handle>(m, "Model")
        .def(py::init(&make_model), py::arg("hparams"), py::arg("tensors"), py::arg("n_ctx"), py::arg("n_batch"),
             py::arg("n_threads"), py::arg("kv_type"), py::arg("precise") = false, py::arg("owner") = py::none(),
             py::arg("repack") = true)
        .def("eval", &eval, py::arg("tokens"), py::arg("all_logits") = false,
             "Run tokens at positions n_past..; returns (n, n_vocab) or (1, n_vocab) float32 logits")
        .def("embed", &embed, py::arg("tokens"),
             "Run tokens at positions n_past..; returns (n, n_embd) float32 hidden states after the final norm")
        .def("eval_capture", &eval_capture, py::arg("tokens"), py::arg("sites"), py::arg("output") = false,
             py::arg("last_layer") = -1,
             "Run tokens like eval; returns the inputs of the linear layers at (layer, site) pairs "
             "(site 0: q/k/v input, 1: attention output input, 2: gate/up input, 3: ffn_down input), "
             "each (n, width) float32, plus the output matrix's input when output is set; with "
             "last_layer >= 0 the pass stops after that layer")
        .def("shift_context",
             [](model_handle& h, int64_t n_keep, int64_t n_discard) {
                 auto lock = h.lock();
                 py::gil_scoped_release release;
                 h.model->shift_context(n_keep, n_discard);
             },
             py::arg("n_keep"), py::arg("n_discard"))
        .def("reset", [](model_handle& h) { auto lock = h.lock(); h.model->reset(); })
        .def("truncate", [](model_handle& h, int64_t n_past) { auto lock = h.lock(); h.model->truncate(n_past); },
             py::arg("n_past"), "Keep only the first n_past cached positions")
        .def_property_readonly("n_past", [](model_handle& h) { return h.model->n_past(); })
        .def_property_readonly("n_ctx", [](model_handle& h) { return h.model->n_ctx(); })
        .def_property_readonly("n_batch", [](model_handle& h) { return h.model->n_batch(); })
        .def_property_readonly("n_threads", [](model_handle& h) { return h.model->n_threads(); })
        .def_property_readonly("kv_bytes", [](model_handle& h) { return h.model->cache().bytes(); })
        .def_property_readonly("precise", [](model_handle& h) { return h.model->precise(); })
        .def_property_readonly("repacked_bytes", [](model_handle& h) { return h.model->repacked_bytes(); },
                               "bytes of weights held rearranged for this CPU's kernels (a copy of the file's)")
        .def_property_readonly("copied_bytes", [](model_handle& h) { return h.model->copied_bytes(); },
                               "bytes of plain matrices held copied into the model's huge-page buffer");
}
