// vec_dot_q1_0_neon.cpp: NEON twin of kernels/vec_dot_q1_0.cpp (Q1_0 x Q8_0), one token at
// a time: the sign bits become +1 / -1 bytes (CMTST, then or-ed with 1), summed by SDOT.
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

// +1 where bit j of the two bytes is set, -1 where clear (byte j: bit j % 8 of byte j / 8).
inline int8x16_t signs_16(const uint8_t* p) {
    static const uint8_t kBits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t set = vtstq_u8(vcombine_u8(vdup_n_u8(p[0]), vdup_n_u8(p[1])), vld1q_u8(kBits));
    return vreinterpretq_s8_u8(vorrq_u8(vmvnq_u8(set), vdupq_n_u8(1)));
}

float dot_q1_0(int n, const void* vx, const void* vy) {
    const block_q1_0* x = static_cast<const block_q1_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK1_0; ++i) {
        const float dx = h2f(x[i].d);
        for (int k = 0; k < QK1_0 / QK8_0; ++k) {
            const block_q8_0& yb = y[4 * i + k];
            const int32x4_t p = sdot(sdot(vdupq_n_s32(0), signs_16(x[i].qs + 4 * k), vld1q_s8(yb.qs)),
                                          signs_16(x[i].qs + 4 * k + 2), vld1q_s8(yb.qs + 16));
            sum += dx * h2f(yb.d) * float(vaddvq_s32(p));
        }
    }
    return sum;
}

}  // namespace

void register_vec_dot_q1_0_neon(isa_kernels& k) { k.vec_dot[GGML_TYPE_Q1_0].vec_dot = dot_rows<dot_q1_0>; }

}  // namespace pyggml::PYGGML_NEON_TIER
