// gpu_walk.h: the pieces the GPU holds, in one order, for the plan (gpu_plan.cpp) and the
// upload (gpu_layers.cu) alike, so that what is planned is what is allocated.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/gpu_placement.h"
#include "model/model.h"

namespace pyggml {
namespace gpu_walk {

// Every piece starts on this boundary on the device.
constexpr size_t kAlign = 256;
inline size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

enum piece : int {
    attn_norm, wq, wk, wv, bq, bk, bv, q_norm, k_norm, wo, post_attn_norm, ffn_norm, ffn_gate, ffn_up, ffn_down,
    post_ffn_norm, output_norm, output
};

// Calls vec(layer, piece, const float* host, n_floats) for each norm or bias present and
// mat(layer, piece, const weight_view&) for each matrix, of every placed block in order,
// then of the head (layer -1) when it is placed.
template <class Vec, class Mat>
void weights(const model_hparams& hp, const model_weights& w, const gpu_placement& p, Vec&& vec, Mat&& mat) {
    const int64_t E = hp.n_embd, q_dim = hp.n_head * hp.head_dim_k, k_dim = hp.n_head_kv * hp.head_dim_k;
    const int64_t v_dim = hp.n_head_kv * hp.head_dim_v;
    auto v = [&](int64_t il, piece id, const float* data, int64_t n) {
        if (data) vec(il, id, data, n);
    };
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        if (!p.layer(il)) continue;
        const layer_weights& L = w.layers[size_t(il)];
        v(il, attn_norm, L.attn_norm, E);
        mat(il, wq, L.wq);
        mat(il, wk, L.wk);
        mat(il, wv, L.wv);
        v(il, bq, L.bq, q_dim);
        v(il, bk, L.bk, k_dim);
        v(il, bv, L.bv, v_dim);
        v(il, q_norm, L.q_norm, hp.head_dim_k);
        v(il, k_norm, L.k_norm, hp.head_dim_k);
        mat(il, wo, L.wo);
        v(il, post_attn_norm, L.post_attn_norm, E);
        v(il, ffn_norm, L.ffn_norm, E);
        mat(il, ffn_gate, L.ffn_gate);
        mat(il, ffn_up, L.ffn_up);
        mat(il, ffn_down, L.ffn_down);
        v(il, post_ffn_norm, L.post_ffn_norm, E);
    }
    if (p.output) {
        v(-1, output_norm, w.output_norm, E);
        mat(-1, output, w.output);
    }
}

inline size_t matrix_bytes(const weight_view& m) { return size_t(m.n_rows) * m.row_bytes; }

// Bytes of one placed block's K and V cache: (n_ctx, k_dim) and (n_ctx, v_dim) halves.
inline size_t kv_k_bytes(const model_hparams& hp, int64_t n_ctx) {
    return aligned(size_t(n_ctx) * size_t(hp.n_head_kv * hp.head_dim_k) * 2);
}
inline size_t kv_v_bytes(const model_hparams& hp, int64_t n_ctx) {
    return aligned(size_t(n_ctx) * size_t(hp.n_head_kv * hp.head_dim_v) * 2);
}

// Rows of logits the head computes at once (its scratch holds that many).
inline int64_t logits_rows(int64_t n_batch) { return n_batch < 64 ? n_batch : 64; }

enum buffer : int { x, h, q, k, v, att, o, gate, up, rope, logits, pos, xq, n_buffers };

// Bytes of one token's activations quantized to int8 (kernels.cuh q8_vec): the widest input
// of a matrix (n_embd, n_head * head_dim_v or n_ff), an int8 per value and a float per 32.
inline int64_t q8_values(const model_hparams& hp) {
    int64_t n = hp.n_embd;
    if (hp.n_head * hp.head_dim_v > n) n = hp.n_head * hp.head_dim_v;
    if (hp.n_ff > n) n = hp.n_ff;
    return n;
}
inline size_t q8_bytes(const model_hparams& hp) {
    const size_t n32 = size_t((q8_values(hp) + 31) / 32) * 32;
    return n32 + n32 / 32 * sizeof(float);
}

// Calls put(buffer, bytes) for each scratch buffer, in order.
template <class Put>
void scratch(const model_hparams& hp, const gpu_placement& p, int64_t n_batch, int64_t n_rope_sets, Put&& put) {
    const size_t B = size_t(n_batch), f = sizeof(float);
    put(x, B * size_t(hp.n_embd) * f);
    put(h, B * size_t(hp.n_embd) * f);
    put(q, B * size_t(hp.n_head * hp.head_dim_k) * f);
    put(k, B * size_t(hp.n_head_kv * hp.head_dim_k) * f);
    put(v, B * size_t(hp.n_head_kv * hp.head_dim_v) * f);
    put(att, B * size_t(hp.n_head * hp.head_dim_v) * f);
    put(o, B * size_t(hp.n_embd) * f);
    put(gate, B * size_t(hp.n_ff) * f);
    put(up, B * size_t(hp.n_ff) * f);
    put(rope, size_t(n_rope_sets) * B * size_t(hp.n_rot > 0 ? hp.n_rot : 1) * f);
    put(logits, p.output ? size_t(logits_rows(n_batch)) * size_t(hp.n_vocab) * f : 0);
    put(pos, sizeof(int32_t));
    put(xq, q8_bytes(hp));
}

}  // namespace gpu_walk
}  // namespace pyggml
