// weights.cpp: GGUF tensor names to the decoder's weights (see weights.h).
#include "model/weights.h"

#include <stdexcept>

#include "core/dispatch.h"

namespace pyggml {

namespace {

struct tensor_table {
    const tensor_lookup& find;

    bool has(const std::string& name) const {
        tensor_ref t;
        return find(name, t);
    }

    tensor_ref entry(const std::string& name) const {
        tensor_ref t;
        if (!find(name, t)) throw std::invalid_argument("missing tensor " + name);
        return t;
    }

    // A 2-D weight with ne0 = n_cols (input features) and ne1 = n_rows (output features).
    // matmul: the weight is multiplied (its type needs a dot kernel); false for a table
    // whose rows are only looked up.
    weight_view weight(const std::string& name, int64_t n_cols, int64_t n_rows, bool matmul = true) const {
        return stacked(name, {n_cols, n_rows}, matmul);
    }

    // n_expert matrices of n_rows x n_cols stacked in one 3-D tensor, ne (n_cols, n_rows,
    // n_expert): one view of n_expert * n_rows rows (model.h: expert_matrix).
    weight_view experts(const std::string& name, int64_t n_cols, int64_t n_rows, int64_t n_expert) const {
        return stacked(name, {n_cols, n_rows, n_expert}, true);
    }

    // A tensor of shape `want` (ggml order) read as rows of want[0] elements.
    weight_view stacked(const std::string& name, const std::vector<int64_t>& want, bool matmul) const {
        const int64_t n_cols = want[0];
        int64_t n_rows = 1;
        for (size_t i = 1; i < want.size(); ++i) n_rows *= want[i];
        const tensor_ref e = entry(name);
        const type_traits* t = get_type_traits(e.type);
        if (!t) throw std::invalid_argument(name + ": unknown ggml type id " + std::to_string(e.type));
        if (!t->to_float) throw std::invalid_argument(name + ": tensor type " + t->name + " is not supported yet");
        if (matmul && !get_vec_dot_traits(e.type)) {
            throw std::invalid_argument(name + ": type " + t->name + " is not a weight type (no matrix product kernel)");
        }
        if (e.ne != want) {
            std::string got, expected;
            for (size_t i = 0; i < e.ne.size(); ++i) got += (i ? ", " : "") + std::to_string(e.ne[i]);
            for (size_t i = 0; i < want.size(); ++i) expected += (i ? ", " : "") + std::to_string(want[i]);
            throw std::invalid_argument(name + ": shape (" + got + "), expected (" + expected + ")");
        }
        if (n_cols % t->blck_size) throw std::invalid_argument(name + ": row length is not a multiple of the block size");
        const size_t rb = row_size(*t, n_cols);
        if (e.n_bytes != rb * size_t(n_rows)) {
            throw std::invalid_argument(name + ": data holds " + std::to_string(e.n_bytes) + " bytes, expected " +
                                        std::to_string(rb * size_t(n_rows)));
        }
        return weight_view{e.type, e.data, n_rows, n_cols, rb, weight_layout_plain, e.act_param};
    }

    // A float32 vector of n elements, or null when optional and absent.
    const float* vec(const std::string& name, int64_t n, bool optional = false) const {
        if (optional && !has(name)) return nullptr;
        const tensor_ref e = entry(name);
        if (e.type != GGML_TYPE_F32) throw std::invalid_argument(name + ": vectors must be passed as F32");
        if (e.n_bytes != size_t(n) * 4) {
            throw std::invalid_argument(name + ": expected " + std::to_string(n) + " float32 values");
        }
        return static_cast<const float*>(e.data);
    }
};

// Rows [row0, row0 + n_rows) of a plain matrix.
weight_view row_slice(const weight_view& w, int64_t row0, int64_t n_rows) {
    weight_view v = w;
    v.data = static_cast<const char*>(w.data) + size_t(row0) * w.row_bytes;
    v.n_rows = n_rows;
    return v;
}

}  // namespace

model_weights load_weights(const model_hparams& hp, const tensor_lookup& find) {
    const tensor_table tt{find};
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
        if (tt.has(p + "attn_qkv.weight")) {  // phi3: q, k and v stacked by rows in one matrix
            const weight_view qkv = tt.weight(p + "attn_qkv.weight", E, q_dim + k_dim + v_dim);
            L.wq = row_slice(qkv, 0, q_dim);
            L.wk = row_slice(qkv, q_dim, k_dim);
            L.wv = row_slice(qkv, q_dim + k_dim, v_dim);
        } else {
            L.wq = tt.weight(p + "attn_q.weight", E, q_dim);
            L.wk = tt.weight(p + "attn_k.weight", E, k_dim);
            L.wv = tt.weight(p + "attn_v.weight", E, v_dim);
        }
        L.wo = tt.weight(p + "attn_output.weight", o_dim, E);
        L.bo = tt.vec(p + "attn_output.bias", E, true);
        L.sinks = tt.vec(p + "attn_sinks.weight", hp.n_head, true);
        L.bq = tt.vec(p + "attn_q.bias", q_dim, true);
        L.bk = tt.vec(p + "attn_k.bias", k_dim, true);
        L.bv = tt.vec(p + "attn_v.bias", v_dim, true);
        L.q_norm = tt.vec(p + "attn_q_norm.weight", hp.head_dim_k, true);
        L.k_norm = tt.vec(p + "attn_k_norm.weight", hp.head_dim_k, true);
        L.post_attn_norm = tt.vec(p + "post_attention_norm.weight", E, true);
        L.ffn_norm = tt.vec(p + "ffn_norm.weight", E);
        if (hp.n_expert > 0) {
            const int64_t NE = hp.n_expert, Fe = hp.n_ff_exp;
            L.ffn_gate_inp = tt.weight(p + "ffn_gate_inp.weight", E, NE);
            L.ffn_gate_exps = tt.experts(p + "ffn_gate_exps.weight", E, Fe, NE);
            L.ffn_up_exps = tt.experts(p + "ffn_up_exps.weight", E, Fe, NE);
            L.ffn_down_exps = tt.experts(p + "ffn_down_exps.weight", Fe, E, NE);
            L.ffn_gate_inp_b = tt.vec(p + "ffn_gate_inp.bias", NE, true);
            L.ffn_gate_exps_b = tt.vec(p + "ffn_gate_exps.bias", NE * Fe, true);
            L.ffn_up_exps_b = tt.vec(p + "ffn_up_exps.bias", NE * Fe, true);
            L.ffn_down_exps_b = tt.vec(p + "ffn_down_exps.bias", NE * E, true);
        } else if (!tt.has(p + "ffn_gate.weight")) {  // phi3: gate then up stacked in ffn_up
            const weight_view gate_up = tt.weight(p + "ffn_up.weight", E, 2 * hp.n_ff);
            L.ffn_gate = row_slice(gate_up, 0, hp.n_ff);
            L.ffn_up = row_slice(gate_up, hp.n_ff, hp.n_ff);
            L.ffn_down = tt.weight(p + "ffn_down.weight", hp.n_ff, E);
        } else {
            L.ffn_gate = tt.weight(p + "ffn_gate.weight", E, hp.n_ff);
            L.ffn_up = tt.weight(p + "ffn_up.weight", E, hp.n_ff);
            L.ffn_down = tt.weight(p + "ffn_down.weight", hp.n_ff, E);
        }
        L.post_ffn_norm = tt.vec(p + "post_ffw_norm.weight", E, true);
        w.layers.push_back(L);
    }
    return w;
}

}  // namespace pyggml
