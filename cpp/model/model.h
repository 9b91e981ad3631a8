// model.h: a llama-family decoder (llama, mistral, qwen2, qwen3, gemma3, smollm3, mistral3, and
// the mixture-of-experts qwen3moe, mixtral and gpt-oss) over mapped weights.
//
// The weights stay where the caller mapped them (the GGUF file), except the matrices
// this CPU's kernels want rearranged (kernels/repack.h), whose copies the model owns besides
// its KV cache and scratch buffers. The cache holds up to n_seq_max sequences, each in its
// own slice of n_ctx positions; a batch is one or more sequences' tokens, run through every
// layer together (one matrix product per weight over all of them, attention per sequence),
// returning logits for the requested rows. Sequence 0 is the single-sequence API's.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/threads.h"
#include "cuda/gpu_placement.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/repack.h"
#include "model/kv_cache.h"

namespace pyggml {

class gpu_layers;  // cuda/gpu_layers.h

enum class ffn_activation : int32_t { silu = 0, gelu_tanh = 1, swiglu_oai = 2 };

// How a mixture-of-experts router weights the experts it picks (llama.cpp's
// llama_expert_gating_func_type): softmax over all experts, then the largest; or (gpt-oss)
// the largest logits, then a softmax over those alone.
enum class expert_gating : int32_t { softmax = 1, softmax_weight = 3 };

struct model_hparams {
    int64_t n_vocab = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim_k = 0;
    int64_t head_dim_v = 0;
    int64_t n_ff = 0;
    int32_t n_rot = 0;
    bool rope_neox = false;
    float rms_eps = 1e-5f;
    float attn_scale = 0.0f;         // multiplies q . k
    float embd_scale = 1.0f;         // multiplies the token embeddings
    float final_logit_softcap = 0.0f;  // 0: none
    float attn_logit_softcap = 0.0f;   // 0: none
    int64_t n_swa = 0;               // sliding window of the layers flagged in layer_swa
    ffn_activation act = ffn_activation::silu;
    std::vector<uint8_t> layer_swa;        // (n_layer) 1: sliding-window layer
    std::vector<float> layer_rope_base;    // (n_layer)
    std::vector<float> layer_rope_scale;   // (n_layer) 1 / linear scaling factor
    std::vector<uint8_t> layer_no_rope;    // (n_layer) 1: no rotary embedding in this layer (smollm3); empty: none
    float rope_attn_factor = 1.0f;         // multiplies the rotated dimensions of q and k (phi3's LongRoPE, YaRN's mscale)
    // YaRN rope scaling (rope_params): ext_factor 0 is none; the ramp's ends come from the
    // training context and the beta rotations (rope_yarn_corr_dims), per layer's rope base.
    float yarn_ext_factor = 0.0f;
    float yarn_beta_fast = 32.0f;
    float yarn_beta_slow = 1.0f;
    int64_t yarn_n_ctx_orig = 0;
    // Attention temperature tuning (mistral3): q of the token at position p is multiplied
    // by log(floor(p / attn_temp_floor) + 1) * attn_temp_scale + 1.
    float attn_temp_scale = 0.0f;          // 0: none
    int64_t attn_temp_floor = 0;           // rope.scaling.original_context_length
    // Mixture of experts (block.cpp's dense feed-forward replaced by moe.cpp's): every layer
    // routes each token to n_expert_used of n_expert SiLU-gated experts of n_ff_exp rows.
    int64_t n_expert = 0;                  // 0: dense feed-forward
    int64_t n_expert_used = 0;
    int64_t n_ff_exp = 0;
    bool expert_weights_norm = false;      // renormalise the chosen experts' probabilities to sum to 1
    float expert_weights_scale = 1.0f;     // then multiply them by this
    expert_gating gating = expert_gating::softmax;
};

struct layer_weights {
    const float* attn_norm = nullptr;       // (n_embd)
    weight_view wq{}, wk{}, wv{}, wo{};
    const float* bq = nullptr;              // (n_head * head_dim_k) or null
    const float* bk = nullptr;              // (n_head_kv * head_dim_k) or null
    const float* bv = nullptr;              // (n_head_kv * head_dim_v) or null
    const float* bo = nullptr;              // (n_embd) or null
    const float* sinks = nullptr;           // (n_head) attention sink logits (gpt-oss) or null
    const float* q_norm = nullptr;          // (head_dim_k) or null
    const float* k_norm = nullptr;          // (head_dim_k) or null
    const float* post_attn_norm = nullptr;  // (n_embd) or null
    const float* ffn_norm = nullptr;        // (n_embd)
    weight_view ffn_gate{}, ffn_up{}, ffn_down{};  // dense feed-forward (n_expert == 0)
    const float* post_ffn_norm = nullptr;   // (n_embd) or null
    // mixture of experts (n_expert > 0): the router and the experts' matrices, each 3-D
    // tensor one view of n_expert stacked matrices (expert_matrix picks one)
    weight_view ffn_gate_inp{};             // (n_expert, n_embd)
    weight_view ffn_gate_exps{}, ffn_up_exps{};  // (n_expert * n_ff_exp, n_embd)
    weight_view ffn_down_exps{};            // (n_expert * n_embd, n_ff_exp)
    const float* ffn_gate_inp_b = nullptr;  // (n_expert) router bias or null (gpt-oss)
    const float* ffn_gate_exps_b = nullptr; // (n_expert, n_ff_exp) or null: each expert's biases
    const float* ffn_up_exps_b = nullptr;   // (n_expert, n_ff_exp) or null
    const float* ffn_down_exps_b = nullptr; // (n_expert, n_embd) or null
};

// Expert e's matrix of a stacked expert tensor of n_expert experts: its rows are a
// contiguous slice (a repacked tensor is regrouped within each expert's rows).
inline weight_view expert_matrix(const weight_view& w, int64_t n_expert, int64_t e) {
    weight_view v = w;
    v.n_rows = w.n_rows / n_expert;
    v.data = static_cast<const char*>(w.data) + size_t(e) * size_t(v.n_rows) * w.row_bytes;
    return v;
}

struct model_weights {
    weight_view token_embd{};               // (n_vocab, n_embd)
    const float* output_norm = nullptr;     // (n_embd)
    weight_view output{};                   // (n_vocab, n_embd); token_embd when tied
    const float* rope_freqs = nullptr;      // (n_rot / 2) frequency divisors or null
    std::vector<layer_weights> layers;
};

// Calibration: forward_batch copies the inputs of the linear layers into caller buffers.
// Sites per layer: the normed input of q/k/v, the input of the attention output matrix,
// the normed input of gate/up, and the input of ffn_down (after the gated activation). With
// experts, sites 4 and 5 instead of 3, expert by expert: each token's chosen experts (n_expert_used
// ids as floats, in the router's order) and the inputs of their ffn_down_exps (n_expert_used rows
// of n_ff_exp, the same order) side by side.
enum capture_site : int {
    capture_attn_in = 0,
    capture_attn_out = 1,
    capture_ffn_in = 2,
    capture_ffn_down_in = 3,
    capture_moe_experts = 4,
    capture_moe_down_in = 5,
};
constexpr int n_capture_sites = 6;

struct activation_capture {
    std::vector<float*> dst;      // (n_layer * n_capture_sites): each (n_rows, site width) or null
    float* output_in = nullptr;   // (n_rows, n_embd): normed input of the output matrix, or null
    int64_t row = 0;              // token rows written so far; eval appends after them
    int64_t last_layer = -1;      // >= 0: stop each batch after this layer (no logits)
};

// Query rows (tokens x heads of one kv head) an attention tile aims for: each key and
// value row is loaded once per tile and used by this many queries.
constexpr int64_t kTileRows = 16;
static_assert(kTileRows <= kAttnTileMaxRows, "attention tiles hold at most kAttnTileMaxRows rows");

// Keys per chunk when one token attends over a long cache (see attention_chunked).
constexpr int64_t kKeyChunk = 512;

// Keys per chunk when a batch of tokens attends (attention_prefill): a chunk's keys and
// values for one kv head stay in L2 while a whole tile of queries uses them (128, 256 and
// 512 measured alike).
constexpr int64_t kPrefillKeyChunk = 256;

// Chunks per round of attention_prefill: 2048 keys, whose float keys and values of one kv
// head (2 MB at head dim 128) stay in L3 while every tile of the batch takes them
// (docs/speed.md).
constexpr int64_t kPrefillRoundChunks = 8;

// Floats of a prefill tile's scores over one chunk (its output and log-sum-exps follow).
inline int64_t prefill_tile_scores() { return attn_tile_scratch(kAttnTileMaxRows, kPrefillKeyChunk + kAttnTileMaxRows); }

// Rows of the largest tile for query groups of `group` heads per kv head.
inline int64_t tile_rows(int64_t group) { return std::max(kTileRows, std::min(group, kAttnTileMaxRows)); }

// One sequence's part of a batch: tokens [t0, t0 + n) of the batch, at positions pos0..
// of sequence seq.
struct batch_seq {
    int64_t seq, t0, n, pos0;
};

// A batch on its way through the steps of forward_batch.
struct batch_in_flight {
    const int32_t* tokens;         // (n) token ids
    int64_t n;                     // tokens in the batch
    const batch_seq* seqs;         // (n_seqs) the sequences, in token order, covering [0, n)
    int64_t n_seqs;
    std::atomic<int64_t> bad_row;  // the first row a step left non-finite (finite.h); n: none
    // The sequence part that holds token row t.
    const batch_seq& seq_of(int64_t t) const {
        int64_t i = 0;
        while (i + 1 < n_seqs && seqs[i + 1].t0 <= t) ++i;
        return seqs[i];
    }
    // Throws nonfinite_error naming `what` (layer >= 0: that layer) when a row was noted.
    void check(const char* what, int64_t layer) const;
};

// A sequence's tokens for eval_batch.
struct seq_tokens {
    int64_t seq;
    const int32_t* tokens;
    int64_t n;
};

class llama_model {
public:
    // precise: linear layers keep float32 activations (kernels/matmul_precise.h) instead of
    // converting them to the weights' dot types as ggml does. repack: let the linear
    // weights take the layout this CPU's kernels prefer (kernels/repack.h; not with precise).
    // gpu: the blocks (and the head) that run on the GPU instead (cuda/gpu_layers.h).
    // n_ctx: positions per sequence; n_seq_max: sequences the cache holds (1 with gpu).
    llama_model(model_hparams hp, model_weights w, int64_t n_ctx, int64_t n_batch, int n_threads,
                int32_t kv_type, bool precise = false, bool repack = true, const gpu_placement& gpu = {},
                int64_t n_seq_max = 1);
    ~llama_model();

    const model_hparams& hparams() const { return hp_; }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_batch() const { return n_batch_; }
    int64_t n_past() const { return seq_pos_[0]; }
    int64_t n_seq_max() const { return int64_t(seq_pos_.size()); }
    // Positions sequence seq holds (its next token goes at this position).
    int64_t seq_pos(int64_t seq) const { return seq_pos_[size_t(checked_seq(seq))]; }
    int n_threads() const { return pool_.size(); }
    const kv_cache& cache() const { return kv_; }
    bool precise() const { return precise_; }
    // Bytes of weights the model holds rearranged (repack_weights), besides the file, and
    // bytes of plain matrices it holds copied into its huge-page buffer.
    size_t repacked_bytes() const { return repacked_bytes_; }
    size_t copied_bytes() const { return copied_bytes_; }
    // The GPU part, or null when everything runs on the CPU.
    const gpu_layers* gpu() const { return gpu_.get(); }

    // Runs tokens (n_tokens ids, each < n_vocab) at positions n_past.., in slices of
    // n_batch, and advances n_past. logits: (n_tokens, n_vocab) when all_logits,
    // otherwise (1, n_vocab) for the last token. Throws when the context would overflow.
    void eval(const int32_t* tokens, int64_t n_tokens, bool all_logits, float* logits);

    // Several sequences in one pass: each entry's tokens at positions seq_pos(seq).. of its
    // sequence (distinct sequences, at least one token each, all together at most n_batch
    // tokens). logits: one row per token when all_logits, otherwise one per entry (its
    // last token), in entry order. All or nothing: on an error no sequence keeps the
    // batch's tokens.
    void eval_batch(const seq_tokens* seqs, int64_t n_seqs, bool all_logits, float* logits);

    // Like eval, but writes the hidden states after the final norm (what llama.cpp calls
    // embeddings) instead of logits: embd (n_tokens, n_embd).
    void eval_embeddings(const int32_t* tokens, int64_t n_tokens, float* embd, int64_t seq = 0);

    // Drops positions [n_keep, n_keep + n_discard) of a sequence, moves the rest down and
    // re-rotates their keys to the new positions.
    void shift_context(int64_t n_keep, int64_t n_discard, int64_t seq = 0);

    // Forgets every sequence's positions.
    void reset() { std::fill(seq_pos_.begin(), seq_pos_.end(), 0); }

    // Sequence dst becomes a copy of sequence src's first n positions (its keys and values
    // copied, not recomputed: a shared prompt prefix is evaluated once).
    void seq_copy(int64_t src, int64_t dst, int64_t n);

    // While set, eval copies the linear layers' inputs into c (see activation_capture);
    // the caller keeps c alive and sizes its buffers for the tokens it evaluates.
    void set_capture(activation_capture* c) { capture_ = c; }
    // Width of a capture site: n_embd, n_head * head_dim_v, n_embd or n_ff.
    int64_t capture_width(int site) const;

    // Forgets every cached position of a sequence from n_past on (0 <= n_past <=
    // seq_pos(seq)): its next eval continues at position n_past, overwriting the dropped slots.
    void truncate(int64_t n_past, int64_t seq = 0) {
        int64_t& pos = seq_pos_[size_t(checked_seq(seq))];
        if (n_past < 0 || n_past > pos) throw std::out_of_range("truncate: need 0 <= n_past <= cached tokens");
        pos = n_past;
    }

private:
    int64_t checked_seq(int64_t seq) const {
        if (seq < 0 || seq >= int64_t(seq_pos_.size())) {
            throw std::out_of_range("sequence id " + std::to_string(seq) + " is outside [0, " +
                                    std::to_string(seq_pos_.size()) + ")");
        }
        return seq;
    }
    // The cache slot of a sequence's position.
    int64_t slot(int64_t seq, int64_t pos) const { return seq * n_ctx_ + pos; }
    // Throws when a token id is outside [0, n_vocab).
    void check_token_ids(const int32_t* tokens, int64_t n_tokens) const;
    // One batch: embed, every layer's block, head; advances the sequences' positions.
    // out_rows: the n_out token rows whose logits go to logits (n_out, n_vocab).
    void forward_batch(const int32_t* tokens, int64_t n_tokens, const batch_seq* seqs, int64_t n_seqs,
                       const int64_t* out_rows, int64_t n_out, float* logits);
    // embed.cpp: x_ (n_tokens, n_embd) from the token ids, h_ = layer 0's normed input, the
    // batch's rotary tables (rope_cs_).
    void embed(batch_in_flight& b);
    // block.cpp: layer il on x_ (its normed input in h_), leaving the next layer's normed
    // input in h_; stores the batch's keys and values at positions n_past...
    void block(int64_t il, batch_in_flight& b);
    // Attention of one sequence's part of the batch over its cached positions.
    void attention(int64_t layer, const batch_seq& s);
    // One token over more than kKeyChunk keys of an F16 or Q8_0 cache: see block.cpp.
    void attention_chunked(int64_t layer, const batch_seq& s, int64_t kv0);
    // A batch of tokens (not one tile's) over the cache in chunks of kPrefillKeyChunk keys: see block.cpp.
    void attention_prefill(int64_t layer, const batch_seq& s);
    // Floats of scores_ each thread's attention tiles may use.
    size_t tile_scratch() const;
    // Keys and values of cache slots [slot0, slot0 + n) of layer il as float32 in kf_ and vf_.
    void load_kv_float(int64_t il, int64_t slot0, int64_t n);
    // Attention of a batch of one token per sequence over an F16 cache, all sequences' tiles
    // in one hand-out; false (nothing done) for other batches.
    bool attention_decode(int64_t layer, const batch_in_flight& b);
    // Whether each head's keys and values start and end on Q8_0 block edges, so a Q8_0
    // cache can be read in place.
    bool q8_heads() const { return hp_.head_dim_k % QK8_0 == 0 && hp_.head_dim_v % QK8_0 == 0; }
    // Whether attention can read layer il's cache where it lies (F16, or Q8_0 whole blocks per head).
    bool kv_in_place(int64_t il) const { return kv_.k_f16(il, 0) || (kv_.k_q8(il, 0) && q8_heads()); }
    // A one-token tile over an in-place cache: query heads [h0, h0 + n_hq) of kv head kvh,
    // keys from cache slot slot0 on, q and out the rows of the token (see attn_tile).
    attn_tile in_place_tile(int64_t il, int64_t slot0, int64_t kvh, int64_t h0, int64_t n_hq, const float* q,
                            float* out, int ith);
    // Multiplies the rotated dimensions of one token's q (n_head heads) and k (n_head_kv) by
    // rope_attn_factor, as ggml's rope scales its cos and sin.
    void rope_magnitude(float* q, float* k) const;
    // gate = act(gate) * up for the model's activation (silu, gelu_tanh, swiglu_oai), n elements.
    void gated_activation(float* gate, const float* up, int64_t n) const;
    // moe.cpp: the mixture-of-experts feed-forward of layer il on h_ (T, n_embd), into
    // o_: route every token, then run each chosen expert once over all its tokens.
    void moe_ffn(int64_t il, int64_t n_tokens);
    // attn_temperature.cpp: the factor q is multiplied by at position pos (1 without tuning).
    float attn_temperature(int64_t pos) const;
    // head.cpp: the final norm of x_ and then logits (all rows or the last), embd_out_ or
    // the capture of the output matrix's input. Throws nonfinite_error for NaN or
    // infinity in the hidden states or the logits. out_rows: the n_out token rows whose
    // logits are asked for. gpu_logits: the GPU wrote the logits (gpu_run): the CPU only
    // checks them.
    void head(batch_in_flight& b, const int64_t* out_rows, int64_t n_out, float* logits, bool gpu_logits = false);
    rope_params layer_rope(int64_t layer) const;
    void linear(const weight_view& w, const float* x, float* y, int64_t n_tokens);
    // Several weights applied to the same x: one dispatch (matmul_shared_input).
    void linear_shared_input(std::initializer_list<matmul_output> outs, const float* x, int64_t n_tokens);
    void linear_shared_input(const matmul_output* outs, int n_outs, const float* x, int64_t n_tokens);
    // Several products with inputs of their own, one dispatch (matmul_jobs).
    void linear_jobs(const matmul_job* jobs, int n_jobs);
    // Points the linear weights at copies in one buffer owned by the model (kernels/repack.h):
    // rearranged where this CPU's kernels want another layout, and the others copied as
    // they are where the buffer gets huge pages; the mapped file is then no longer read
    // for them.
    void repack_weights();
    // Copies the norm, bias and rope-factor vectors into vectors_ and points w_ at them:
    // reading a few KB of the mapped file during a pass maps whole page-cache folios
    // around them (up to 2 MiB each where the file system uses large folios), pages the
    // matrices' copies made redundant.
    void own_vectors();
    // Grows the scratch buffers to hold n_tokens tokens and n_kv cached positions.
    void reserve_scratch(int64_t n_tokens, int64_t n_kv);
    // Runs the GPU layers from l0 to the next CPU layer (or the end) on x_, and the head
    // when `logits` is set (see forward_batch); returns that next layer.
    // Its hidden states, when they come back, are checked for NaN and infinity (bad_row:
    // the first non-finite row, as forward_batch's checks note them).
    int64_t gpu_run(int64_t l0, int64_t T, float* logits, int64_t r0, std::atomic<int64_t>& bad_row);

    model_hparams hp_;
    model_weights w_;
    weight_buffer weights_;  // the copies w_ points into (repack_weights)
    std::vector<float> vectors_;  // the norms, biases and rope factors w_ points into (own_vectors)
    size_t repacked_bytes_ = 0, copied_bytes_ = 0;
    int64_t n_ctx_, n_batch_;            // n_ctx_: positions per sequence
    std::vector<int64_t> seq_pos_;       // (n_seq_max) positions each sequence holds
    bool precise_;
    const ops_kernels* ops_;  // the element-wise and attention kernels this CPU runs best
    thread_pool pool_;
    kv_cache kv_;  // (n_seq_max * n_ctx) slots: sequence s at [s * n_ctx, (s + 1) * n_ctx)

    // scratch, grown on demand up to n_batch tokens and n_ctx positions
    int64_t batch_cap_ = 0, kv_cap_ = 0;
    std::vector<float> x_;      // (batch_cap, n_embd) residual stream
    std::vector<float> h_;      // (batch_cap, n_embd) normed input of a block
    std::vector<float> q_;      // (batch_cap, n_head * head_dim_k)
    std::vector<float> k_;      // (batch_cap, n_head_kv * head_dim_k)
    std::vector<float> v_;      // (batch_cap, n_head_kv * head_dim_v)
    std::vector<float> att_;    // (batch_cap, n_head * head_dim_v)
    std::vector<float> o_;      // (batch_cap, n_embd)
    std::vector<float> gate_;   // (batch_cap, n_ff)
    std::vector<float> up_;     // (batch_cap, n_ff)
    // mixture of experts (n_expert > 0)
    std::vector<float> router_;       // (batch_cap, n_expert) router logits, then probabilities
    std::vector<int32_t> chosen_;     // (batch_cap, n_expert_used) experts of each token
    std::vector<float> chosen_w_;     // (batch_cap, n_expert_used) their weights
    // below: one row per (token, chosen expert), grouped by expert
    std::vector<float> moe_x_;        // (batch_cap * n_expert_used, n_embd) each expert's tokens' inputs
    std::vector<float> moe_gate_;     // (batch_cap * n_expert_used, n_ff_exp)
    std::vector<float> moe_up_;       // (batch_cap * n_expert_used, n_ff_exp)
    std::vector<float> moe_down_;     // (batch_cap * n_expert_used, n_embd)
    // Float scratch on 2 MiB pages where the system grants them (alloc_weight_buffer), not
    // kept across growth: the prompt tiles stream through these copies of a layer's cache.
    struct huge_floats {
        weight_buffer buf;
        size_t n = 0;
        float* data() { return reinterpret_cast<float*>(buf.get()); }
        void resize(size_t count) {
            if (count > n) {
                buf = alloc_weight_buffer(count * sizeof(float));
                n = count;
            }
        }
    };
    huge_floats kf_;  // (kv_cap, n_head_kv * head_dim_k) keys of one layer as float
    huge_floats vf_;  // (kv_cap, n_head_kv * head_dim_v)
    std::vector<float> rope_cs_;  // (n_rope_sets, batch_cap, n_rot) cos/sin per position
    std::vector<int64_t> layer_rope_set_;  // (n_layer) which distinct (base, scale) a layer rotates with
    std::vector<int64_t> rope_set_layer_;  // (n_rope_sets) the first layer of each
    std::vector<float> scores_;   // (n_threads, tile_scratch()) attention tiles
    std::vector<float> chunk_out_;  // (ceil(kv_cap / kKeyChunk), n_head * head_dim_v) attention_chunked
    std::vector<float> chunk_lse_;  // (ceil(kv_cap / kKeyChunk), n_head)
    std::vector<float> prefill_run_;  // (2, batch_cap, n_head) attention_prefill's running maxima and sums
    std::unique_ptr<gpu_layers> gpu_;
    activation_capture* capture_ = nullptr;
    void capture(int64_t layer, int site, const float* src, int64_t n_tokens);
    float* embd_out_ = nullptr;   // set by eval_embeddings: forward_batch writes normed states here
};

}  // namespace pyggml
