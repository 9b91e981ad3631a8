// ops.cpp: element-wise and attention operations of the forward pass (see ops.h).
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dispatch.h"
#include "core/fp16.h"

namespace pyggml {

namespace {

inline float to_f32(float x) { return x; }
inline float to_f32(uint16_t h) { return fp16_to_fp32(h); }

// a * b + c in the attention's sums: rounded once (std::fma, one FMADD) on aarch64, where every
// CPU fuses, so that the NEON tile gives these bits with FMLA at one instruction a product;
// rounded twice elsewhere (x86-64's baseline has no fused multiply-add: a library call per
// product would slow the scalar tier's attention several times over).
inline float mul_add(float a, float b, float c) {
#if defined(__aarch64__)
    return std::fma(a, b, c);
#else
    return a * b + c;
#endif
}

// a . b in eight lanes, b's elements converted as they are read (float32, F16 or Q8_0
// through q8_elems): P is a pointer or q8_elems. Fused: each product and sum through mul_add.
template <bool Fused, typename P>
float dot_lanes(const float* a, P b, int64_t n) {
    auto step = [](float x, float y, float acc) { return Fused ? mul_add(x, y, acc) : acc + x * y; };
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; ++l) acc[l] = step(a[i + l], to_f32(b[i + l]), acc[l]);
    }
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; ++i) s = step(a[i], to_f32(b[i]), s);
    return s;
}

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) { return dot_lanes<false>(a, b, n); }

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
    const float scale = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
    if (w) {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
    }
}

void add_inplace(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void silu_mul(float* gate, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void gelu_tanh_mul(float* gate, const float* up, int64_t n) {
    const float c = 0.7978845608028654f;  // sqrt(2 / pi)
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = 0.5f * g * (1.0f + std::tanh(c * (g + 0.044715f * g * g * g))) * up[i];
    }
}

void swiglu_oai_mul(float* gate, const float* up, int64_t n) {
    const float alpha = 1.702f, limit = 7.0f;
    for (int64_t i = 0; i < n; ++i) {
        const float x = std::min(gate[i], limit);
        const float y = std::clamp(up[i], -limit, limit);
        gate[i] = x / (1.0f + std::exp(alpha * (-x))) * (y + 1.0f);
    }
}

void softmax(float* x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = float(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void rope_yarn_corr_dims(int32_t n_rot, int64_t n_ctx_orig, float freq_base, float beta_fast, float beta_slow,
                         float dims[2]) {
    // ggml_rope_yarn_corr_dim: the pair index whose wavelength fits n_rotations times into n_ctx_orig
    const float pi = 3.14159265358979323846f;
    auto dim = [&](float n_rotations) {
        return float(n_rot) * std::log(float(n_ctx_orig) / (n_rotations * 2.0f * pi)) / (2.0f * std::log(freq_base));
    };
    dims[0] = std::max(0.0f, std::floor(dim(beta_fast)));
    dims[1] = std::min(float(n_rot - 1), std::ceil(dim(beta_slow)));
}

namespace {

// Pair i's angle at position pos, as ggml's rope_yarn: base_pow = base^(-2i / n_rot).
inline double rope_theta(const rope_params& p, double pos, double base_pow, int32_t i) {
    double extrap = pos * base_pow;
    if (p.freq_factors) extrap /= double(p.freq_factors[i]);
    const double interp = extrap * double(p.freq_scale);
    if (p.ext_factor == 0.0f) return interp;
    const float y = (float(i) - p.corr_dims[0]) / std::max(0.001f, p.corr_dims[1] - p.corr_dims[0]);
    const double mix = double(1.0f - std::min(1.0f, std::max(0.0f, y))) * double(p.ext_factor);
    return interp * (1.0 - mix) + extrap * mix;
}

}  // namespace

void rope_cache(const rope_params& p, double pos, float* cs) {
    const int32_t half = p.n_rot / 2;
    for (int32_t i = 0; i < half; ++i) {
        // theta_i = pos * base^(-2i / n_rot) * freq_scale / freq_factor_i (YaRN: mixed with the unscaled angle)
        const double theta = rope_theta(p, pos, std::pow(double(p.freq_base), -2.0 * i / double(p.n_rot)), i);
        cs[2 * i] = float(std::cos(theta));
        cs[2 * i + 1] = float(std::sin(theta));
    }
}

void rope_cache_rows(const rope_params& p, double pos0, int64_t n, float* cs) {
    const int32_t half = p.n_rot / 2;
    std::vector<double> base_pow(half);  // base^(-2i / n_rot), as rope_cache computes it
    for (int32_t i = 0; i < half; ++i) base_pow[i] = std::pow(double(p.freq_base), -2.0 * i / double(p.n_rot));
    for (int64_t r = 0; r < n; ++r) {
        const double pos = pos0 + double(r);
        float* c = cs + r * p.n_rot;
        for (int32_t i = 0; i < half; ++i) {
            const double theta = rope_theta(p, pos, base_pow[i], i);
            c[2 * i] = float(std::cos(theta));
            c[2 * i + 1] = float(std::sin(theta));
        }
    }
}

void rope_apply(float* x, int64_t n_head, int64_t head_dim, const rope_params& p, const float* cs) {
    const int32_t half = p.n_rot / 2;
    for (int64_t h = 0; h < n_head; ++h) {
        float* xh = x + h * head_dim;
        for (int32_t i = 0; i < half; ++i) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            float* a = p.neox ? xh + i : xh + 2 * i;
            float* b = p.neox ? xh + i + half : xh + 2 * i + 1;
            const float x0 = *a, x1 = *b;
            *a = x0 * c - x1 * s;
            *b = x0 * s + x1 * c;
        }
    }
}

namespace {

template <typename P>
void attend_head_t(const float* q, P k, int64_t k_stride, P v, int64_t v_stride, int64_t n_keys,
                   int64_t head_dim_k, int64_t head_dim_v, float softcap, float* scores, float* out, float sink,
                   float* lse = nullptr) {
    for (int64_t j = 0; j < n_keys; ++j) scores[j] = dot_lanes<true>(q, k + j * k_stride, head_dim_k);
    softmax_scores(scores, n_keys, softcap, sink, lse);
    for (int64_t d = 0; d < head_dim_v; ++d) out[d] = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) {
        const P vj = v + j * v_stride;
        const float w = scores[j];
        for (int64_t d = 0; d < head_dim_v; ++d) out[d] = mul_add(w, to_f32(vj[d]), out[d]);
    }
}

template <typename P>
void attend_tile_t(const attn_tile& a, P k, P v) {
    for (int64_t t = 0; t < a.n_tok; ++t) {
        const int64_t hi = a.n_keys > 0 ? std::min(a.hi0 + t, a.n_keys) : a.hi0 + t;
        const int64_t lo = a.window ? std::max<int64_t>(0, hi - a.window) : 0;
        for (int64_t h = 0; h < a.n_hq; ++h) {
            attend_head_t(a.q + t * a.q_stride + h * a.head_dim_k, k + lo * a.k_stride, a.k_stride,
                          v + lo * a.v_stride, a.v_stride, hi - lo, a.head_dim_k, a.head_dim_v, a.softcap,
                          a.scratch, a.out + t * a.o_stride + h * a.head_dim_v, a.sinks ? a.sinks[h] : -INFINITY,
                          a.lse ? a.lse + t * a.n_hq + h : nullptr);
        }
    }
}

}  // namespace

void attend_head(const float* q, const float* k, int64_t k_stride, const float* v, int64_t v_stride,
                 int64_t n_keys, int64_t head_dim_k, int64_t head_dim_v, float softcap, float* scores,
                 float* out, float sink) {
    attend_head_t(q, k, k_stride, v, v_stride, n_keys, head_dim_k, head_dim_v, softcap, scores, out, sink);
}

void attend_tile(const attn_tile& a) {
    with_kv_storage(a, [&](auto k, auto v) { attend_tile_t(a, k, v); });
}

void softmax_scores(float* s, int64_t n, float softcap, float sink, float* lse) {
    if (softcap > 0.0f) {
        for (int64_t j = 0; j < n; ++j) s[j] = softcap * std::tanh(s[j] / softcap);
    }
    // a sink (not -infinity) joins the maximum and the denominator, not the values
    float mx = sink;
    for (int64_t j = 0; j < n; ++j) mx = s[j] > mx ? s[j] : mx;
    double sum = sink == -INFINITY ? 0.0 : std::exp(double(sink - mx));
    for (int64_t j = 0; j < n; ++j) {
        s[j] = std::exp(s[j] - mx);
        sum += s[j];
    }
    const float inv = float(1.0 / sum);
    for (int64_t j = 0; j < n; ++j) s[j] *= inv;
    if (lse) *lse = mx + float(std::log(sum));
}

void register_ops(isa_kernels& k) { k.ops = {rms_norm, silu_mul, gelu_tanh_mul, rope_apply, attend_tile}; }

}  // namespace pyggml
