// ops.h: the element-wise and attention operations of the transformer forward pass.
//
// Plain loops over float32 rows; each routine works on one row (or one tile of
// attention) so the caller decides how to split work across threads. The functions
// declared here are the scalar references; ops_kernels is one instruction set's choice
// of them (AVX2 twins in arch/x86/ops_avx2.cpp), and core/dispatch.h holds the best one.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/blocks.h"
#include "core/fp16.h"

namespace pyggml {

// y = x / sqrt(mean(x^2) + eps) * w   (w may be null: no scaling). y may alias x.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// sum a[i] * b[i] in float32 with eight independent partial sums (vectorizes
// without reassociation, so the result does not depend on the compiler).
float dot_f32(const float* a, const float* b, int64_t n);

// x += y, n elements.
void add_inplace(float* x, const float* y, int64_t n);

// gate = silu(gate) * up  /  gate = gelu_tanh(gate) * up, n elements.
void silu_mul(float* gate, const float* up, int64_t n);
void gelu_tanh_mul(float* gate, const float* up, int64_t n);
// gpt-oss's clamped SwiGLU (ggml_swiglu_oai, alpha 1.702, limit 7): with x = min(gate, 7) and
// y = clamp(up, -7, 7), gate = x * sigmoid(1.702 x) * (y + 1).
void swiglu_oai_mul(float* gate, const float* up, int64_t n);

// In-place softmax of n values.
void softmax(float* x, int64_t n);

// Rotary embedding, following ggml_rope_ext's angles (its magnitude scaling, mscale, is the
// caller's: llama_model::rope_magnitude).
struct rope_params {
    int32_t n_rot;                 // rotated dimensions at the start of each head (even)
    bool neox;                     // pairs (i, i + n_rot/2) instead of (2i, 2i+1)
    float freq_base;
    float freq_scale;              // 1 / linear (or YaRN) scaling factor
    const float* freq_factors;     // (n_rot/2) divisors of each frequency, or null
    // YaRN (ggml's rope_yarn): pair i's angle mixes the interpolated (freq_scale * theta) and
    // the extrapolated (theta) one by ramp(i) * ext_factor, ramp(i) = 1 - clamp((i - corr_dims[0])
    // / max(0.001, corr_dims[1] - corr_dims[0]), 0, 1). ext_factor 0: plain interpolation.
    float ext_factor = 0.0f;
    float corr_dims[2] = {0.0f, 0.0f};
};

// ggml_rope_yarn_corr_dims: the first and last pair index of YaRN's ramp for n_rot rotated
// dimensions, a training context of n_ctx_orig, and beta_fast / beta_slow rotations.
void rope_yarn_corr_dims(int32_t n_rot, int64_t n_ctx_orig, float freq_base, float beta_fast, float beta_slow,
                         float dims[2]);

// Fills cs (2 * n_rot/2 floats: cos then sin interleaved per pair) for one position.
void rope_cache(const rope_params& p, double pos, float* cs);
// rope_cache for the n positions pos0, pos0 + 1, ...: cs (n, n_rot), the same values.
void rope_cache_rows(const rope_params& p, double pos0, int64_t n, float* cs);
// Rotates n_head heads of head_dim floats in x using a cache made by rope_cache.
void rope_apply(float* x, int64_t n_head, int64_t head_dim, const rope_params& p, const float* cs);

// Causal (optionally sliding-window) attention of one query head against keys.
//   q: (head_dim_k) already scaled; k: rows of stride k_stride, v: rows of stride v_stride,
//   for key indices [k0, k1) (pointers are to key index k0). scores: scratch of k1 - k0.
//   out: (head_dim_v) = softmax(q . k) v. Keys outside the mask must already be
//   excluded by the caller through [k0, k1).
//   sink: an extra logit in the softmax's denominator with no value (gpt-oss's attention
//   sinks), or -infinity for none.
void attend_head(const float* q, const float* k, int64_t k_stride, const float* v, int64_t v_stride,
                 int64_t n_keys, int64_t head_dim_k, int64_t head_dim_v, float softcap, float* scores,
                 float* out, float sink = -INFINITY);

// Attention of a tile of queries: n_tok consecutive tokens x n_hq query heads that
// share one key/value head. Key j (0-based within the loaded range) is visible to
// token t when lo(t) <= j < hi(t), hi(t) = hi0 + t (at most n_keys when n_keys > 0: a chunk
// of keys every token of the tile sees whole), lo(t) = window ? max(0, hi(t) - window) : 0.
struct attn_tile {
    const float* q;      // row (t, h) at q + t * q_stride + h * head_dim_k, already scaled
    int64_t q_stride;
    const float* k;      // key j at k + j * k_stride (head_dim_k floats)
    int64_t k_stride;
    const float* v;      // value j at v + j * v_stride (head_dim_v floats)
    int64_t v_stride;
    // Or keys and values in F16 where they lie (an F16 cache, read as it is): when k16
    // is set, k16 and v16 stand for k and v, with the same strides in elements.
    const uint16_t* k16 = nullptr;
    const uint16_t* v16 = nullptr;
    // Or a Q8_0 cache read in place: k8 (v8) is the block that holds k's (v's) first
    // element, strides still in elements; head dims and strides multiples of 32.
    const block_q8_0* k8 = nullptr;
    const block_q8_0* v8 = nullptr;
    float* out;          // row (t, h) at out + t * o_stride + h * head_dim_v
    int64_t o_stride;
    int64_t n_tok, n_hq, head_dim_k, head_dim_v;  // n_tok * n_hq <= kAttnTileMaxRows
    int64_t hi0, window;
    int64_t n_keys = 0;  // > 0: hi(t) = min(hi0 + t, n_keys)
    float softcap;       // 0: none
    // Attention sinks (gpt-oss): sinks[h] is a logit of query head h of the tile that joins
    // the softmax's denominator only; null: none.
    const float* sinks = nullptr;
    float* scratch;      // attn_tile_scratch(n_tok * n_hq, hi(n_tok - 1)) floats
    // When set, lse[t * n_hq + h] = the log of row (t, h)'s softmax denominator, taken with
    // its maximum (max + log sum exp(score - max), sink included): the weight with which a
    // tile's normalised output over some keys joins another's over the rest.
    float* lse = nullptr;
};

// Elements of Q8_0 rows addressed like a float pointer: element i of (p + n) is element
// e + n + i counted from block b's first. The value is d * q, the product the Q8_0
// dequantizer computes, so keys read in place equal keys dequantized first.
struct q8_elems {
    const block_q8_0* b;
    int64_t e;
    q8_elems operator+(int64_t n) const { return {b, e + n}; }
    float operator[](int64_t i) const {
        const block_q8_0& blk = b[(e + i) / QK8_0];
        return float(blk.qs[(e + i) % QK8_0]) * fp16_to_fp32(blk.d);
    }
};

// The most query rows (n_tok * n_hq) one tile may hold.
constexpr int64_t kAttnTileMaxRows = 64;

// Floats of scratch an attention tile of n_rows rows over n_keys keys needs.
inline int64_t attn_tile_scratch(int64_t n_rows, int64_t n_keys) { return n_rows * (n_keys + 8) + 64; }

// Reference: attend_head per row (F16 and Q8_0 keys and values converted one by one): each
// score q . k in eight lanes, the softmax (softmax_scores), each output its products added in
// key order; products and sums fused on aarch64 (std::fma), not elsewhere (ops.cpp, mul_add).
void attend_tile(const attn_tile& a);

// f(k, v) with a tile's keys and values as they lie: float pointers, F16 (uint16_t) pointers or
// q8_elems; each tier's tile is one template over the three.
template <typename F>
void with_kv_storage(const attn_tile& a, F&& f) {
    if (a.k8) {
        f(q8_elems{a.k8, 0}, q8_elems{a.v8, 0});
    } else if (a.k16) {
        f(a.k16, a.v16);
    } else {
        f(a.k, a.v);
    }
}

// The reference's softmax of one row's n scores, in place: soft-capped when softcap > 0, then
// exp(s - max) / sum, the sum in double with exp(sink - max) in it (sink -infinity: none);
// lse, when set: max + log(sum). A tier's tile that calls it keeps the reference's bits.
void softmax_scores(float* s, int64_t n, float softcap, float sink, float* lse);

// The kernels of one instruction set.
struct ops_kernels {
    void (*rms_norm)(const float* x, const float* w, float* y, int64_t n, float eps);
    void (*silu_mul)(float* gate, const float* up, int64_t n);
    void (*gelu_tanh_mul)(float* gate, const float* up, int64_t n);
    void (*rope_apply)(float* x, int64_t n_head, int64_t head_dim, const rope_params& p, const float* cs);
    void (*attend_tile)(const attn_tile& a);
};

}  // namespace pyggml
