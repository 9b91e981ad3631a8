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
#include "cuda/gpu_layers.h"
#include "kernels/matmul_precise.h"
#include "kernels/repack.h"
#include "model/finite.h"

namespace pyggml {

llama_model::llama_model(model_hparams hp, model_weights w, int64_t n_ctx, int64_t n_batch, int n_threads,
                         int32_t kv_type, bool precise, bool repack, const gpu_placement& gpu,
                         int64_t n_seq_max)
    : hp_(std::move(hp)),
      w_(std::move(w)),
      n_ctx_(n_ctx),
      n_batch_(std::min(n_batch, n_ctx)),
      seq_pos_(size_t(std::max<int64_t>(n_seq_max, 1)), 0),
      precise_(precise),
      ops_(&get_ops_kernels()),
      pool_(n_threads),
      kv_(kv_type, hp_.n_layer, n_ctx * std::max<int64_t>(n_seq_max, 1), hp_.n_head_kv * hp_.head_dim_k,
          hp_.n_head_kv * hp_.head_dim_v) {
    if (n_ctx <= 0 || n_batch <= 0) throw std::invalid_argument("n_ctx and n_batch must be positive");
    if (n_seq_max <= 0) throw std::invalid_argument("n_seq_max must be positive");
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
    // the GPU takes its blocks' weights as the file lays them out, before any repacking
    if (gpu.any() && n_seq_max > 1) throw std::invalid_argument("several sequences (n_seq_max > 1) run on the CPU only");
    if (gpu.any()) gpu_ = std::make_unique<gpu_layers>(hp_, w_, gpu, n_ctx_, n_batch_);
    if (repack && !precise_) repack_weights();  // the precise path reads the file layout
}

llama_model::~llama_model() = default;

void llama_model::own_vectors() {
    const int64_t E = hp_.n_embd, q_dim = hp_.n_head * hp_.head_dim_k, k_dim = hp_.n_head_kv * hp_.head_dim_k;
    const int64_t v_dim = hp_.n_head_kv * hp_.head_dim_v;
    std::vector<std::pair<const float**, int64_t>> todo = {{&w_.output_norm, E}, {&w_.rope_freqs, hp_.n_rot / 2}};
    for (layer_weights& L : w_.layers) {
        todo.insert(todo.end(), {{&L.attn_norm, E}, {&L.bq, q_dim}, {&L.bk, k_dim}, {&L.bv, v_dim},
                                 {&L.q_norm, hp_.head_dim_k}, {&L.k_norm, hp_.head_dim_k}, {&L.post_attn_norm, E},
                                 {&L.ffn_norm, E}, {&L.post_ffn_norm, E}, {&L.bo, E}, {&L.sinks, hp_.n_head},
                                 {&L.ffn_gate_inp_b, hp_.n_expert}, {&L.ffn_gate_exps_b, hp_.n_expert * hp_.n_ff_exp},
                                 {&L.ffn_up_exps_b, hp_.n_expert * hp_.n_ff_exp},
                                 {&L.ffn_down_exps_b, hp_.n_expert * E}});
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
    // (Not those the GPU runs.) A stacked expert tensor is regrouped only when each expert's
    // rows are whole groups (expert_matrix then finds every expert's rows where they were).
    std::vector<weight_view*> todo;
    auto experts_fit = [&](const weight_view& w) { return (w.n_rows / hp_.n_expert) % REPACK_ROWS == 0; };
    for (int64_t il = 0; il < hp_.n_layer; ++il) {
        if (gpu_ && gpu_->has_layer(il)) continue;
        layer_weights& L = w_.layers[il];
        for (weight_view* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down, &L.ffn_gate_inp}) {
            if (w->data) todo.push_back(w);
        }
        for (weight_view* w : {&L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps}) {
            if (w->data && experts_fit(*w)) todo.push_back(w);
        }
    }
    if (!(gpu_ && gpu_->has_output())) todo.push_back(&w_.output);  // token_embd stays: its rows are looked up
    const bool copy_plain = weight_buffer_huge_pages();
    constexpr size_t kAlign = 64;
    size_t total = 0;
    std::vector<int32_t> layouts;
    std::vector<bool> copied;
    for (weight_view* w : todo) {
        const size_t bytes = size_t(w->n_rows) * w->row_bytes;
        layouts.push_back(preferred_layout(*w));
        copied.push_back(layouts.back() != weight_layout_plain || (copy_plain && in_file_mapping(w->data, bytes)));
        if (copied.back()) total += (bytes + kAlign - 1) / kAlign * kAlign;
    }
    weights_ = alloc_weight_buffer(total);
    uint8_t* dst = weights_.get();
    for (size_t k = 0; k < todo.size(); ++k) {
        weight_view& w = *todo[k];
        const int32_t layout = layouts[k];
        if (!copied[k]) continue;
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
        gate_.resize(hp_.n_expert ? 0 : B * hp_.n_ff);
        up_.resize(hp_.n_expert ? 0 : B * hp_.n_ff);
        if (hp_.n_expert) {
            const int64_t R = B * hp_.n_expert_used;
            router_.resize(B * hp_.n_expert);
            chosen_.resize(R);
            chosen_w_.resize(R);
            moe_x_.resize(R * hp_.n_embd);
            moe_gate_.resize(R * hp_.n_ff_exp);
            moe_up_.resize(R * hp_.n_ff_exp);
            moe_down_.resize(R * hp_.n_embd);
        }
        rope_cs_.resize(rope_set_layer_.size() * B * hp_.n_rot);
        prefill_run_.resize(2 * B * hp_.n_head);
        batch_cap_ = B;
    }
    if (n_kv > kv_cap_) {
        // grow geometrically so decoding does not reallocate at every token
        const int64_t N = std::min(n_ctx_, std::max(n_kv, 2 * kv_cap_));
        kf_.resize(N * hp_.n_head_kv * hp_.head_dim_k);
        vf_.resize(N * hp_.n_head_kv * hp_.head_dim_v);
        kv_cap_ = N;
        scores_.resize(size_t(pool_.size()) * tile_scratch());
        const int64_t n_chunks = (N + kKeyChunk - 1) / kKeyChunk;
        chunk_out_.resize(n_chunks * hp_.n_head * hp_.head_dim_v);
        chunk_lse_.resize(n_chunks * hp_.n_head);
    }
}

size_t llama_model::tile_scratch() const {
    // a tile over the whole cache, or a prefill tile's chunk scores, its output and its
    // log-sum-exps (attention_prefill)
    const int64_t rows = kAttnTileMaxRows;
    const int64_t prefill = prefill_tile_scores() + rows * hp_.head_dim_v + rows;
    return size_t(std::max(attn_tile_scratch(tile_rows(hp_.n_head / hp_.n_head_kv), kv_cap_), prefill));
}

rope_params llama_model::layer_rope(int64_t layer) const {
    rope_params p{hp_.n_rot, hp_.rope_neox, hp_.layer_rope_base[layer], hp_.layer_rope_scale[layer], w_.rope_freqs};
    if (hp_.yarn_ext_factor != 0.0f) {
        p.ext_factor = hp_.yarn_ext_factor;
        rope_yarn_corr_dims(hp_.n_rot, hp_.yarn_n_ctx_orig, p.freq_base, hp_.yarn_beta_fast, hp_.yarn_beta_slow,
                            p.corr_dims);
    }
    return p;
}

void llama_model::linear(const weight_view& w, const float* x, float* y, int64_t n_tokens) {
    linear_shared_input({{&w, y}}, x, n_tokens);
}

void llama_model::linear_shared_input(std::initializer_list<matmul_output> outs, const float* x, int64_t n_tokens) {
    linear_shared_input(outs.begin(), int(outs.size()), x, n_tokens);
}

void llama_model::linear_jobs(const matmul_job* jobs, int n_jobs) {
    if (precise_) {
        for (int i = 0; i < n_jobs; ++i) {
            if (jobs[i].n_tokens > 0) matmul_precise(*jobs[i].w, jobs[i].x, jobs[i].y, jobs[i].n_tokens, pool_);
        }
    } else {
        matmul_jobs(jobs, n_jobs, pool_);
    }
}

void llama_model::linear_shared_input(const matmul_output* outs, int n_outs, const float* x, int64_t n_tokens) {
    if (precise_) {
        for (int i = 0; i < n_outs; ++i) matmul_precise(*outs[i].w, x, outs[i].y, n_tokens, pool_);
    } else {
        matmul_shared_input(outs, n_outs, x, n_tokens, pool_);
    }
}

int64_t llama_model::capture_width(int site) const {
    switch (site) {
        case capture_attn_in: return hp_.n_embd;
        case capture_attn_out: return hp_.n_head * hp_.head_dim_v;
        case capture_ffn_in: return hp_.n_embd;
        case capture_ffn_down_in: return hp_.n_expert ? 0 : hp_.n_ff;  // experts: sites 4 and 5
        case capture_moe_experts: return hp_.n_expert ? hp_.n_expert_used : 0;
        case capture_moe_down_in: return hp_.n_expert ? hp_.n_expert_used * hp_.n_ff_exp : 0;
        default: throw std::out_of_range("capture site must be in [0, 6)");
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
    const int64_t n_past = seq_pos_[0];
    if (n_past + n_tokens > n_ctx_) {
        throw std::length_error("context is full: " + std::to_string(n_past) + " tokens cached + " +
                                std::to_string(n_tokens) + " new > n_ctx " + std::to_string(n_ctx_));
    }
    check_token_ids(tokens, n_tokens);
    // All or nothing: when a batch fails (a non-finite value), the tokens of the batches
    // before it are dropped from the cache too.
    std::vector<int64_t> rows;
    try {
        for (int64_t i0 = 0; i0 < n_tokens; i0 += n_batch_) {
            const int64_t n = std::min(n_batch_, n_tokens - i0);
            const bool last = i0 + n == n_tokens;
            float* out = all_logits ? logits + i0 * hp_.n_vocab : (last ? logits : nullptr);
            rows.clear();
            for (int64_t t = all_logits ? 0 : n - 1; out && t < n; ++t) rows.push_back(t);
            const batch_seq s{0, 0, n, seq_pos_[0]};
            forward_batch(tokens + i0, n, &s, 1, rows.data(), int64_t(rows.size()), out);
        }
    } catch (...) {
        seq_pos_[0] = n_past;
        throw;
    }
}

void llama_model::check_token_ids(const int32_t* tokens, int64_t n_tokens) const {
    for (int64_t i = 0; i < n_tokens; ++i) {
        if (tokens[i] < 0 || tokens[i] >= hp_.n_vocab) {
            throw std::out_of_range("token id " + std::to_string(tokens[i]) + " is outside the vocabulary (" +
                                    std::to_string(hp_.n_vocab) + ")");
        }
    }
}

void llama_model::eval_batch(const seq_tokens* seqs, int64_t n_seqs, bool all_logits, float* logits) {
    if (n_seqs <= 0) throw std::invalid_argument("eval_batch needs at least one sequence");
    std::vector<uint8_t> seen(seq_pos_.size(), 0);
    std::vector<int32_t> tokens;
    std::vector<batch_seq> parts;
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < n_seqs; ++i) {
        const seq_tokens& st = seqs[i];
        const int64_t seq = checked_seq(st.seq);
        if (seen[size_t(seq)]++) throw std::invalid_argument("sequence " + std::to_string(seq) + " appears twice in the batch");
        if (st.n <= 0) throw std::invalid_argument("sequence " + std::to_string(seq) + " has no tokens");
        const int64_t pos = seq_pos_[size_t(seq)];
        if (pos + st.n > n_ctx_) {
            throw std::length_error("context of sequence " + std::to_string(seq) + " is full: " + std::to_string(pos) +
                                    " tokens cached + " + std::to_string(st.n) + " new > n_ctx " + std::to_string(n_ctx_));
        }
        check_token_ids(st.tokens, st.n);
        const int64_t t0 = int64_t(tokens.size());
        parts.push_back({seq, t0, st.n, pos});
        tokens.insert(tokens.end(), st.tokens, st.tokens + st.n);
        for (int64_t t = all_logits ? t0 : t0 + st.n - 1; t < t0 + st.n; ++t) rows.push_back(t);
    }
    if (int64_t(tokens.size()) > n_batch_) {
        throw std::length_error("eval_batch: " + std::to_string(tokens.size()) + " tokens in one batch > n_batch " +
                                std::to_string(n_batch_));
    }
    try {
        forward_batch(tokens.data(), int64_t(tokens.size()), parts.data(), int64_t(parts.size()), rows.data(),
                      int64_t(rows.size()), logits);
    } catch (...) {  // all or nothing: no sequence keeps the batch's tokens
        for (const batch_seq& p : parts) seq_pos_[size_t(p.seq)] = p.pos0;
        throw;
    }
}

void llama_model::eval_embeddings(const int32_t* tokens, int64_t n_tokens, float* embd, int64_t seq) {
    if (n_tokens <= 0) throw std::invalid_argument("eval needs at least one token");
    checked_seq(seq);
    embd_out_ = embd;
    const int64_t n_past = seq_pos_[size_t(seq)];
    try {
        if (n_past + n_tokens > n_ctx_) {
            throw std::length_error("context is full: " + std::to_string(n_past) + " tokens cached + " +
                                    std::to_string(n_tokens) + " new > n_ctx " + std::to_string(n_ctx_));
        }
        check_token_ids(tokens, n_tokens);
        for (int64_t i0 = 0; i0 < n_tokens; i0 += n_batch_) {
            const int64_t n = std::min(n_batch_, n_tokens - i0);
            const batch_seq s{seq, 0, n, seq_pos_[size_t(seq)]};
            forward_batch(tokens + i0, n, &s, 1, nullptr, 0, nullptr);
        }
    } catch (...) {
        embd_out_ = nullptr;
        seq_pos_[size_t(seq)] = n_past;
        throw;
    }
    embd_out_ = nullptr;
}

void batch_in_flight::check(const char* what, int64_t layer) const {
    const int64_t t = bad_row.load();
    if (t >= n) return;
    const batch_seq& s = seq_of(t);
    std::string msg = std::string(what);
    if (layer >= 0) msg += " " + std::to_string(layer) + " (tensors blk." + std::to_string(layer) + ".*)";
    msg += " produced a non-finite value (NaN or infinity) at position " + std::to_string(s.pos0 + t - s.t0) +
           (n_seqs > 1 || s.seq != 0 ? " of sequence " + std::to_string(s.seq) : "") + " (token id " +
           std::to_string(tokens[t]) + ")";
    throw nonfinite_error(msg);
}

void llama_model::forward_batch(const int32_t* tokens, int64_t T, const batch_seq* seqs, int64_t n_seqs,
                                const int64_t* out_rows, int64_t n_out, float* logits) {
    int64_t n_kv = 0;
    for (int64_t i = 0; i < n_seqs; ++i) n_kv = std::max(n_kv, seqs[i].pos0 + seqs[i].n);
    reserve_scratch(T, n_kv);
    // Every step checks the rows it leaves in the residual stream for NaN and infinity (in
    // cache, while it adds to them): a corrupt weight or an overflow is reported at the
    // first layer it reaches instead of coming out as NaN logits.
    batch_in_flight b{tokens, T, seqs, n_seqs, {T}};
    auto advance = [&] {
        for (int64_t i = 0; i < n_seqs; ++i) seq_pos_[size_t(seqs[i].seq)] = seqs[i].pos0 + seqs[i].n;
    };
    embed(b);
    b.check("the token embedding (token_embd.weight)", -1);
    // Blocks on the GPU run there, a run of them at a time (gpu_run); with the head there
    // too, the logits come straight from the GPU.
    if (capture_ && gpu_) throw std::runtime_error("activation capture runs on the CPU only: load with n_gpu_layers=0");
    const bool gpu_head = gpu_ && gpu_->has_output() && logits && !embd_out_;
    // the first token whose logits are asked for: with GPU layers (one sequence) the rows
    // asked for are the batch's last ones, all of them or the very last
    const int64_t r0 = n_out > 0 ? out_rows[0] : T;
    bool gpu_logits = false;
    for (int64_t il = 0; il < hp_.n_layer; ++il) {
        if (gpu_ && gpu_->has_layer(il)) {
            const int64_t l1 = gpu_run(il, T, gpu_head ? logits : nullptr, r0, b.bad_row);
            gpu_logits = gpu_head && l1 == hp_.n_layer;
            const std::string run = "the layers " + std::to_string(il) + "-" + std::to_string(l1 - 1) + " on the GPU";
            b.check(run.c_str(), -1);  // the hidden states it returned, when it returned them
            il = l1 - 1;
            continue;
        }
        block(il, b);
        b.check("layer", il);
        if (capture_ && capture_->last_layer == il) {  // calibration needs nothing past here
            advance();
            capture_->row += T;
            return;
        }
    }
    if (gpu_head && !gpu_logits) gpu_logits = gpu_run(hp_.n_layer, T, logits, r0, b.bad_row) == hp_.n_layer;  // the head alone
    advance();
    head(b, out_rows, n_out, logits, gpu_logits);
}

int64_t llama_model::gpu_run(int64_t l0, int64_t T, float* logits, int64_t r0, std::atomic<int64_t>& bad_row) {
    const int64_t l1 = gpu_->run_end(l0);
    // the hidden states come back unless nothing after the run reads them: the next layer
    // or the CPU's head does, the final norm of eval_embeddings does
    const bool head = logits && l1 == hp_.n_layer;
    const bool want_x = l1 < hp_.n_layer || (!head && (embd_out_ || !gpu_->has_output()));
    // a model with GPU layers holds one sequence (see the constructor): sequence 0's positions
    gpu_->forward(l0, l1, x_.data(), T, seq_pos_[0], rope_cs_.data(), head ? logits : nullptr, r0, want_x);
    if (want_x) {  // checked as the CPU's layers check theirs; the next (CPU) layer's normed input
        parallel_rows(pool_, T, [&](int64_t t) {
            const float* xt = x_.data() + t * hp_.n_embd;
            if (!all_finite(xt, hp_.n_embd)) note_row(bad_row, t);
            if (l1 < hp_.n_layer) {
                ops_->rms_norm(xt, w_.layers[l1].attn_norm, h_.data() + t * hp_.n_embd, hp_.n_embd, hp_.rms_eps);
            }
        });
    }
    return l1;
}

void llama_model::shift_context(int64_t n_keep, int64_t n_discard, int64_t seq) {
    int64_t& n_past = seq_pos_[size_t(checked_seq(seq))];
    if (n_keep < 0 || n_discard <= 0 || n_keep + n_discard > n_past) {
        throw std::invalid_argument("shift_context: need 0 <= n_keep and n_keep + n_discard <= n_past");
    }
    const int64_t n_move = n_past - n_keep - n_discard;
    const int64_t base = slot(seq, 0);
    reserve_scratch(0, n_move);
    kv_.move(base + n_keep, base + n_keep + n_discard, n_move);
    const int64_t k_dim = hp_.n_head_kv * hp_.head_dim_k;
    std::vector<float> cs(hp_.n_rot), gpu_cs(gpu_ ? hp_.n_layer * hp_.n_rot : 0);
    for (int64_t il = 0; il < hp_.n_layer; ++il) {
        if (!hp_.layer_no_rope.empty() && hp_.layer_no_rope[size_t(il)]) continue;  // keys without positions
        // rotating by -n_discard moves every key to its new position
        const rope_params rp = layer_rope(il);
        rope_cache(rp, -double(n_discard), cs.data());
        if (gpu_ && gpu_->has_layer(il)) {  // the GPU moves and rotates its layers' cache below
            std::copy(cs.begin(), cs.end(), gpu_cs.begin() + il * hp_.n_rot);
            continue;
        }
        const int64_t p0 = base + n_keep, p1 = base + n_keep + n_move;
        if (p1 == p0) continue;
        kv_.load_k(il, p0, p1, kf_.data());
        parallel_rows(pool_, n_move, [&](int64_t i) {
            ops_->rope_apply(kf_.data() + i * k_dim, hp_.n_head_kv, hp_.head_dim_k, rp, cs.data());
        });
        kv_.store_k(il, p0, n_move, kf_.data());
    }
    if (gpu_) gpu_->shift(n_keep, n_keep + n_discard, n_move, gpu_cs.data());
    n_past -= n_discard;
}

void llama_model::seq_copy(int64_t src, int64_t dst, int64_t n) {
    checked_seq(src);
    checked_seq(dst);
    if (n < 0 || n > seq_pos_[size_t(src)]) throw std::out_of_range("seq_copy: need 0 <= n <= the source's positions");
    if (src != dst && n > 0) kv_.copy(slot(dst, 0), slot(src, 0), n);
    seq_pos_[size_t(dst)] = n;
}

}  // namespace pyggml
