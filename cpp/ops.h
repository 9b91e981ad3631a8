// ops.h: the element-wise and attention operations of the transformer forward pass.
//
// Plain loops over float32 rows; each routine works on one row (or one head) so the
// caller decides how to split work across threads.
#pragma once

#include <cstdint>

namespace pyggml {

// y = x / sqrt(mean(x^2) + eps) * w   (w may be null: no scaling). y may alias x.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// x += y, n elements.
void add_inplace(float* x, const float* y, int64_t n);

// gate = silu(gate) * up  /  gate = gelu_tanh(gate) * up, n elements.
void silu_mul(float* gate, const float* up, int64_t n);
void gelu_tanh_mul(float* gate, const float* up, int64_t n);

// In-place softmax of n values.
void softmax(float* x, int64_t n);

// Rotary embedding, following ggml_rope_ext without YaRN extrapolation.
struct rope_params {
    int32_t n_rot;                 // rotated dimensions at the start of each head (even)
    bool neox;                     // pairs (i, i + n_rot/2) instead of (2i, 2i+1)
    float freq_base;
    float freq_scale;              // 1 / linear scaling factor
    const float* freq_factors;     // (n_rot/2) divisors of each frequency, or null
};

// Fills cs (2 * n_rot/2 floats: cos then sin interleaved per pair) for one position.
void rope_cache(const rope_params& p, double pos, float* cs);
// Rotates n_head heads of head_dim floats in x using a cache made by rope_cache.
void rope_apply(float* x, int64_t n_head, int64_t head_dim, const rope_params& p, const float* cs);

// Causal (optionally sliding-window) attention of one query head against keys.
//   q: (head_dim_k) already scaled; k: rows of stride k_stride, v: rows of stride v_stride,
//   for key indices [k0, k1) (pointers are to key index k0). scores: scratch of k1 - k0.
//   out: (head_dim_v) = softmax(q . k) v. Keys outside the mask must already be
//   excluded by the caller through [k0, k1).
void attend_head(const float* q, const float* k, int64_t k_stride, const float* v, int64_t v_stride,
                 int64_t n_keys, int64_t head_dim_k, int64_t head_dim_v, float softcap, float* scores,
                 float* out);

}  // namespace pyggml
