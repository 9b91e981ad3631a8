// bind_ops.cpp: Python bindings for the forward pass's element-wise and attention
// kernels, per instruction set, so tests can compare each SIMD twin with its reference.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "kernels/ops.h"
#include "quant/quants.h"
#include "python/bindings.h"
#include "python/checks.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

using f32_array = py::array_t<float, py::array::c_style | py::array::forcecast>;

const ops_kernels& kernels_or_throw(const std::string& isa) {
    const ops_kernels* k = get_ops_kernels(isa_or_throw(isa));
    if (!k) throw py::value_error("no " + isa + " kernels on this machine");
    return *k;
}

f32_array copy_of(const f32_array& x) {
    f32_array y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    std::copy(x.data(), x.data() + x.size(), y.mutable_data());
    return y;
}

// x: (n_rows, n); w: (n) or None.
f32_array rms_norm_py(f32_array x, py::object w_obj, float eps, const std::string& isa) {
    const ops_kernels& k = kernels_or_throw(isa);
    if (x.ndim() != 2 || x.shape(1) == 0) throw py::value_error("x must be (n_rows, n) float32 with n > 0");
    const int64_t n_rows = x.shape(0), n = x.shape(1);
    f32_array w;
    if (!w_obj.is_none()) {
        w = w_obj.cast<f32_array>();
        if (w.ndim() != 1 || w.shape(0) != n) throw py::value_error("w must be (n,) float32");
    }
    f32_array y({n_rows, n});
    const float* wp = w_obj.is_none() ? nullptr : w.data();
    for (int64_t r = 0; r < n_rows; ++r) k.rms_norm(x.data() + r * n, wp, y.mutable_data() + r * n, n, eps);
    return y;
}

// gate, up: the same shape; returns act(gate) * up (swiglu_oai: the one scalar routine every
// instruction set runs).
f32_array act_mul_py(const std::string& act, f32_array gate, f32_array up, const std::string& isa) {
    const ops_kernels& k = kernels_or_throw(isa);
    if (act != "silu" && act != "gelu_tanh" && act != "swiglu_oai") {
        throw py::value_error("act must be 'silu', 'gelu_tanh' or 'swiglu_oai'");
    }
    if (gate.size() != up.size()) throw py::value_error("gate and up must have the same size");
    f32_array y = copy_of(gate);
    if (act == "swiglu_oai") {
        swiglu_oai_mul(y.mutable_data(), up.data(), gate.size());
    } else {
        (act == "silu" ? k.silu_mul : k.gelu_tanh_mul)(y.mutable_data(), up.data(), gate.size());
    }
    return y;
}

// x: (n_head, head_dim) rotated for one position.
f32_array rope_py(f32_array x, int32_t n_rot, bool neox, float freq_base, float freq_scale, double pos,
                  const std::string& isa) {
    const ops_kernels& k = kernels_or_throw(isa);
    if (x.ndim() != 2) throw py::value_error("x must be (n_head, head_dim) float32");
    if (n_rot <= 0 || n_rot % 2 || n_rot > x.shape(1)) throw py::value_error("n_rot must be even and <= head_dim");
    const rope_params p{n_rot, neox, freq_base, freq_scale, nullptr};
    std::vector<float> cs(n_rot);
    rope_cache(p, pos, cs.data());
    f32_array y = copy_of(x);
    k.rope_apply(y.mutable_data(), x.shape(0), x.shape(1), p, cs.data());
    return y;
}

// (n, n_rot) cos/sin tables for positions pos0.. from rope_cache_rows, or from rope_cache per row.
// yarn_n_ctx_orig > 0: YaRN angles with ext_factor 1 and the given betas.
f32_array rope_cache_py(int32_t n_rot, float freq_base, float freq_scale, double pos0, int64_t n, bool rows,
                        int64_t yarn_n_ctx_orig, float beta_fast, float beta_slow) {
    if (n_rot <= 0 || n_rot % 2 || n < 0) throw py::value_error("n_rot must be positive and even, n >= 0");
    rope_params p{n_rot, false, freq_base, freq_scale, nullptr};
    if (yarn_n_ctx_orig > 0) {
        p.ext_factor = 1.0f;
        rope_yarn_corr_dims(n_rot, yarn_n_ctx_orig, freq_base, beta_fast, beta_slow, p.corr_dims);
    }
    f32_array cs({n, int64_t(n_rot)});
    if (rows) {
        rope_cache_rows(p, pos0, n, cs.mutable_data());
    } else {
        for (int64_t r = 0; r < n; ++r) rope_cache(p, pos0 + double(r), cs.mutable_data() + r * n_rot);
    }
    return cs;
}

// q: (n_tok, n_head, hdk) scaled; k: (n_keys, n_head_kv, hdk); v: (n_keys, n_head_kv, hdv).
// Token t sees keys [lo, hi0 + t) (lo as attn_tile); tiles of tile_tok tokens x tile_heads heads.
f32_array attend_py(f32_array q, f32_array k, f32_array v, int64_t hi0, int64_t window, float softcap,
                    int64_t tile_tok, int64_t tile_heads, const std::string& isa, bool kv_f16, bool kv_q8,
                    std::optional<f32_array> sinks, int64_t key_cap) {
    const ops_kernels& kern = kernels_or_throw(isa);
    if (q.ndim() != 3 || k.ndim() != 3 || v.ndim() != 3) throw py::value_error("q, k and v must be 3-d float32");
    const int64_t n_tok = q.shape(0), n_head = q.shape(1), hdk = q.shape(2);
    const int64_t n_keys = k.shape(0), n_head_kv = k.shape(1), hdv = v.shape(2);
    if (n_tok < 1 || n_head_kv < 1 || n_head % n_head_kv || k.shape(2) != hdk || v.shape(0) != n_keys ||
        v.shape(1) != n_head_kv || hdk < 1 || hdv < 1) {
        throw py::value_error("attend: inconsistent q (n_tok, n_head, hdk), k (n_keys, n_head_kv, hdk), v shapes");
    }
    if (hi0 < 1 || hi0 + n_tok - 1 > n_keys || window < 0 || key_cap < 0 || (key_cap > 0 && key_cap < hi0)) {
        throw py::value_error("attend: keys out of range");
    }
    if (sinks && (sinks->ndim() != 1 || sinks->shape(0) != n_head)) throw py::value_error("attend: sinks must be (n_head)");
    const int64_t group = n_head / n_head_kv;
    if (tile_tok < 1 || tile_heads < 1 || tile_heads > group || tile_tok * tile_heads > kAttnTileMaxRows) {
        throw py::value_error("attend: bad tile shape");
    }
    f32_array out({n_tok, n_head, hdv});
    std::vector<float> scratch(attn_tile_scratch(tile_tok * tile_heads, n_keys));
    std::vector<uint16_t> k16, v16;  // kv_f16: keys and values stored as an F16 cache holds them
    if (kv_f16) {
        for (int64_t i = 0; i < k.size(); ++i) k16.push_back(fp32_to_fp16(k.data()[i]));
        for (int64_t i = 0; i < v.size(); ++i) v16.push_back(fp32_to_fp16(v.data()[i]));
    }
    std::vector<block_q8_0> k8, v8;  // kv_q8: as a Q8_0 cache holds them
    if (kv_q8) {
        if (kv_f16) throw py::value_error("attend: kv_f16 and kv_q8 exclude each other");
        if (hdk % QK8_0 || hdv % QK8_0) throw py::value_error("attend: kv_q8 needs head dims that are multiples of 32");
        k8.resize(k.size() / QK8_0);
        v8.resize(v.size() / QK8_0);
        quantize_row_q8_0_ref(k.data(), k8.data(), k.size());
        quantize_row_q8_0_ref(v.data(), v8.data(), v.size());
    }
    {
        py::gil_scoped_release release;
        for (int64_t t0 = 0; t0 < n_tok; t0 += tile_tok) {
            for (int64_t h0 = 0; h0 < n_head; h0 += std::min(tile_heads, group - h0 % group)) {
                const int64_t kvh = h0 / group, n_hq = std::min(tile_heads, group - h0 % group);
                attn_tile a;
                a.q = q.data() + (t0 * n_head + h0) * hdk;
                a.q_stride = n_head * hdk;
                a.k = k.data() + kvh * hdk;
                a.k_stride = n_head_kv * hdk;
                a.v = v.data() + kvh * hdv;
                a.v_stride = n_head_kv * hdv;
                a.out = out.mutable_data() + (t0 * n_head + h0) * hdv;
                a.o_stride = n_head * hdv;
                a.n_tok = std::min(tile_tok, n_tok - t0);
                a.n_hq = n_hq;
                a.head_dim_k = hdk;
                a.head_dim_v = hdv;
                a.hi0 = hi0 + t0;
                a.window = window;
                a.n_keys = key_cap;
                a.softcap = softcap;
                a.sinks = sinks ? sinks->data() + h0 : nullptr;
                a.scratch = scratch.data();
                if (kv_f16) {
                    a.k16 = k16.data() + kvh * hdk;
                    a.v16 = v16.data() + kvh * hdv;
                } else if (kv_q8) {
                    a.k8 = k8.data() + kvh * hdk / QK8_0;
                    a.v8 = v8.data() + kvh * hdv / QK8_0;
                }
                kern.attend_tile(a);
            }
        }
    }
    return out;
}

}  // namespace

namespace pyggml {

void bind_ops(py::module_& testing) {
    testing.def("ops_rms_norm", &rms_norm_py, py::arg("x"), py::arg("w"), py::arg("eps"), py::arg("isa") = "best",
          "x / sqrt(mean(x^2) + eps) * w per row of x (n_rows, n)");
    testing.def("ops_act_mul", &act_mul_py, py::arg("act"), py::arg("gate"), py::arg("up"), py::arg("isa") = "best",
          "act(gate) * up for act 'silu' or 'gelu_tanh'");
    testing.def("ops_rope", &rope_py, py::arg("x"), py::arg("n_rot"), py::arg("neox"), py::arg("freq_base"),
          py::arg("freq_scale"), py::arg("pos"), py::arg("isa") = "best",
          "rotary embedding of x (n_head, head_dim) at one position");
    testing.def("ops_rope_cache", &rope_cache_py, py::arg("n_rot"), py::arg("freq_base"), py::arg("freq_scale"),
          py::arg("pos0"), py::arg("n"), py::arg("rows") = true, py::arg("yarn_n_ctx_orig") = 0,
          py::arg("beta_fast") = 32.0f, py::arg("beta_slow") = 1.0f,
          "(n, n_rot) interleaved cos/sin of positions pos0.. (rows: the batched routine)");
    testing.def("ops_attend", &attend_py, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("hi0"), py::arg("window"),
          py::arg("softcap"), py::arg("tile_tok") = 1, py::arg("tile_heads") = 1, py::arg("isa") = "best",
          py::arg("kv_f16") = false, py::arg("kv_q8") = false, py::arg("sinks") = py::none(), py::arg("key_cap") = 0,
          "causal attention of q (n_tok, n_head, hdk) over k, v (n_keys, n_head_kv, hd) computed in tiles; "
          "kv_f16: k and v rounded to F16 and read as F16, as from an F16 KV cache; kv_q8: quantized to Q8_0 "
          "and read in place, as from a Q8_0 KV cache; sinks (n_head): one more logit per head in the "
          "softmax's denominator");
}

}  // namespace pyggml
