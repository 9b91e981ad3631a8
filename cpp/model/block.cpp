// block.cpp: one decoder layer of the forward pass (see model.h): attention with the KV
// cache, then the gated feed-forward (or moe.cpp's mixture of experts), each added to the
// residual stream.
#include <algorithm>
#include <atomic>
#include <cmath>

#include "model/finite.h"
#include "model/model.h"

namespace pyggml {

namespace {

void add_bias(float* y, const float* b, int64_t n_tokens, int64_t n) {
    if (!b) return;
    for (int64_t t = 0; t < n_tokens; ++t) add_inplace(y + t * n, b, n);
}

}  // namespace

void llama_model::block(int64_t il, batch_in_flight& b) {
    const int64_t T = b.n, E = hp_.n_embd, F = hp_.n_ff;
    const int64_t q_dim = hp_.n_head * hp_.head_dim_k;
    const int64_t k_dim = hp_.n_head_kv * hp_.head_dim_k;
    const int64_t v_dim = hp_.n_head_kv * hp_.head_dim_v;
    const layer_weights& L = w_.layers[il];
    const rope_params rp = layer_rope(il);
    const bool rotate = hp_.layer_no_rope.empty() || !hp_.layer_no_rope[size_t(il)];
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
        if (rotate) {
            const float* cs = rope_cs + t * hp_.n_rot;
            ops_->rope_apply(qt, hp_.n_head, hp_.head_dim_k, rp, cs);
            ops_->rope_apply(kt, hp_.n_head_kv, hp_.head_dim_k, rp, cs);
            if (hp_.rope_attn_factor != 1.0f) rope_magnitude(qt, kt);
        }
        const batch_seq& s = b.seq_of(t);
        const int64_t pos = s.pos0 + t - s.t0;
        const float q_scale = hp_.attn_scale * attn_temperature(pos);
        for (int64_t i = 0; i < q_dim; ++i) qt[i] *= q_scale;
        kv_.store(il, slot(s.seq, pos), 1, kt, v_.data() + t * v_dim);
    });

    if (!attention_decode(il, b)) {
        for (int64_t i = 0; i < b.n_seqs; ++i) attention(il, b.seqs[i]);
    }

    capture(il, capture_attn_out, att_.data(), T);
    linear(L.wo, att_.data(), o_.data(), T);
    parallel_rows(pool_, T, [&](int64_t t) {
        float* ot = o_.data() + t * E;
        float* xt = x_.data() + t * E;
        if (L.bo) add_inplace(ot, L.bo, E);
        if (L.post_attn_norm) ops_->rms_norm(ot, L.post_attn_norm, ot, E, hp_.rms_eps);
        add_inplace(xt, ot, E);
        ops_->rms_norm(xt, L.ffn_norm, h_.data() + t * E, E, hp_.rms_eps);
    });

    capture(il, capture_ffn_in, h_.data(), T);
    if (hp_.n_expert > 0) {
        moe_ffn(il, T);
    } else {
        linear_shared_input({{&L.ffn_gate, gate_.data()}, {&L.ffn_up, up_.data()}}, h_.data(), T);
        parallel_rows(pool_, T, [&](int64_t t) { gated_activation(gate_.data() + t * F, up_.data() + t * F, F); });
        capture(il, capture_ffn_down_in, gate_.data(), T);
        linear(L.ffn_down, gate_.data(), o_.data(), T);
    }
    const float* next_norm = il + 1 < hp_.n_layer ? w_.layers[il + 1].attn_norm : nullptr;
    parallel_rows(pool_, T, [&](int64_t t) {
        float* ot = o_.data() + t * E;
        float* xt = x_.data() + t * E;
        if (L.post_ffn_norm) ops_->rms_norm(ot, L.post_ffn_norm, ot, E, hp_.rms_eps);
        add_inplace(xt, ot, E);
        if (!all_finite(xt, E)) note_row(b.bad_row, t);
        if (next_norm) ops_->rms_norm(xt, next_norm, h_.data() + t * E, E, hp_.rms_eps);  // the next layer's input
    });
}

void llama_model::gated_activation(float* gate, const float* up, int64_t n) const {
    switch (hp_.act) {
        case ffn_activation::gelu_tanh: ops_->gelu_tanh_mul(gate, up, n); break;
        case ffn_activation::swiglu_oai: swiglu_oai_mul(gate, up, n); break;
        default: ops_->silu_mul(gate, up, n); break;
    }
}

void llama_model::rope_magnitude(float* q, float* k) const {
    // ggml's rope multiplies cos and sin by attn_factor: the rotated dimensions only
    const float f = hp_.rope_attn_factor;
    for (int64_t h = 0; h < hp_.n_head; ++h) {
        for (int64_t i = 0; i < hp_.n_rot; ++i) q[h * hp_.head_dim_k + i] *= f;
    }
    for (int64_t h = 0; h < hp_.n_head_kv; ++h) {
        for (int64_t i = 0; i < hp_.n_rot; ++i) k[h * hp_.head_dim_k + i] *= f;
    }
}

void llama_model::attention(int64_t il, const batch_seq& s) {
    // this sequence's rows of q_ and att_, and its slice of the cache
    const int64_t T = s.n, n_past = s.pos0, base = slot(s.seq, 0);
    float* const q_seq = q_.data() + s.t0 * hp_.n_head * hp_.head_dim_k;
    float* const att_seq = att_.data() + s.t0 * hp_.n_head * hp_.head_dim_v;
    const int64_t hdk = hp_.head_dim_k, hdv = hp_.head_dim_v;
    const int64_t k_dim = hp_.n_head_kv * hdk, v_dim = hp_.n_head_kv * hdv;
    const int64_t q_dim = hp_.n_head * hdk, o_dim = hp_.n_head * hdv;
    const int64_t group = hp_.n_head / hp_.n_head_kv;
    const bool swa = hp_.layer_swa[il] && hp_.n_swa > 0;
    const float* const sinks = w_.layers[il].sinks;
    const int64_t n_kv = n_past + T;
    // a key at position p0 is masked for the query at p1 when p1 - p0 >= n_swa
    const int64_t kv0 = swa ? std::max<int64_t>(0, n_past - hp_.n_swa + 1) : 0;
    const int64_t n_load = n_kv - kv0;
    if (T == 1 && n_load > kKeyChunk && kv_in_place(il)) {
        attention_chunked(il, s, kv0);
        return;
    }

    // tiles of n_tt tokens x n_th query heads of one kv head; when there are fewer tiles
    // than threads (decoding), the heads of a group are split too. A batch of more than one
    // tile (not in a sliding-window layer) goes to attention_prefill instead.
    const int nth = pool_.size();
    int64_t n_th = std::min(group, kAttnTileMaxRows);
    const int64_t n_tt = std::min(T, std::max<int64_t>(1, kTileRows / n_th));
    const int64_t n_tok_tiles = (T + n_tt - 1) / n_tt;
    if (n_tok_tiles * hp_.n_head_kv * ((group + n_th - 1) / n_th) < nth) {
        const int64_t split = std::min<int64_t>(group, (nth + n_tok_tiles * hp_.n_head_kv - 1) / (n_tok_tiles * hp_.n_head_kv));
        n_th = std::min(n_th, (group + split - 1) / split);
    }
    if (!swa && n_tok_tiles > 1) {  // a prompt: keys in chunks, larger tiles
        attention_prefill(il, s);
        return;
    }
    const int64_t n_head_tiles = (group + n_th - 1) / n_th;
    const int64_t n_items = n_tok_tiles * hp_.n_head_kv * n_head_tiles;
    const size_t scratch = tile_scratch();

    // Keys and values of this layer as float32, (n_load, k_dim) and (n_load, v_dim); or,
    // when one tile of tokens covers the batch (decoding), an F16 or Q8_0 cache read in
    // place: each key is then read by one tile per head group, and converting the whole
    // cache first cost as much as the attention itself (docs/speed.md, "Notes from the code").
    const uint16_t* k16 = n_tok_tiles == 1 ? kv_.k_f16(il, base + kv0) : nullptr;
    const uint16_t* v16 = n_tok_tiles == 1 ? kv_.v_f16(il, base + kv0) : nullptr;
    const bool q8_in_place = n_tok_tiles == 1 && q8_heads();
    const block_q8_0* k8 = q8_in_place ? kv_.k_q8(il, base + kv0) : nullptr;
    const block_q8_0* v8 = q8_in_place ? kv_.v_q8(il, base + kv0) : nullptr;
    if (!k16 && !k8) load_kv_float(il, base + kv0, n_load);

    auto one = [&](int64_t idx, int ith) {
        // last token tiles first: they see the most keys
        const int64_t tt = n_tok_tiles - 1 - idx / (hp_.n_head_kv * n_head_tiles);
        const int64_t kvh = idx / n_head_tiles % hp_.n_head_kv, hh = idx % n_head_tiles;
        const int64_t t0 = tt * n_tt, h0 = kvh * group + hh * n_th;
        attn_tile a;
        a.q = q_seq + t0 * q_dim + h0 * hdk;
        a.q_stride = q_dim;
        a.k = kf_.data() + kvh * hdk;
        a.k_stride = k_dim;
        a.v = vf_.data() + kvh * hdv;
        a.v_stride = v_dim;
        a.out = att_seq + t0 * o_dim + h0 * hdv;
        a.o_stride = o_dim;
        a.n_tok = std::min(n_tt, T - t0);
        a.n_hq = std::min(n_th, group - hh * n_th);
        a.head_dim_k = hdk;
        a.head_dim_v = hdv;
        a.hi0 = n_past + t0 + 1 - kv0;
        a.window = swa ? hp_.n_swa : 0;
        a.softcap = hp_.attn_logit_softcap;
        a.sinks = sinks ? sinks + h0 : nullptr;
        a.scratch = scores_.data() + size_t(ith) * scratch;
        if (k16) {
            a.k16 = k16 + kvh * hdk;
            a.v16 = v16 + kvh * hdv;
        } else if (k8) {
            a.k8 = k8 + kvh * hdk / QK8_0;
            a.v8 = v8 + kvh * hdv / QK8_0;
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

void llama_model::attention_prefill(int64_t il, const batch_seq& s) {
    // Tokens over a long cache: tiles of up to kAttnTileMaxRows query rows (tokens x the
    // heads of one kv head), each going through its keys in chunks of kPrefillKeyChunk, so
    // that a chunk's keys and values are loaded once for the whole tile and stay in L2 for
    // both passes, and the scores take a chunk's room, not the cache's. Each chunk's
    // attention comes normalised with its log-sum-exp and joins the rows' running sums in
    // key order (as attention_chunked's chunks join). The chunks go in rounds of
    // kPrefillRoundChunks, every tile taking its chunks of one round before any tile starts
    // the next: a round's keys and values then come from memory once and from L3 for the
    // other tiles (a 512-token batch is 104 tiles of Qwen2.5-1.5B), not from memory for
    // every tile. Tiles and chunks depend on the head counts only, not on the threads, and
    // each tile takes its chunks in order, so neither the threads nor the rounds change a
    // result.
    const int64_t T = s.n, n_past = s.pos0, base = slot(s.seq, 0), n_kv = n_past + T;
    const int64_t hdk = hp_.head_dim_k, hdv = hp_.head_dim_v;
    const int64_t k_dim = hp_.n_head_kv * hdk, v_dim = hp_.n_head_kv * hdv;
    const int64_t q_dim = hp_.n_head * hdk, o_dim = hp_.n_head * hdv;
    const int64_t group = hp_.n_head / hp_.n_head_kv;
    const float* const sinks = w_.layers[il].sinks;
    const int64_t n_th = std::min(group, kAttnTileMaxRows), n_tt = std::max<int64_t>(1, kAttnTileMaxRows / n_th);
    const int64_t n_tok_tiles = (T + n_tt - 1) / n_tt, n_head_tiles = (group + n_th - 1) / n_th;
    const int64_t per_kvh = n_tok_tiles * n_head_tiles, n_items = per_kvh * hp_.n_head_kv;
    float* const q_seq = q_.data() + s.t0 * q_dim;
    float* const att_seq = att_.data() + s.t0 * o_dim;
    // each (token, head) row's running maximum of the chunks' lse and sum of exp(lse - max)
    float* const run_mx = prefill_run_.data();
    float* const run_sum = run_mx + T * hp_.n_head;
    const size_t scratch = tile_scratch();
    load_kv_float(il, base, n_kv);

    struct tile {
        int64_t t0, h0, kvh, n_tok, n_hq, hi_first, last_chunk;
    };
    auto tile_at = [&](int64_t idx) {  // the tiles of one kv head after another, the longest first
        tile tl;
        tl.kvh = idx / per_kvh;
        const int64_t tt = n_tok_tiles - 1 - idx % per_kvh / n_head_tiles, hh = idx % n_head_tiles;
        tl.t0 = tt * n_tt;
        tl.h0 = tl.kvh * group + hh * n_th;
        tl.n_tok = std::min(n_tt, T - tl.t0);
        tl.n_hq = std::min(n_th, group - hh * n_th);
        tl.hi_first = n_past + tl.t0 + 1;  // keys the tile's first token sees
        // whole chunks every token sees, then the last one, where the tokens' keys end
        tl.last_chunk = (tl.hi_first - 1) / kPrefillKeyChunk;
        return tl;
    };
    auto step = [&](const tile& tl, int64_t c, int ith) {  // tile tl takes chunk c
        const int64_t rows = tl.n_tok * tl.n_hq, c0 = c * kPrefillKeyChunk;
        float* const sc = scores_.data() + size_t(ith) * scratch;
        float* const part = sc + prefill_tile_scores();
        float* const lse = part + rows * hdv;  // (rows) of the chunk
        auto row = [&](int64_t r) { return (tl.t0 + r / tl.n_hq) * hp_.n_head + tl.h0 + r % tl.n_hq; };
        if (c == 0) {
            for (int64_t r = 0; r < rows; ++r) {  // a sink joins as a chunk with no values
                run_mx[row(r)] = sinks ? sinks[tl.h0 + r % tl.n_hq] : -INFINITY;
                run_sum[row(r)] = sinks ? 1.0f : 0.0f;
                float* o = att_seq + row(r) * hdv;
                for (int64_t d = 0; d < hdv; ++d) o[d] = 0.0f;
            }
        }
        const bool last = c == tl.last_chunk;
        attn_tile a;
        a.q = q_seq + tl.t0 * q_dim + tl.h0 * hdk;
        a.q_stride = q_dim;
        a.k = kf_.data() + c0 * k_dim + tl.kvh * hdk;
        a.k_stride = k_dim;
        a.v = vf_.data() + c0 * v_dim + tl.kvh * hdv;
        a.v_stride = v_dim;
        a.out = part;
        a.o_stride = tl.n_hq * hdv;
        a.n_tok = tl.n_tok;
        a.n_hq = tl.n_hq;
        a.head_dim_k = hdk;
        a.head_dim_v = hdv;
        a.hi0 = last ? tl.hi_first - c0 : kPrefillKeyChunk;
        a.n_keys = last ? 0 : kPrefillKeyChunk;
        a.window = 0;
        a.softcap = hp_.attn_logit_softcap;
        a.scratch = sc;
        a.lse = lse;
        ops_->attend_tile(a);
        for (int64_t r = 0; r < rows; ++r) {
            float& mx = run_mx[row(r)];
            float& sum = run_sum[row(r)];
            const float m = std::max(mx, lse[r]);
            const float old_w = std::exp(mx - m), w = std::exp(lse[r] - m);
            float* o = att_seq + row(r) * hdv;
            const float* p = part + r * hdv;
            for (int64_t d = 0; d < hdv; ++d) o[d] = o[d] * old_w + w * p[d];
            sum = sum * old_w + w;
            mx = m;
            if (last) {
                const float inv = 1.0f / sum;
                for (int64_t d = 0; d < hdv; ++d) o[d] *= inv;
            }
        }
    };
    const int64_t n_chunks = tile_at(0).last_chunk + 1;  // the batch's last tokens see the most
    for (int64_t c0 = 0; c0 < n_chunks; c0 += kPrefillRoundChunks) {
        std::atomic<int64_t> next{0};  // hand the round's tiles out one at a time
        pool_.run([&](int ith, int) {
            for (int64_t i = next.fetch_add(1); i < n_items; i = next.fetch_add(1)) {
                const tile tl = tile_at(i);
                for (int64_t c = c0; c < c0 + kPrefillRoundChunks && c <= tl.last_chunk; ++c) step(tl, c, ith);
            }
        });
    }
}

void llama_model::load_kv_float(int64_t il, int64_t slot0, int64_t n) {
    const int64_t k_dim = hp_.n_head_kv * hp_.head_dim_k, v_dim = hp_.n_head_kv * hp_.head_dim_v;
    const int64_t chunk = 64;
    parallel_rows(pool_, (n + chunk - 1) / chunk, [&](int64_t c) {
        const int64_t p0 = c * chunk, p1 = std::min(n, p0 + chunk);
        kv_.load_k(il, slot0 + p0, slot0 + p1, kf_.data() + p0 * k_dim);
        kv_.load_v(il, slot0 + p0, slot0 + p1, vf_.data() + p0 * v_dim);
    });
}

void llama_model::attention_chunked(int64_t il, const batch_seq& s, int64_t kv0) {
    // One token over a long F16 or Q8_0 cache, read in place: the keys in chunks of
    // kKeyChunk, each thread taking a run of whole chunks and in each every kv head, so that
    // the cache streams through once, whole rows in order, however few kv heads there are.
    // Each chunk's attention is normalised on its own and keeps its log-sum-exp; per head the
    // chunks then combine in chunk order. Chunks do not depend on the thread count, so
    // neither does the result.
    const int64_t n_kv = s.pos0 + 1, base = slot(s.seq, 0);
    const int64_t hdk = hp_.head_dim_k, hdv = hp_.head_dim_v;
    const int64_t q_dim = hp_.n_head * hdk, o_dim = hp_.n_head * hdv;
    const int64_t group = hp_.n_head / hp_.n_head_kv;
    const float* const sinks = w_.layers[il].sinks;
    const int64_t n_chunks = (n_kv - kv0 + kKeyChunk - 1) / kKeyChunk;
    const int64_t n_th = std::min(group, kAttnTileMaxRows), n_head_tiles = (group + n_th - 1) / n_th;
    const int64_t per_chunk = hp_.n_head_kv * n_head_tiles, n_items = n_chunks * per_chunk;
    float* const q_seq = q_.data() + s.t0 * q_dim;
    pool_.run([&](int ith, int nth) {
        for (int64_t i = n_items * ith / nth; i < n_items * (ith + 1) / nth; ++i) {
            const int64_t c = i / per_chunk, kvh = i / n_head_tiles % hp_.n_head_kv, hh = i % n_head_tiles;
            const int64_t h0 = kvh * group + hh * n_th, p0 = kv0 + c * kKeyChunk;
            attn_tile a = in_place_tile(il, base + p0, kvh, h0, std::min(n_th, group - hh * n_th), q_seq,
                                        chunk_out_.data() + c * o_dim, ith);
            a.hi0 = std::min(kKeyChunk, n_kv - p0);  // the token sees every key of the chunk
            a.sinks = nullptr;  // joins once, below
            a.lse = chunk_lse_.data() + c * hp_.n_head + h0;
            ops_->attend_tile(a);
        }
    });
    float* const att_seq = att_.data() + s.t0 * o_dim;
    parallel_rows(pool_, hp_.n_head, [&](int64_t h) {
        float mx = sinks ? sinks[h] : -INFINITY;
        for (int64_t c = 0; c < n_chunks; ++c) mx = std::max(mx, chunk_lse_[c * hp_.n_head + h]);
        double sum = sinks ? std::exp(double(sinks[h] - mx)) : 0.0;
        float* out = att_seq + h * hdv;
        for (int64_t d = 0; d < hdv; ++d) out[d] = 0.0f;
        for (int64_t c = 0; c < n_chunks; ++c) {
            const float w = std::exp(chunk_lse_[c * hp_.n_head + h] - mx);
            const float* o = chunk_out_.data() + c * o_dim + h * hdv;
            for (int64_t d = 0; d < hdv; ++d) out[d] += w * o[d];
            sum += w;
        }
        const float inv = float(1.0 / sum);
        for (int64_t d = 0; d < hdv; ++d) out[d] *= inv;
    });
}

bool llama_model::attention_decode(int64_t il, const batch_in_flight& b) {
    // Several sequences of one token each over an F16 or Q8_0 cache read in place: their
    // tiles go to the threads in one hand-out instead of one per sequence (a barrier each).
    if (b.n_seqs < 2 || !kv_in_place(il)) return false;
    for (int64_t i = 0; i < b.n_seqs; ++i) {
        if (b.seqs[i].n != 1) return false;
    }
    const int64_t q_dim = hp_.n_head * hp_.head_dim_k, o_dim = hp_.n_head * hp_.head_dim_v;
    const int64_t group = hp_.n_head / hp_.n_head_kv;
    const bool swa = hp_.layer_swa[il] && hp_.n_swa > 0;
    const int nth = pool_.size();
    int64_t n_th = std::min(group, kAttnTileMaxRows);
    const int64_t per_seq = hp_.n_head_kv;  // tiles per sequence before splitting the heads
    if (b.n_seqs * per_seq * ((group + n_th - 1) / n_th) < nth) {
        const int64_t split = std::min<int64_t>(group, (nth + b.n_seqs * per_seq - 1) / (b.n_seqs * per_seq));
        n_th = std::min(n_th, (group + split - 1) / split);
    }
    const int64_t n_head_tiles = (group + n_th - 1) / n_th;
    const int64_t n_items = b.n_seqs * hp_.n_head_kv * n_head_tiles;
    auto one = [&](int64_t idx, int ith) {
        const batch_seq& s = b.seqs[idx / (hp_.n_head_kv * n_head_tiles)];
        const int64_t kvh = idx / n_head_tiles % hp_.n_head_kv, hh = idx % n_head_tiles;
        const int64_t h0 = kvh * group + hh * n_th;
        const int64_t kv0 = swa ? std::max<int64_t>(0, s.pos0 - hp_.n_swa + 1) : 0;
        attn_tile a = in_place_tile(il, slot(s.seq, kv0), kvh, h0, std::min(n_th, group - hh * n_th),
                                    q_.data() + s.t0 * q_dim, att_.data() + s.t0 * o_dim, ith);
        a.hi0 = s.pos0 + 1 - kv0;
        a.window = swa ? hp_.n_swa : 0;
        ops_->attend_tile(a);
    };
    std::atomic<int64_t> next{0};  // sequences differ in length: hand tiles out one at a time
    pool_.run([&](int ith, int) {
        for (int64_t i = next.fetch_add(1); i < n_items; i = next.fetch_add(1)) one(i, ith);
    });
    return true;
}

attn_tile llama_model::in_place_tile(int64_t il, int64_t slot0, int64_t kvh, int64_t h0, int64_t n_hq,
                                     const float* q, float* out, int ith) {
    const int64_t hdk = hp_.head_dim_k, hdv = hp_.head_dim_v;
    attn_tile a;
    a.q = q + h0 * hdk;
    a.q_stride = hp_.n_head * hdk;
    a.k = nullptr;
    a.k_stride = hp_.n_head_kv * hdk;
    a.v = nullptr;
    a.v_stride = hp_.n_head_kv * hdv;
    if (kv_.k_f16(il, 0)) {
        a.k16 = kv_.k_f16(il, slot0) + kvh * hdk;
        a.v16 = kv_.v_f16(il, slot0) + kvh * hdv;
    } else {
        a.k8 = kv_.k_q8(il, slot0) + kvh * hdk / QK8_0;
        a.v8 = kv_.v_q8(il, slot0) + kvh * hdv / QK8_0;
    }
    a.out = out + h0 * hdv;
    a.o_stride = hp_.n_head * hdv;
    a.n_tok = 1;
    a.n_hq = n_hq;
    a.head_dim_k = hdk;
    a.head_dim_v = hdv;
    a.hi0 = 1;
    a.window = 0;
    a.softcap = hp_.attn_logit_softcap;
    a.sinks = w_.layers[il].sinks ? w_.layers[il].sinks + h0 : nullptr;
    a.scratch = scores_.data() + size_t(ith) * tile_scratch();
    return a;
}

}  // namespace pyggml
