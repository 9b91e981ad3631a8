// vec_dot_ternary_neon.cpp: NEON twins of kernels/vec_dot_ternary.cpp (TQ1_0, TQ2_0 x Q8_K),
// one token at a time, exact integer super-block sums through SDOT.
//
// TQ1_0: trit n of a byte is the top trit of the byte times 3^n mod 256 (vmulq_u8), i.e.
// [b >= 86] + [b >= 171] - 1, computed as ~(m86 + m171) from the 0xFF compare masks.
#include <arm_neon.h>

#include <cstring>

#include "arch/arm/neon_tier.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "kernels/vec_dot_rows.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

inline float h2f(uint16_t h) {
    __fp16 f;
    std::memcpy(&f, &h, 2);
    return float(f);
}

inline int8x16_t top_trit(uint8x16_t b) {
    const uint8x16_t m = vaddq_u8(vcgeq_u8(b, vdupq_n_u8(86)), vcgeq_u8(b, vdupq_n_u8(171)));
    return vreinterpretq_s8_u8(vmvnq_u8(m));
}

float dot_tq1_0(int n, const void* vx, const void* vy) {
    const block_tq1_0* x = static_cast<const block_tq1_0*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    static const uint8_t kPow3[5] = {1, 3, 9, 27, 81};
    // qh[j] trit n at byte 4 n + j of the last 16 elements
    static const uint8_t kPow3Qh[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        const int8_t* q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        const uint8x16_t q0 = vld1q_u8(x[i].qs), q1 = vld1q_u8(x[i].qs + 16), q2 = vld1q_u8(x[i].qs + 32);
        for (int t = 0; t < 5; ++t) {
            const uint8x16_t p = vdupq_n_u8(kPow3[t]);
            acc = sdot(acc, top_trit(vmulq_u8(q0, p)), vld1q_s8(q8 + 32 * t));
            acc = sdot(acc, top_trit(vmulq_u8(q1, p)), vld1q_s8(q8 + 32 * t + 16));
            acc = sdot(acc, top_trit(vmulq_u8(q2, p)), vld1q_s8(q8 + 160 + 16 * t));
        }
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, 4);
        const uint8x16_t h = vreinterpretq_u8_u32(vdupq_n_u32(qh));
        acc = sdot(acc, top_trit(vmulq_u8(h, vld1q_u8(kPow3Qh))), vld1q_s8(q8 + 240));
        sum += h2f(x[i].d) * y[i].d * float(vaddvq_s32(acc));
    }
    return sum;
}

float dot_tq2_0(int n, const void* vx, const void* vy) {
    const block_tq2_0* x = static_cast<const block_tq2_0*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    const uint8x16_t three = vdupq_n_u8(3);
    const int8x16_t one = vdupq_n_s8(1);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 2; ++c) {
            for (int h = 0; h < 2; ++h) {
                uint8x16_t q = vld1q_u8(x[i].qs + 32 * c + 16 * h);
                for (int l = 0; l < 4; ++l) {
                    const int8x16_t v = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, three)), one);
                    acc = sdot(acc, v, vld1q_s8(y[i].qs + 128 * c + 32 * l + 16 * h));
                    q = vshrq_n_u8(q, 2);
                }
            }
        }
        sum += h2f(x[i].d) * y[i].d * float(vaddvq_s32(acc));
    }
    return sum;
}

}  // namespace

void register_vec_dot_ternary_neon(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_TQ1_0].vec_dot = dot_rows<dot_tq1_0>;
    k.vec_dot[GGML_TYPE_TQ2_0].vec_dot = dot_rows<dot_tq2_0>;
}

}  // namespace pyggml::PYGGML_NEON_TIER
