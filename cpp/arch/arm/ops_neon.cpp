// ops_neon.cpp: NEON twins of the forward pass's element-wise and attention kernels
// (kernels/ops.cpp).
//
// rms_norm does the reference's float operations in the same order, but for its sum of
// squares (in double), taken in eight lanes. The activations take the AVX2 twins' route
// (ops_avx2.cpp): the same polynomial exp and fused multiply-adds, so they agree with the
// reference to a few float ulps, not bit for bit. RoPE keeps the reference, which the
// compiler vectorizes itself (a twin with four pairs a step took more instructions).
//
// The attention tile follows the reference's arithmetic: each score is the reference's
// eight-lane dot product (lanes 0-3 and 4-7 in two vectors, each product and sum one FMLA as the
// aarch64 reference's std::fma, the lanes summed in dot_lanes's order), the softmax is the
// reference's with the polynomial exp (softmax_neon: a few ulps from the reference's), and each
// output is its chain of fused products added in key order.
// What the twin adds is sharing: each key and value
// is loaded (an F16 cache converted, a Q8_0 one scaled a block at a time) once for all the
// heads of a token in a head group, up to six, instead of once per head, and eight elements
// of a row go through one instruction per operation instead of one each.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "arch/arm/neon_tier.h"
#include "core/dispatch.h"
#include "kernels/ops.h"

namespace pyggml::PYGGML_NEON_TIER {
namespace {

// ---- element-wise -------------------------------------------------------------------

// e^x: the AVX2 twin's exp_ps (ops_avx2.cpp) in NEON, instruction for instruction: x clamped
// to [-87, 88], then 2^n * e^r with |r| <= ln(2)/2 and Cephes' expf polynomial for e^r.
// NaN stays NaN.
inline float32x4_t exp_ps(float32x4_t x) {
    x = vminq_f32(vdupq_n_f32(88.0f), vmaxq_f32(vdupq_n_f32(-87.0f), x));
    const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

// The reference's softmax (softmax_scores) with its exponentials four at a time through exp_ps:
// the same maximum (which no order changes), the denominator in double as the reference's (in
// four lanes instead of one), the same normalising multiply. Each probability is within a few
// ulps of the reference's (the polynomial's error; an argument below -87 gives e^-87, not less),
// and so is the log-sum-exp. (The reference calls expf once a score: about a sixth of the
// decoding tile's instructions, README's table.)
void softmax_neon(float* s, int64_t n, float softcap, float sink, float* lse) {
    if (softcap > 0.0f) {
        for (int64_t j = 0; j < n; ++j) s[j] = softcap * std::tanh(s[j] / softcap);
    }
    // a sink (not -infinity) joins the maximum and the denominator, not the values
    float32x4_t vmx = vdupq_n_f32(sink);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) vmx = vmaxnmq_f32(vmx, vld1q_f32(s + j));
    float mx = vmaxnmvq_f32(vmx);
    for (; j < n; ++j) mx = s[j] > mx ? s[j] : mx;
    const float32x4_t vm = vdupq_n_f32(mx);
    float64x2_t lanes[2] = {vdupq_n_f64(0.0), vdupq_n_f64(0.0)};
    for (j = 0; j + 4 <= n; j += 4) {
        const float32x4_t e = exp_ps(vsubq_f32(vld1q_f32(s + j), vm));
        vst1q_f32(s + j, e);
        lanes[0] = vaddq_f64(lanes[0], vcvt_f64_f32(vget_low_f32(e)));
        lanes[1] = vaddq_f64(lanes[1], vcvt_high_f64_f32(e));
    }
    double sum = vaddvq_f64(vaddq_f64(lanes[0], lanes[1]));
    if (sink != -INFINITY) sum += std::exp(double(sink - mx));
    if (j < n) {  // the last n % 4 through the same exp
        float tail[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t i = 0; j + i < n; ++i) tail[i] = s[j + i] - mx;
        vst1q_f32(tail, exp_ps(vld1q_f32(tail)));
        for (int64_t i = 0; j + i < n; ++i) {
            s[j + i] = tail[i];
            sum += tail[i];
        }
    }
    const float inv = float(1.0 / sum);
    const float32x4_t vinv = vdupq_n_f32(inv);
    for (j = 0; j + 4 <= n; j += 4) vst1q_f32(s + j, vmulq_f32(vld1q_f32(s + j), vinv));
    for (; j < n; ++j) s[j] *= inv;
    if (lse) *lse = mx + float(std::log(sum));
}

// The reference's float operations, its sum of squares (in double) taken in eight lanes.
void rms_norm_neon(const float* x, const float* w, float* y, int64_t n, float eps) {
    float64x2_t s[4] = {vdupq_n_f64(0.0), vdupq_n_f64(0.0), vdupq_n_f64(0.0), vdupq_n_f64(0.0)};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        const float64x2_t d[4] = {vcvt_f64_f32(vget_low_f32(a)), vcvt_high_f64_f32(a), vcvt_f64_f32(vget_low_f32(b)),
                                  vcvt_high_f64_f32(b)};
        for (int l = 0; l < 4; ++l) s[l] = vfmaq_f64(s[l], d[l], d[l]);
    }
    double ss = vaddvq_f64(vaddq_f64(vaddq_f64(s[0], s[1]), vaddq_f64(s[2], s[3])));
    for (; i < n; ++i) ss += double(x[i]) * x[i];
    const float scale = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
    const float32x4_t vs = vdupq_n_f32(scale);
    i = 0;
    if (w) {
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vmulq_f32(vld1q_f32(x + i), vs), vld1q_f32(w + i)));
        for (; i < n; ++i) y[i] = x[i] * scale * w[i];
    } else {
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vld1q_f32(x + i), vs));
        for (; i < n; ++i) y[i] = x[i] * scale;
    }
}

// gate = gate / (1 + e^(k * gate)) * up; silu: k = -1. gelu_tanh: 0.5 g (1 + tanh(z))
// = g / (1 + e^(-2z)) with z = sqrt(2/pi) (g + 0.044715 g^3): the AVX2 twin's operations.
template <bool Gelu>
void act_mul_neon(float* gate, const float* up, int64_t n) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t g = vld1q_f32(gate + i);
        float32x4_t z;
        if (Gelu) {
            const float32x4_t inner = vfmaq_f32(one, vmulq_f32(g, g), vdupq_n_f32(0.044715f));
            z = vmulq_f32(vmulq_f32(g, vdupq_n_f32(-2.0f * 0.7978845608028654f)), inner);
        } else {
            z = vnegq_f32(g);
        }
        const float32x4_t y = vdivq_f32(g, vaddq_f32(one, exp_ps(z)));
        vst1q_f32(gate + i, vmulq_f32(y, vld1q_f32(up + i)));
    }
    if (i < n) {
        if (Gelu) {
            gelu_tanh_mul(gate + i, up + i, n - i);
        } else {
            silu_mul(gate + i, up + i, n - i);
        }
    }
}

// ---- attention ----------------------------------------------------------------------

// Rows (query heads of one token) sharing each load of a key or value.
constexpr int kGroupRows = 6;

inline float32x4_t load4(const float* p) { return vld1q_f32(p); }
inline float32x4_t load4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

// A Q8_0 block's scale (the hardware conversion gives fp16_to_fp32's value) and four of its
// quants times it, the products the dequantizer makes.
inline float32x4_t q8_scale(const block_q8_0& b) {
    uint16_t d = b.d;
    return vdupq_n_f32(vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(d))), 0));
}
inline void q8_times8(const int8_t* qs, float32x4_t scale, float32x4_t& lo, float32x4_t& hi) {
    const int16x8_t q = vmovl_s8(vld1_s8(qs));
    lo = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), scale);
    hi = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(q))), scale);
}

// A Q8_0 row's block holding element i (rows start on a block: head dims of 32s).
inline const block_q8_0& q8_block(q8_elems p, int64_t i) { return p.b[(p.e + i) / QK8_0]; }

// Elements [i, i + 8) of a row as two vectors (i a multiple of 8).
template <typename P>
inline void load8(P p, int64_t i, float32x4_t& lo, float32x4_t& hi) {
    if constexpr (std::is_same_v<P, q8_elems>) {
        const block_q8_0& b = q8_block(p, i);
        q8_times8(b.qs + (p.e + i) % QK8_0, q8_scale(b), lo, hi);
    } else {
        lo = load4(p + i);
        hi = load4(p + i + 4);
    }
}

// Elements [i, i + 16) as four vectors (i a multiple of 16): a Q8_0 half block, one scale.
template <typename P>
inline void load16(P p, int64_t i, float32x4_t* x) {
    if constexpr (std::is_same_v<P, q8_elems>) {
        const block_q8_0& b = q8_block(p, i);
        const float32x4_t scale = q8_scale(b);
        q8_times8(b.qs + (p.e + i) % QK8_0, scale, x[0], x[1]);
        q8_times8(b.qs + (p.e + i) % QK8_0 + 8, scale, x[2], x[3]);
    } else {
        load8(p, i, x[0], x[1]);
        load8(p, i + 8, x[2], x[3]);
    }
}

// dot_lanes's final sum: ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)).
inline float sum_lanes(float32x4_t lo, float32x4_t hi) {
    const float32x4_t s = vaddq_f32(lo, hi);
    return (vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 1)) + (vgetq_lane_f32(s, 2) + vgetq_lane_f32(s, 3));
}

// s[r][j + c] = q[r] . k_(j + c) for NR rows and NK keys (k at key j), d a multiple of 8; a
// Q8_0 key's scale converted once per block.
template <int NR, int NK, typename P>
inline void qk_keys(const float* const* q, P k, int64_t k_stride, int64_t d, float* const* s, int64_t j) {
    float32x4_t acc[NR][NK][2];
    for (int r = 0; r < NR; ++r) {
        for (int c = 0; c < NK; ++c) acc[r][c][0] = acc[r][c][1] = vdupq_n_f32(0.0f);
    }
    auto step = [&](const float32x4_t (*kv)[2], int64_t i) {
        for (int r = 0; r < NR; ++r) {
            const float32x4_t q0 = vld1q_f32(q[r] + i), q1 = vld1q_f32(q[r] + i + 4);
            for (int c = 0; c < NK; ++c) {
                acc[r][c][0] = vfmaq_f32(acc[r][c][0], q0, kv[c][0]);
                acc[r][c][1] = vfmaq_f32(acc[r][c][1], q1, kv[c][1]);
            }
        }
    };
    float32x4_t kv[NK][2];
    if constexpr (std::is_same_v<P, q8_elems>) {
        for (int64_t i = 0; i < d; i += QK8_0) {
            const block_q8_0* b[NK];
            float32x4_t scale[NK];
            for (int c = 0; c < NK; ++c) {
                b[c] = &q8_block(k + c * k_stride, i);
                scale[c] = q8_scale(*b[c]);
            }
            for (int e = 0; e < QK8_0; e += 8) {
                for (int c = 0; c < NK; ++c) q8_times8(b[c]->qs + e, scale[c], kv[c][0], kv[c][1]);
                step(kv, i + e);
            }
        }
    } else {
        for (int64_t i = 0; i < d; i += 8) {
            for (int c = 0; c < NK; ++c) load8(k + c * k_stride, i, kv[c][0], kv[c][1]);
            step(kv, i);
        }
    }
    for (int r = 0; r < NR; ++r) {
        for (int c = 0; c < NK; ++c) s[r][j + c] = sum_lanes(acc[r][c][0], acc[r][c][1]);
    }
}

// s[r][j] = q[r] . k_j for NR rows, keys [0, n); two keys per pass.
template <int NR, typename P>
void qk_rows(const float* const* q, P k, int64_t k_stride, int64_t d, int64_t n, float* const* s) {
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) qk_keys<NR, 2>(q, k + j * k_stride, k_stride, d, s, j);
    if (j < n) qk_keys<NR, 1>(q, k + j * k_stride, k_stride, d, s, j);
}

// out[r][0, dv) = sum over keys j in [0, n), in order, of p[r][j] v_j (dv a multiple of 8),
// 16 outputs a pass (then 8): every output one chain of fused multiply-adds.
template <int NR, typename P>
void pv_rows(const float* const* p, P v, int64_t v_stride, int64_t dv, int64_t n, float* const* out) {
    int64_t d = 0;
    for (; d + 16 <= dv; d += 16) {
        float32x4_t acc[NR][4];
        for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = vdupq_n_f32(0.0f);
        for (int64_t j = 0; j < n; ++j) {
            const P vj = v + j * v_stride;
            float32x4_t x[4];
            load16(vj, d, x);
            for (int r = 0; r < NR; ++r) {
                const float32x4_t w = vdupq_n_f32(p[r][j]);
                for (int e = 0; e < 4; ++e) acc[r][e] = vfmaq_f32(acc[r][e], w, x[e]);
            }
        }
        for (int r = 0; r < NR; ++r) {
            for (int e = 0; e < 4; ++e) vst1q_f32(out[r] + d + 4 * e, acc[r][e]);
        }
    }
    if (d < dv) {  // the last 8
        float32x4_t acc[NR][2];
        for (int r = 0; r < NR; ++r) acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
        for (int64_t j = 0; j < n; ++j) {
            float32x4_t lo, hi;
            load8(v + j * v_stride, d, lo, hi);
            for (int r = 0; r < NR; ++r) {
                const float32x4_t w = vdupq_n_f32(p[r][j]);
                acc[r][0] = vfmaq_f32(acc[r][0], w, lo);
                acc[r][1] = vfmaq_f32(acc[r][1], w, hi);
            }
        }
        for (int r = 0; r < NR; ++r) {
            vst1q_f32(out[r] + d, acc[r][0]);
            vst1q_f32(out[r] + d + 4, acc[r][1]);
        }
    }
}

template <int NR, typename P>
void attend_rows(const attn_tile& a, P k, P v, int64_t n, const float* const* q, float* const* s, float* const* o,
                 const float* sinks, float* const* lse) {
    qk_rows<NR>(q, k, a.k_stride, a.head_dim_k, n, s);
    for (int r = 0; r < NR; ++r) softmax_neon(s[r], n, a.softcap, sinks ? sinks[r] : -INFINITY, lse[r]);
    pv_rows<NR>(s, v, a.v_stride, a.head_dim_v, n, o);
}

template <typename P>
void attend_tile_t(const attn_tile& a, P k_all, P v_all) {
    for (int64_t t = 0; t < a.n_tok; ++t) {
        const int64_t hi = a.n_keys > 0 ? std::min(a.hi0 + t, a.n_keys) : a.hi0 + t;
        const int64_t lo = a.window ? std::max<int64_t>(0, hi - a.window) : 0;
        const int64_t n = hi - lo, stride = (n + 7) / 8 * 8;
        const P k = k_all + lo * a.k_stride, v = v_all + lo * a.v_stride;
        for (int64_t h0 = 0; h0 < a.n_hq; h0 += kGroupRows) {
            const int nr = int(std::min<int64_t>(kGroupRows, a.n_hq - h0));
            const float* q[kGroupRows];
            float* s[kGroupRows];
            float* o[kGroupRows];
            float* lse[kGroupRows];
            for (int r = 0; r < nr; ++r) {
                const int64_t h = h0 + r;
                q[r] = a.q + t * a.q_stride + h * a.head_dim_k;
                s[r] = a.scratch + r * stride;
                o[r] = a.out + t * a.o_stride + h * a.head_dim_v;
                lse[r] = a.lse ? a.lse + t * a.n_hq + h : nullptr;
            }
            const float* sinks = a.sinks ? a.sinks + h0 : nullptr;
            switch (nr) {
                case 6: attend_rows<6>(a, k, v, n, q, s, o, sinks, lse); break;
                case 5: attend_rows<5>(a, k, v, n, q, s, o, sinks, lse); break;
                case 4: attend_rows<4>(a, k, v, n, q, s, o, sinks, lse); break;
                case 3: attend_rows<3>(a, k, v, n, q, s, o, sinks, lse); break;
                case 2: attend_rows<2>(a, k, v, n, q, s, o, sinks, lse); break;
                default: attend_rows<1>(a, k, v, n, q, s, o, sinks, lse); break;
            }
        }
    }
}

void attend_tile_neon(const attn_tile& a) {
    if (a.head_dim_k % 8 || a.head_dim_v % 8) {
        attend_tile(a);
    } else {
        with_kv_storage(a, [&](auto k, auto v) { attend_tile_t(a, k, v); });
    }
}

}  // namespace

void register_ops_neon(isa_kernels& isa) {
    ops_kernels& k = isa.ops;
    k.rms_norm = rms_norm_neon;
    k.silu_mul = act_mul_neon<false>;
    k.gelu_tanh_mul = act_mul_neon<true>;
    k.attend_tile = attend_tile_neon;
}

}  // namespace pyggml::PYGGML_NEON_TIER
