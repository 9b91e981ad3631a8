// model.cpp: the forward pass of a llama-family decoder with a KV cache (see model.h).
#include "model/model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/dispatch.h"
#include "core/errors.h"
#include "kernels/matmul_precise.h"
#include "kernels/repack.h"

namespace pyggml {

namespace {

// Query rows (tokens x heads of one kv head) an attention tile aims for: each key and
// value row is loaded once per tile and used by this many queries.
constexpr int64_t kTileRows = 16;
static_assert(kTileRows <= kAttnTileMaxRows, "attention tiles hold at most kAttnTileMaxRows rows");

// Rows of the largest tile for query groups of `group` heads per kv head.
int64_t tile_rows(int64_t group) { return std::max(kTileRows, std::min(group, kAttnTileMaxRows)); }

void add_bias(float* y, const float* b, int64_t n_tokens, int64_t n) {
    if (!b) return;
    for (int64_t t = 0; t < n_tokens; ++t) add_inplace(y + t * n, b, n);
}

// Whether x[0..n) holds no NaN and no infinity. Integer arithmetic on the bits, which
// compilers vectorize: a float is not finite when its exponent bits are all ones, and
// adding one to such an exponent carries into the sign bit.
bool all_finite(const float* x, int64_t n) {
    uint32_t carry = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t u;
        std::memcpy(&u, x + i, sizeof u);
        carry |= (u & 0x7f800000u) + 0x00800000u;
    }
    return !(carry & 0x80000000u);
}

// Lowers `first` to row t (the first non-finite row found by any thread).
void note_row(std::atomic<int64_t>& first, int64_t t) {
    int64_t cur = first.load(std::memory_order_relaxed);
    while (t < cur && !first.compare_exchange_weak(cur, t, std::memory_order_relaxed)) {
    }
}

}  // namespace

llama_model::llama_model(model_hparams hp, model_weights w, int64_t n_ctx, int64_t n_batch, int n_threads,
                         int32_t kv_type, bool precise, bool repack)
    : hp_(std::move(hp)),
      w_(std::move(w)),
      n_ctx_(n_ctx),
      n_batch_(std::min(n_batch, n_ctx)),
      precise_(precise),
      ops_(&get_ops_kernels()),
      pool_(n_threads),
      kv_(kv_type, hp_.n_layer, n_ctx, hp_.n_head_kv * hp_.head_dim_k, hp_.n_head_kv * hp_.head_dim_v) {
    if (n_ctx <= 0 || n_batch <= 0) throw std::invalid_argument("n_ctx and n_batch must be positive");
    if (int64_t(w_.layers.size()) != hp_.n_layer) throw std::invalid_argument("one weight set per layer is needed");
    // layers with the same rotation share one table of cos/sin per batch
    for (int64_t il = 0; il < hp_.n_layer; ++il) {
        size_t set = 0;
        while (set < rope_set_layer_.size() && !(hp_.layer_rope_base[rope_set_layer_[set]] == hp_.layer_rope_base[il] &&
                                                 hp_.layer_rope_scale[rope_set_layer_[set]] == hp_.layer_rope_scale[il])) {
            ++set;
        }
        if (set == rope_set_layer_.size()) rope_set_layer_.push_back(il);
        layer_rope_set_.push_back(int64_t(set));
    }
    own_vectors();
    if (repack && !precise_) repack_weights();  // the precise path reads the file layout
}

void llama_model::own_vectors() {
    const int64_t E = hp_.n_embd, q_dim = hp_.n_head * hp_.head_dim_k, k_dim = hp_.n_head_kv * hp_.head_dim_k;
    const int64_t v_dim = hp_.n_head_kv * hp_.head_dim_v;
    std::vector<std::pair<const float**, int64_t>> todo = {{&w_.output_norm, E}, {&w_.rope_freqs, hp_.n_rot / 2}};
    for (layer_weights& L : w_.layers) {
        todo.insert(todo.end(), {{&L.attn_norm, E}, {&L.bq, q_dim}, {&L.bk, k_dim}, {&L.bv, v_dim},
                                 {&L.q_norm, hp_.head_dim_k}, {&L.k_norm, hp_.head_dim_k}, {&L.post_attn_norm, E},
                                 {&L.ffn_norm, E}, {&L.post_ffn_norm, E}});
    }
    size_t total = 0;
    for (const auto& [p, n] : todo) total += *p ? size_t(n) : 0;
    vectors_.resize(total);
    float* dst = vectors_.data();
    for (const auto& [p, n] : todo) {
        if (!*p) continue;
        std::copy(*p, *p + n, dst);
        *p = dst;
        dst += n;
    }
}

void llama_model::repack_weights() {
    // The matrices a forward pass multiplies, in the order it reads them, copied into one
    // buffer: regrouped where this CPU's kernels prefer another layout, and as they are
    // where the buffer gets huge pages (the file's mapping has 4 KiB pages).
    std::vector<weight_view*> todo;
    for (layer_weights& L : w_.layers) {
        for (weight_view* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down}) todo.push_back(w);
    }
    todo.push_back(&w_.output);  // token_embd stays: its rows are looked up, not multiplied
    const bool copy_plain = weight_buffer_huge_pages();
    constexpr size_t kAlign = 64;
    size_t total = 0;
    std::vector<int32_t> layouts;
    for (weight_view* w : todo) {
        layouts.push_back(preferred_layout(*w));
        if (layouts.back() != weight_layout_plain || copy_plain) {
            total += (size_t(w->n_rows) * w->row_bytes + kAlign - 1) / kAlign * kAlign;
        }
    }
    weights_ = alloc_weight_buffer(total);
    uint8_t* dst = weights_.get();
    for (size_t k = 0; k < todo.size(); ++k) {
        weight_view& w = *todo[k];
        const int32_t layout = layouts[k];
        if (layout == weight_layout_plain && !copy_plain) continue;
        const size_t bytes = size_t(w.n_rows) * w.row_bytes;
        const int64_t n_groups = (w.n_rows + REPACK_ROWS - 1) / REPACK_ROWS;
        // In slices, each slice's file pages released once copied (release_file_pages: the
        // file is not read again), so that a large matrix is never resident twice.
        const size_t group_bytes = REPACK_ROWS * w.row_bytes;
        const int64_t slice = std::max<int64_t>(1, int64_t((size_t(16) << 20) / group_bytes));
        for (int64_t s0 = 0; s0 < n_groups; s0 += slice) {
            const int64_t s1 = std::min(n_groups, s0 + slice);
            pool_.run([&](int ith, int nth) {
                const int64_t g0 = s0 + (s1 - s0) * ith / nth, g1 = s0 + (s1 - s0) * (ith + 1) / nth;
                const int64_t r0 = std::min(w.n_rows, g0 * REPACK_ROWS), r1 = std::min(w.n_rows, g1 * REPACK_ROWS);
                if (layout == weight_layout_plain) {
                    std::memcpy(dst + size_t(r0) * w.row_bytes, static_cast<const uint8_t*>(w.data) + size_t(r0) * w.row_bytes,
                                size_t(r1 - r0) * w.row_bytes);
                } else {
                    repack_rows(layout, w.data, w.n_rows, w.n_cols, dst, r0, r1);
                }
            });
            const size_t b0 = size_t(s0) * group_bytes, b1 = std::min(bytes, size_t(s1) * group_bytes);
            release_file_pages(static_cast<const char*>(w.data) + b0, b1 - b0);
        }
        release_file_pages(w.data, bytes);  // the pages the slices shared at their edges
        w.data = dst;
        w.layout = layout;
        dst += (bytes + kAlign - 1) / kAlign * kAlign;
        (layout == weight_layout_plain ? copied_bytes_ : repacked_bytes_) += bytes;
    }
}

void llama_model::reserve_scratch(int64_t n_tokens, int64_t n_kv) {
    if (n_tokens > batch_cap_) {
        const int64_t B = n_tokens;
        x_.resize(B * hp_.n_embd);
        h_.resize(B * hp_.n_embd);
        o_.resize(B * hp_.n_embd);
        q_.resize(B * hp_.n_head * hp_.head_dim_k);
        k_.resize(B * hp_.n_head_kv * hp_.head_dim_k);
        v_.resize(B * hp_.n_head_kv * hp_.head_dim_v);
        att_.resize(B * hp_.n_head * hp_.head_dim_v);
        gate_.resize(B * hp_.n_ff);
        up_.resize(B * hp_.n_ff);
        rope_cs_.resize(rope_set_layer_.size() * B * hp_.n_rot);
        batch_cap_ = B;
    }
    if (n_kv > kv_cap_) {
        // grow geometrically so decoding does not reallocate at every token
        const int64_t N = std::min(n_ctx_, std::max(n_kv, 2 * kv_cap_));
        kf_.resize(N * hp_.n_head_kv * hp_.head_dim_k);
        vf_.resize(N * hp_.n_head_kv * hp_.head_dim_v);
        scores_.resize(size_t(pool_.size()) * attn_tile_scratch(tile_rows(hp_.n_head / hp_.n_head_kv), N));
        kv_cap_ = N;
    }
}

rope_params llama_model::layer_rope(int64_t layer) const {
    return rope_params{hp_.n_rot, hp_.rope_neox, hp_.layer_rope_base[layer], hp_.layer_rope_scale[layer], w_.rope_freqs};
}

void llama_model::linear(const weight_view& w, const float* x, float* y, int64_t n_tokens) {
    linear_shared_input({{&w, y}}, x, n_tokens);
}

void llama_model::linear_shared_input(std::initializer_list<matmul_output> outs, const float* x, int64_t n_tokens) {
    if (precise_) {
        for (const matmul_output& o : outs) matmul_precise(*o.w, x, o.y, n_tokens, pool_);
    } else {
        matmul_shared_input(outs.begin(), int(outs.size()), x, n_tokens, pool_);
    }
}

int64_t llama_model::capture_width(int site) const {
    switch (site) {
        case capture_attn_in: return hp_.n_embd;
        case capture_attn_out: return hp_.n_head * hp_.head_dim_v;
        case capture_ffn_in: return hp_.n_embd;
        case capture_ffn_down_in: return hp_.n_ff;
        default: throw std::out_of_range("capture site must be in [0, 4)");
    }
}

void llama_model::capture(int64_t layer, int site, const float* src, int64_t T) {
    if (!capture_) return;
    float* dst = capture_->dst[size_t(layer * n_capture_sites + site)];
    if (!dst) return;
    const int64_t w = capture_width(site);
    std::copy(src, src + T * w, dst + capture_->row * w);
}

void llama_model::eval(const int32_t* tokens, int64_t n_tokens, bool all_logits, float* logits) {
    if (n_tokens <= 0) throw std::invalid_argument("eval needs at least one token");
    if (n_past_ + n_tokens > n_ctx_) {
        throw std::length_error("context is full: " + std::to_string(n_past_) + " tokens cached + " +
                                std::to_string(n_tokens) + " new > n_ctx " + std::to_string(n_ctx_));
    }
    for (int64_t i = 0; i < n_tokens; ++i) {
        if (tokens[i] < 0 || tokens[i] >= hp_.n_vocab) {
            throw std::out_of_range("token id " + std::to_string(tokens[i]) + " is outside the vocabulary (" +
                                    std::to_string(hp_.n_vocab) + ")");
        }
    }
    // All or nothing: when a batch fails (a non-finite value), the tokens of the batches
    // before it are dropped from the cache too.
    const int64_t n_past0 = n_past_;
    try {
        for (int64_t i0 = 0; i0 < n_tokens; i0 += n_batch_) {
            const int64_t n = std::min(n_batch_, n_tokens - i0);
            const bool last = i0 + n == n_tokens;
            float* out = all_logits ? logits + i0 * hp_.n_vocab : (last ? logits : nullptr);
            forward_batch(tokens + i0, n, all_logits, out);
        }
    } catch (...) {
        n_past_ = n_past0;
        throw;
    }
}

void llama_model::eval_embeddings(const int32_t* tokens, int64_t n_tokens, float* embd) {
    embd_out_ = embd;
    try {
        eval(tokens, n_tokens, false, nullptr);
    } catch (...) {
        embd_out_ = nullptr;
        throw;
    }
    embd_out_ = nullptr;
}

void llama_model::forward_batch(const int32_t* tokens, int64_t T, bool all_logits, float* logits) {
    const int64_t E = hp_.n_embd, F = hp_.n_ff;
    const int64_t q_dim = hp_.n_head * hp_.head_dim_k;
    const int64_t k_dim = hp_.n_head_kv * hp_.head_dim_k;
    const int64_t v_dim = hp_.n_head_kv * hp_.head_dim_v;
    const type_traits* et = get_type_traits(w_.token_embd.type);
    reserve_scratch(T, n_past_ + T);

    // token embeddings (T, E), the first layer's normed input and the cos/sin tables of
    // every distinct rotation, in chunks of tokens
    // Every layer checks the rows it leaves in the residual stream for NaN and infinity
    // (in cache, while it adds to them): a corrupt weight or an overflow is reported at
    // the first layer it reaches instead of coming out as NaN logits.
    const int64_t pos0 = n_past_;
    std::atomic<int64_t> bad_row{T};
    auto check_rows = [&](const char* what, int64_t layer) {
        const int64_t t = bad_row.load();
        if (t >= T) return;
        std::string msg = std::string(what);
        if (layer >= 0) msg += " " + std::to_string(layer) + " (tensors blk." + std::to_string(layer) + ".*)";
        msg += " produced a non-finite value (NaN or infinity) at position " + std::to_string(pos0 + t) +
               " (token id " + std::to_string(tokens[t]) + ")";
        throw nonfinite_error(msg);
    };
    const int64_t chunk = 32, n_sets = int64_t(rope_set_layer_.size());
    parallel_rows(pool_, (T + chunk - 1) / chunk, [&](int64_t c) {
        const int64_t t0 = c * chunk, n = std::min(chunk, T - t0);
        for (int64_t t = t0; t < t0 + n; ++t) {
            float* xt = x_.data() + t * E;
            et->to_float(static_cast<const char*>(w_.token_embd.data) + int64_t(tokens[t]) * w_.token_embd.row_bytes, xt, E);
            if (hp_.embd_scale != 1.0f) {
                for (int64_t i = 0; i < E; ++i) xt[i] *= hp_.embd_scale;
            }
            if (!all_finite(xt, E)) note_row(bad_row, t);
            if (hp_.n_layer > 0) ops_->rms_norm(xt, w_.layers[0].attn_norm, h_.data() + t * E, E, hp_.rms_eps);
        }
        for (int64_t set = 0; set < n_sets; ++set) {
            rope_cache_rows(layer_rope(rope_set_layer_[set]), double(n_past_ + t0), n,
                            rope_cs_.data() + (set * T + t0) * hp_.n_rot);
        }
    });
    check_rows("the token embedding (token_embd.weight)", -1);

    for (int64_t il = 0; il < hp_.n_layer; ++il) {
        const layer_weights& L = w_.layers[il];
        const rope_params rp = layer_rope(il);
        const float* rope_cs = rope_cs_.data() + layer_rope_set_[il] * T * hp_.n_rot;  // (T, n_rot)

        capture(il, capture_attn_in, h_.data(), T);
        linear_shared_input({{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}}, h_.data(), T);
        add_bias(q_.data(), L.bq, T, q_dim);
        add_bias(k_.data(), L.bk, T, k_dim);
        add_bias(v_.data(), L.bv, T, v_dim);

        parallel_rows(pool_, T, [&](int64_t t) {
            float* qt = q_.data() + t * q_dim;
            float* kt = k_.data() + t * k_dim;
            if (L.q_norm) {
                for (int64_t h = 0; h < hp_.n_head; ++h) {
                    ops_->rms_norm(qt + h * hp_.head_dim_k, L.q_norm, qt + h * hp_.head_dim_k, hp_.head_dim_k, hp_.rms_eps);
                }
            }
            if (L.k_norm) {
                for (int64_t h = 0; h < hp_.n_head_kv; ++h) {
                    ops_->rms_norm(kt + h * hp_.head_dim_k, L.k_norm, kt + h * hp_.head_dim_k, hp_.head_dim_k, hp_.rms_eps);
                }
            }
            const float* cs = rope_cs + t * hp_.n_rot;
            ops_->rope_apply(qt, hp_.n_head, hp_.head_dim_k, rp, cs);
            ops_->rope_apply(kt, hp_.n_head_kv, hp_.head_dim_k, rp, cs);
            for (int64_t i = 0; i < q_dim; ++i) qt[i] *= hp_.attn_scale;
            kv_.store(il, n_past_ + t, 1, kt, v_.data() + t * v_dim);
        });

        attention(il, T);

        capture(il, capture_attn_out, att_.data(), T);
        linear(L.wo, att_.data(), o_.data(), T);
        parallel_rows(pool_, T, [&](int64_t t) {
            float* ot = o_.data() + t * E;
            float* xt = x_.data() + t * E;
            if (L.post_attn_norm) ops_->rms_norm(ot, L.post_attn_norm, ot, E, hp_.rms_eps);
            add_inplace(xt, ot, E);
            ops_->rms_norm(xt, L.ffn_norm, h_.data() + t * E, E, hp_.rms_eps);
        });

        capture(il, capture_ffn_in, h_.data(), T);
        linear_shared_input({{&L.ffn_gate, gate_.data()}, {&L.ffn_up, up_.data()}}, h_.data(), T);
        parallel_rows(pool_, T, [&](int64_t t) {
            if (hp_.act == ffn_activation::gelu_tanh) {
                ops_->gelu_tanh_mul(gate_.data() + t * F, up_.data() + t * F, F);
            } else {
                ops_->silu_mul(gate_.data() + t * F, up_.data() + t * F, F);
            }
        });
        capture(il, capture_ffn_down_in, gate_.data(), T);
        linear(L.ffn_down, gate_.data(), o_.data(), T);
        const float* next_norm = il + 1 < hp_.n_layer ? w_.layers[il + 1].attn_norm : nullptr;
        parallel_rows(pool_, T, [&](int64_t t) {
            float* ot = o_.data() + t * E;
            float* xt = x_.data() + t * E;
            if (L.post_ffn_norm) ops_->rms_norm(ot, L.post_ffn_norm, ot, E, hp_.rms_eps);
            add_inplace(xt, ot, E);
            if (!all_finite(xt, E)) note_row(bad_row, t);
            if (next_norm) ops_->rms_norm(xt, next_norm, h_.data() + t * E, E, hp_.rms_eps);  // the next layer's input
        });
        check_rows("layer", il);
        if (capture_ && capture_->last_layer == il) {  // calibration needs nothing past here
            n_past_ += T;
            capture_->row += T;
            return;
        }
    }
    n_past_ += T;
    if (capture_) {
        if (capture_->output_in) {
            float* dst = capture_->output_in + capture_->row * E;
            parallel_rows(pool_, T, [&](int64_t t) {
                ops_->rms_norm(x_.data() + t * E, w_.output_norm, dst + t * E, E, hp_.rms_eps);
            });
        }
        capture_->row += T;
    }

    if (embd_out_) {  // (T, n_embd) hidden states after the final norm, no logits
        parallel_rows(pool_, T, [&](int64_t t) {
            ops_->rms_norm(x_.data() + t * E, w_.output_norm, embd_out_ + t * E, E, hp_.rms_eps);
            if (!all_finite(embd_out_ + t * E, E)) note_row(bad_row, t);
        });
        check_rows("the output norm (output_norm.weight)", -1);
        embd_out_ += T * E;
        return;
    }
    if (!logits) return;
    // output rows: every token, or only the last one
    const int64_t r0 = all_logits ? 0 : T - 1, n_out = T - r0;
    parallel_rows(pool_, n_out, [&](int64_t i) {
        ops_->rms_norm(x_.data() + (r0 + i) * E, w_.output_norm, h_.data() + i * E, E, hp_.rms_eps);
    });
    linear(w_.output, h_.data(), logits, n_out);
    if (hp_.final_logit_softcap > 0.0f) {
        const float c = hp_.final_logit_softcap;
        for (int64_t i = 0; i < n_out * hp_.n_vocab; ++i) logits[i] = c * std::tanh(logits[i] / c);
    }
    // The hidden states are finite (checked above), so non-finite logits come from the
    // output matrix or its norm. One row is split over the threads (decoding).
    const int64_t V = hp_.n_vocab, n_check = n_out * V;
    std::atomic<int64_t> bad{n_check};
    if (n_check < (int64_t(1) << 16) || pool_.size() == 1) {
        if (!all_finite(logits, n_check)) bad = 0;
    } else {
        pool_.run([&](int ith, int nth) {
            const int64_t i0 = n_check * ith / nth, i1 = n_check * (ith + 1) / nth;
            if (!all_finite(logits + i0, i1 - i0)) note_row(bad, i0);
        });
    }
    if (bad.load() < n_check) {
        int64_t i = 0;
        while (i < n_check && std::isfinite(logits[i])) ++i;
        const int64_t row = r0 + i / V;
        throw nonfinite_error("the output (output.weight or token_embd.weight when tied, and output_norm.weight) "
                              "produced a non-finite logit (" + std::to_string(logits[i]) + " for token id " +
                              std::to_string(i % V) + ") at position " + std::to_string(pos0 + row));
    }
}

void llama_model::attention(int64_t il, int64_t T) {
    const int64_t hdk = hp_.head_dim_k, hdv = hp_.head_dim_v;
    const int64_t k_dim = hp_.n_head_kv * hdk, v_dim = hp_.n_head_kv * hdv;
    const int64_t q_dim = hp_.n_head * hdk, o_dim = hp_.n_head * hdv;
    const int64_t group = hp_.n_head / hp_.n_head_kv;
    const bool swa = hp_.layer_swa[il] && hp_.n_swa > 0;
    const int64_t n_kv = n_past_ + T;
    // a key at position p0 is masked for the query at p1 when p1 - p0 >= n_swa
    const int64_t kv0 = swa ? std::max<int64_t>(0, n_past_ - hp_.n_swa + 1) : 0;
    const int64_t n_load = n_kv - kv0;

    // tiles of n_tt tokens x n_th query heads of one kv head; when there are fewer tiles
    // than threads (decoding), the heads of a group are split too
    const int nth = pool_.size();
    int64_t n_th = std::min(group, kAttnTileMaxRows);
    const int64_t n_tt = std::min(T, std::max<int64_t>(1, kTileRows / n_th));
    const int64_t n_tok_tiles = (T + n_tt - 1) / n_tt;
    if (n_tok_tiles * hp_.n_head_kv * ((group + n_th - 1) / n_th) < nth) {
        const int64_t split = std::min<int64_t>(group, (nth + n_tok_tiles * hp_.n_head_kv - 1) / (n_tok_tiles * hp_.n_head_kv));
        n_th = std::min(n_th, (group + split - 1) / split);
    }
    const int64_t n_head_tiles = (group + n_th - 1) / n_th;
    const int64_t n_items = n_tok_tiles * hp_.n_head_kv * n_head_tiles;
    const size_t scratch = attn_tile_scratch(tile_rows(group), kv_cap_);

    // Keys and values of this layer as float32, (n_load, k_dim) and (n_load, v_dim); or,
    // when one tile of tokens covers the batch (decoding), an F16 cache read in place:
    // each key is then read by one tile per head group, and converting the whole cache
    // first cost as much as the attention itself. Qwen2.5-Coder-1.5B decoding, attention
    // of one layer: 59 -> 35 us with 64 keys, 356 -> 159 us with 768.
    const uint16_t* k16 = n_tok_tiles == 1 ? kv_.k_f16(il, kv0) : nullptr;
    const uint16_t* v16 = n_tok_tiles == 1 ? kv_.v_f16(il, kv0) : nullptr;
    if (!k16) {
        const int64_t chunk = 64;
        parallel_rows(pool_, (n_load + chunk - 1) / chunk, [&](int64_t c) {
            const int64_t p0 = kv0 + c * chunk, p1 = std::min(n_kv, p0 + chunk);
            kv_.load_k(il, p0, p1, kf_.data() + (p0 - kv0) * k_dim);
            kv_.load_v(il, p0, p1, vf_.data() + (p0 - kv0) * v_dim);
        });
    }

    auto one = [&](int64_t idx, int ith) {
        // last token tiles first: they see the most keys
        const int64_t tt = n_tok_tiles - 1 - idx / (hp_.n_head_kv * n_head_tiles);
        const int64_t kvh = idx / n_head_tiles % hp_.n_head_kv, hh = idx % n_head_tiles;
        const int64_t t0 = tt * n_tt, h0 = kvh * group + hh * n_th;
        attn_tile a;
        a.q = q_.data() + t0 * q_dim + h0 * hdk;
        a.q_stride = q_dim;
        a.k = kf_.data() + kvh * hdk;
        a.k_stride = k_dim;
        a.v = vf_.data() + kvh * hdv;
        a.v_stride = v_dim;
        a.out = att_.data() + t0 * o_dim + h0 * hdv;
        a.o_stride = o_dim;
        a.n_tok = std::min(n_tt, T - t0);
        a.n_hq = std::min(n_th, group - hh * n_th);
        a.head_dim_k = hdk;
        a.head_dim_v = hdv;
        a.hi0 = n_past_ + t0 + 1 - kv0;
        a.window = swa ? hp_.n_swa : 0;
        a.softcap = hp_.attn_logit_softcap;
        a.scratch = scores_.data() + size_t(ith) * scratch;
        if (k16) {
            a.k16 = k16 + kvh * hdk;
            a.v16 = v16 + kvh * hdv;
        }
        ops_->attend_tile(a);
    };
    if (nth == 1 || n_items == 1) {
        for (int64_t i = 0; i < n_items; ++i) one(i, 0);
    } else {
        std::atomic<int64_t> next{0};  // tiles differ in size: hand them out one at a time
        pool_.run([&](int ith, int) {
            for (int64_t i = next.fetch_add(1); i < n_items; i = next.fetch_add(1)) one(i, ith);
        });
    }
}

void llama_model::shift_context(int64_t n_keep, int64_t n_discard) {
    if (n_keep < 0 || n_discard <= 0 || n_keep + n_discard > n_past_) {
        throw std::invalid_argument("shift_context: need 0 <= n_keep and n_keep + n_discard <= n_past");
    }
    const int64_t n_move = n_past_ - n_keep - n_discard;
    reserve_scratch(0, n_move);
    kv_.move(n_keep, n_keep + n_discard, n_move);
    const int64_t k_dim = hp_.n_head_kv * hp_.head_dim_k;
    std::vector<float> cs(hp_.n_rot);
    for (int64_t il = 0; il < hp_.n_layer; ++il) {
        // rotating by -n_discard moves every key to its new position
        const rope_params rp = layer_rope(il);
        rope_cache(rp, -double(n_discard), cs.data());
        const int64_t p0 = n_keep, p1 = n_keep + n_move;
        if (p1 == p0) continue;
        kv_.load_k(il, p0, p1, kf_.data());
        parallel_rows(pool_, n_move, [&](int64_t i) {
            ops_->rope_apply(kf_.data() + i * k_dim, hp_.n_head_kv, hp_.head_dim_k, rp, cs.data());
        });
        kv_.store_k(il, p0, n_move, kf_.data());
    }
    n_past_ -= n_discard;
}

}  // namespace pyggml
