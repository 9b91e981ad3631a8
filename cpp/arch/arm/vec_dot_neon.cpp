// vec_dot_neon.cpp: NEON dot kernels (aarch64 with the SDOT dot-product instructions);
// same contract and the same exact integer block sums as kernels/vec_dot.cpp.
//
// Built twice (arch/arm/neon_tier.h): with -march=armv8.2-a+dotprod+fp16 for the dotprod tier
// (asimddp and asimdhp in getauxval(AT_HWCAP)), with -march=armv8-a for the neon tier (SDOT's
// sums without SDOT). Each kernel computes one token at a time.
#include <arm_neon.h>

#include <cstring>
#include <type_traits>

#include "arch/arm/neon_tier.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "quant/kquant_scales.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

inline float h2f(uint16_t h) {
    __fp16 f;
    std::memcpy(&f, &h, 2);
    return float(f);
}

using dot1_fn = float (*)(int n, const void* x, const void* y);

template <dot1_fn Dot>
void dot_rows(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    for (int r = 0; r < nr; ++r) {
        const void* xr = static_cast<const char*>(x) + r * bx;
        for (int t = 0; t < nt; ++t) s[t * bs + r] = Dot(n, xr, static_cast<const char*>(y) + t * by);
    }
}

// ---- float formats -------------------------------------------------------------

float dot_f32(int n, const void* vx, const void* vy) {
    const float* x = static_cast<const float*>(vx);
    const float* y = static_cast<const float*>(vy);
    float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 4; ++k) acc[k] = vfmaq_f32(acc[k], vld1q_f32(x + i + 4 * k), vld1q_f32(y + i + 4 * k));
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; ++i) sum += x[i] * y[i];
    return sum;
}

template <float32x4_t (*Load4)(const uint16_t*), float (*Scalar)(uint16_t)>
float dot_half(int n, const void* vx, const void* vy) {
    const uint16_t* x = static_cast<const uint16_t*>(vx);
    const uint16_t* y = static_cast<const uint16_t*>(vy);
    float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 4; ++k) acc[k] = vfmaq_f32(acc[k], Load4(x + i + 4 * k), Load4(y + i + 4 * k));
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; ++i) sum += Scalar(x[i]) * Scalar(y[i]);
    return sum;
}

inline float32x4_t load4_f16(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
inline float32x4_t load4_bf16(const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
inline float bf16_scalar(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// ---- legacy blocks ---------------------------------------------------------------

struct int8x16x2 {
    int8x16_t lo, hi;  // elements 0..15 and 16..31
};

inline int8x16x2 nibbles(const uint8_t* qs) {
    const uint8x16_t v = vld1q_u8(qs);
    return {vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), vreinterpretq_s8_u8(vshrq_n_u8(v, 4))};
}

// 0xFF in byte j where bit j of the 32-bit qh is set: (elements 0..15, 16..31).
inline void qh_bytes(const uint8_t* qh, uint8x16_t* lo, uint8x16_t* hi) {
    static const uint8_t kBits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bits = vld1q_u8(kBits);
    *lo = vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), bits);
    *hi = vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), bits);
}

inline int32_t dot32(int8x16x2 x, const int8_t* y) {
    return vaddvq_s32(sdot(sdot(vdupq_n_s32(0), x.lo, vld1q_s8(y)), x.hi, vld1q_s8(y + 16)));
}

inline int8x16x2 decode_q4_0(const block_q4_0& b) {
    const int8x16x2 q = nibbles(b.qs);
    return {vsubq_s8(q.lo, vdupq_n_s8(8)), vsubq_s8(q.hi, vdupq_n_s8(8))};
}
inline int8x16x2 decode_q5_0(const block_q5_0& b) {
    const int8x16x2 q = nibbles(b.qs);
    uint8x16_t hl, hh;
    qh_bytes(b.qh, &hl, &hh);
    // (nibble | bit << 4) - 16: or 0xF0 into the nibble where the bit is clear
    return {vorrq_s8(q.lo, vreinterpretq_s8_u8(vbicq_u8(vdupq_n_u8(0xF0), hl))),
            vorrq_s8(q.hi, vreinterpretq_s8_u8(vbicq_u8(vdupq_n_u8(0xF0), hh)))};
}
inline int8x16x2 decode_q8_0(const block_q8_0& b) { return {vld1q_s8(b.qs), vld1q_s8(b.qs + 16)}; }
inline int8x16x2 decode_iq4_nl(const block_iq4_nl& b) {
    const int8x16_t values = vld1q_s8(kvalues_iq4nl);
    const int8x16x2 q = nibbles(b.qs);
    return {vqtbl1q_s8(values, vreinterpretq_u8_s8(q.lo)), vqtbl1q_s8(values, vreinterpretq_u8_s8(q.hi))};
}
inline int8x16x2 decode_q4_1(const block_q4_1& b) { return nibbles(b.qs); }
inline int8x16x2 decode_q5_1(const block_q5_1& b) {
    const int8x16x2 q = nibbles(b.qs);
    uint8x16_t hl, hh;
    qh_bytes(b.qh, &hl, &hh);
    return {vorrq_s8(q.lo, vreinterpretq_s8_u8(vandq_u8(hl, vdupq_n_u8(0x10)))),
            vorrq_s8(q.hi, vreinterpretq_s8_u8(vandq_u8(hh, vdupq_n_u8(0x10))))};
}

template <typename B, int8x16x2 (*Decode)(const B&)>
float dot_q8_0_blocks(int n, const void* vx, const void* vy) {
    const B* x = static_cast<const B*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float32x4_t acc = vdupq_n_f32(0);
    int ib = 0;
    for (; ib + 4 <= n / 32; ib += 4) {  // four blocks' sums and scales per vector
        const int32_t p[4] = {dot32(Decode(x[ib]), y[ib].qs), dot32(Decode(x[ib + 1]), y[ib + 1].qs),
                              dot32(Decode(x[ib + 2]), y[ib + 2].qs), dot32(Decode(x[ib + 3]), y[ib + 3].qs)};
        const float d[4] = {h2f(x[ib].d) * h2f(y[ib].d), h2f(x[ib + 1].d) * h2f(y[ib + 1].d),
                            h2f(x[ib + 2].d) * h2f(y[ib + 2].d), h2f(x[ib + 3].d) * h2f(y[ib + 3].d)};
        acc = vfmaq_f32(acc, vld1q_f32(d), vcvtq_f32_s32(vld1q_s32(p)));
    }
    float sum = vaddvq_f32(acc);
    for (; ib < n / 32; ++ib) sum += h2f(x[ib].d) * h2f(y[ib].d) * float(dot32(Decode(x[ib]), y[ib].qs));
    return sum;
}

template <typename B, int8x16x2 (*Decode)(const B&)>
float dot_q8_1_blocks(int n, const void* vx, const void* vy) {
    const B* x = static_cast<const B*>(vx);
    const block_q8_1* y = static_cast<const block_q8_1*>(vy);
    float sum = 0.0f, summs = 0.0f;
    for (int ib = 0; ib < n / 32; ++ib) {
        sum += h2f(x[ib].d) * h2f(y[ib].d) * float(dot32(Decode(x[ib]), y[ib].qs));
        summs += h2f(x[ib].m) * h2f(y[ib].s);
    }
    return sum + summs;
}

// ---- k-quants ----------------------------------------------------------------------

inline int32x4_t dot16(int32x4_t acc, int8x16_t a, const int8_t* y) { return sdot(acc, a, vld1q_s8(y)); }

// sum over 32-element sub-blocks j of mins[j] * (bsums[2j] + bsums[2j + 1])
inline int32_t mins_dot(const uint8_t* mins, const int16_t* bsums) {
    int32_t s = 0;
    for (int j = 0; j < 8; ++j) s += mins[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    return s;
}

template <bool Q5>
float dot_q45_K(int n, const void* vx, const void* vy) {
    using B = typename std::conditional<Q5, block_q5_K, block_q4_K>::type;
    const B* x = static_cast<const B*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        uint8_t scales[8], mins[8];
        unpack_scales_mins_k4(x[i].scales, scales, mins);
        uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
        if constexpr (Q5) {
            h0 = vld1q_u8(x[i].qh);
            h1 = vld1q_u8(x[i].qh + 16);
        }
        int32x4_t isum = vdupq_n_s32(0);
        for (int j = 0; j < 4; ++j) {
            const uint8x16_t v0 = vld1q_u8(x[i].qs + 32 * j), v1 = vld1q_u8(x[i].qs + 32 * j + 16);
            uint8x16_t l0 = vandq_u8(v0, m4), l1 = vandq_u8(v1, m4);
            uint8x16_t u0 = vshrq_n_u8(v0, 4), u1 = vshrq_n_u8(v1, 4);
            if constexpr (Q5) {
                const uint8x16_t bl = vdupq_n_u8(uint8_t(1 << (2 * j))), bh = vdupq_n_u8(uint8_t(2 << (2 * j)));
                const uint8x16_t s4 = vdupq_n_u8(0x10);
                l0 = vorrq_u8(l0, vandq_u8(vtstq_u8(h0, bl), s4));
                l1 = vorrq_u8(l1, vandq_u8(vtstq_u8(h1, bl), s4));
                u0 = vorrq_u8(u0, vandq_u8(vtstq_u8(h0, bh), s4));
                u1 = vorrq_u8(u1, vandq_u8(vtstq_u8(h1, bh), s4));
            }
            const int8_t* q8 = y[i].qs + 64 * j;
            const int32x4_t pl = dot16(dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(l0), q8), vreinterpretq_s8_u8(l1), q8 + 16);
            const int32x4_t ph = dot16(dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(u0), q8 + 32), vreinterpretq_s8_u8(u1), q8 + 48);
            isum = vmlaq_n_s32(isum, pl, scales[2 * j]);
            isum = vmlaq_n_s32(isum, ph, scales[2 * j + 1]);
        }
        const int32_t isum_min = mins_dot(mins, y[i].bsums);
        sum += y[i].d * (h2f(x[i].d) * float(vaddvq_s32(isum)) - h2f(x[i].dmin) * float(isum_min));
    }
    return sum;
}

float dot_q6_K(int n, const void* vx, const void* vy) {
    const block_q6_K* x = static_cast<const block_q6_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = x[i].ql + 64 * h;
            const uint8_t* qh = x[i].qh + 32 * h;
            for (int half16 = 0; half16 < 2; ++half16) {  // elements l = 16 * half16 .. + 15 of each quarter
                const int o = 16 * half16;
                const uint8x16_t a = vld1q_u8(ql + o), b = vld1q_u8(ql + 32 + o), hb = vld1q_u8(qh + o);
                int8x16_t q[4];
                q[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(hb, m3), 4)));
                q[1] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4)));
                q[2] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(a, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4)));
                q[3] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4)));
                for (int k = 0; k < 4; ++k) {
                    const int e = 128 * h + 32 * k + o;  // first element of these 16
                    const int32x4_t p = dot16(vdupq_n_s32(0), vsubq_s8(q[k], m32), y[i].qs + e);
                    isum = vmlaq_n_s32(isum, p, x[i].scales[e / 16]);
                }
            }
        }
        sum += h2f(x[i].d) * y[i].d * float(vaddvq_s32(isum));
    }
    return sum;
}

float dot_q3_K(int n, const void* vx, const void* vy) {
    const block_q3_K* x = static_cast<const block_q3_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const uint8x16_t m3 = vdupq_n_u8(3);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int8_t scales[16];
        unpack_scales_q3_K(x[i].scales, scales);
        int32x4_t isum = vdupq_n_s32(0);
        for (int c = 0; c < 8; ++c) {  // 32-element chunks
            const int h = c / 4, k = c % 4;
            const uint8x16_t bit = vdupq_n_u8(uint8_t(1 << c));
            for (int o = 0; o < 32; o += 16) {
                const uint8x16_t bits = vld1q_u8(x[i].qs + 32 * h + o);
                const uint8x16_t lo = vandq_u8(vshlq_u8(bits, vdupq_n_s8(int8_t(-2 * k))), m3);
                // value = lo - 4 where the high bit is clear
                const uint8x16_t sub = vbicq_u8(vdupq_n_u8(4), vtstq_u8(vld1q_u8(x[i].hmask + o), bit));
                const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(sub));
                const int32x4_t p = dot16(vdupq_n_s32(0), q, y[i].qs + 32 * c + o);
                isum = vmlaq_n_s32(isum, p, scales[2 * c + o / 16]);
            }
        }
        sum += h2f(x[i].d) * y[i].d * float(vaddvq_s32(isum));
    }
    return sum;
}

float dot_q2_K(int n, const void* vx, const void* vy) {
    const block_q2_K* x = static_cast<const block_q2_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const uint8x16_t m3 = vdupq_n_u8(3);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int32_t isum_min = 0;
        for (int g = 0; g < 16; ++g) isum_min += (x[i].scales[g] >> 4) * y[i].bsums[g];
        int32x4_t isum = vdupq_n_s32(0);
        for (int c = 0; c < 8; ++c) {
            const int h = c / 4, k = c % 4;
            for (int o = 0; o < 32; o += 16) {
                const uint8x16_t bits = vld1q_u8(x[i].qs + 32 * h + o);
                const uint8x16_t q = vandq_u8(vshlq_u8(bits, vdupq_n_s8(int8_t(-2 * k))), m3);
                const int32x4_t p = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(q), y[i].qs + 32 * c + o);
                isum = vmlaq_n_s32(isum, p, x[i].scales[2 * c + o / 16] & 0xF);
            }
        }
        sum += y[i].d * (h2f(x[i].d) * float(vaddvq_s32(isum)) - h2f(x[i].dmin) * float(isum_min));
    }
    return sum;
}

float dot_iq4_xs(int n, const void* vx, const void* vy) {
    const block_iq4_xs* x = static_cast<const block_iq4_xs*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const int8x16_t values = vld1q_s8(kvalues_iq4nl);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int32_t isum = 0;
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const int8x16x2 q = nibbles(x[i].qs + 16 * ib);
            const int8x16x2 v = {vqtbl1q_s8(values, vreinterpretq_u8_s8(q.lo)), vqtbl1q_s8(values, vreinterpretq_u8_s8(q.hi))};
            isum += scale_iq4_xs(x[i], ib) * dot32(v, y[i].qs + 32 * ib);
        }
        sum += h2f(x[i].d) * y[i].d * float(isum);
    }
    return sum;
}

vec_dot_fn kernel(int32_t type) {
    switch (type) {
        case GGML_TYPE_F32: return dot_rows<dot_f32>;
        case GGML_TYPE_F16: return dot_rows<dot_half<load4_f16, h2f>>;
        case GGML_TYPE_BF16: return dot_rows<dot_half<load4_bf16, bf16_scalar>>;
        case GGML_TYPE_Q4_0: return dot_rows<dot_q8_0_blocks<block_q4_0, decode_q4_0>>;
        case GGML_TYPE_Q5_0: return dot_rows<dot_q8_0_blocks<block_q5_0, decode_q5_0>>;
        case GGML_TYPE_Q8_0: return dot_rows<dot_q8_0_blocks<block_q8_0, decode_q8_0>>;
        case GGML_TYPE_IQ4_NL: return dot_rows<dot_q8_0_blocks<block_iq4_nl, decode_iq4_nl>>;
        case GGML_TYPE_Q4_1: return dot_rows<dot_q8_1_blocks<block_q4_1, decode_q4_1>>;
        case GGML_TYPE_Q5_1: return dot_rows<dot_q8_1_blocks<block_q5_1, decode_q5_1>>;
        case GGML_TYPE_Q2_K: return dot_rows<dot_q2_K>;
        case GGML_TYPE_Q3_K: return dot_rows<dot_q3_K>;
        case GGML_TYPE_Q4_K: return dot_rows<dot_q45_K<false>>;
        case GGML_TYPE_Q5_K: return dot_rows<dot_q45_K<true>>;
        case GGML_TYPE_Q6_K: return dot_rows<dot_q6_K>;
        case GGML_TYPE_IQ4_XS: return dot_rows<dot_iq4_xs>;
        default: return nullptr;
    }
}

}  // namespace

void register_vec_dot_neon(isa_kernels& k) {
    for (int32_t type = 0; type < GGML_TYPE_COUNT; ++type) {
        if (vec_dot_fn f = kernel(type)) k.vec_dot[type].vec_dot = f;
    }
}

}  // namespace pyggml::PYGGML_NEON_TIER
