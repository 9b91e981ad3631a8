// vec_dot_fp4_neon.cpp: NEON twins of kernels/vec_dot_fp4.cpp (MXFP4, NVFP4 x Q8_0), one
// token at a time: kvalues_fp4 looked up with TBL, exact sums per scale group through SDOT.
#include <arm_neon.h>

#include <cstring>

#include "arch/arm/neon_tier.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp8.h"
#include "kernels/vec_dot_rows.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

inline float h2f(uint16_t h) {
    __fp16 f;
    std::memcpy(&f, &h, 2);
    return float(f);
}

float dot_mxfp4(int n, const void* vx, const void* vy) {
    const block_mxfp4* x = static_cast<const block_mxfp4*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    const int8x16_t values = vld1q_s8(kvalues_fp4);
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK_MXFP4; ++ib) {
        const uint8x16_t q = vld1q_u8(x[ib].qs);
        const int8x16_t lo = vqtbl1q_s8(values, vandq_u8(q, vdupq_n_u8(0x0F)));
        const int8x16_t hi = vqtbl1q_s8(values, vshrq_n_u8(q, 4));
        const int32x4_t p = sdot(sdot(vdupq_n_s32(0), lo, vld1q_s8(y[ib].qs)), hi, vld1q_s8(y[ib].qs + 16));
        sum += e8m0_to_fp32_half(x[ib].e) * h2f(y[ib].d) * float(vaddvq_s32(p));
    }
    return sum;
}

float dot_nvfp4(int n, const void* vx, const void* vy) {
    const block_nvfp4* x = static_cast<const block_nvfp4*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    const int8x16_t values = vld1q_s8(kvalues_fp4);
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK_NVFP4; ++ib) {
        for (int s = 0; s < QK_NVFP4 / QK_NVFP4_SUB; ++s) {
            const block_q8_0& yb = y[2 * ib + s / 2];
            const uint8x8_t b = vld1_u8(x[ib].qs + 8 * s);
            const uint8x16_t idx = vcombine_u8(vand_u8(b, vdup_n_u8(0x0F)), vshr_n_u8(b, 4));
            const int32x4_t p = sdot(vdupq_n_s32(0), vqtbl1q_s8(values, idx), vld1q_s8(yb.qs + 16 * (s % 2)));
            sum += ue4m3_to_fp32_half(x[ib].d[s]) * h2f(yb.d) * float(vaddvq_s32(p));
        }
    }
    return sum;
}

}  // namespace

void register_vec_dot_fp4_neon(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_MXFP4].vec_dot = dot_rows<dot_mxfp4>;
    k.vec_dot[GGML_TYPE_NVFP4].vec_dot = dot_rows<dot_nvfp4>;
}

}  // namespace pyggml::PYGGML_NEON_TIER
