// quantize_act_neon.cpp: NEON twins of the activation conversions (kernels/quantize_act.cpp).
//
// Byte-identical to the scalar references (quantize_row_q8_0_ref / q8_1_ref / q8_K_ref,
// fp32_to_fp16) for finite input, as the AVX2 twins are: the same maxima, the same float
// products, and the same rounding rules (half away from zero for Q8_0 / Q8_1, FCVTAS; half
// to even for Q8_K and F16, FCVTNS and FCVTN). A token's conversion runs on one thread while
// the others wait, so it is worth doing eight or sixteen elements at a time.
#include <arm_neon.h>

#include <cstring>
#include <type_traits>

#include "arch/arm/neon_tier.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp16.h"
#include "quant/quants.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

// The largest |x[j]| over n (a multiple of 16) elements, four chains.
inline float amax_of(const float* x, int n) {
    float32x4_t m[4];
    for (int u = 0; u < 4; ++u) m[u] = vabsq_f32(vld1q_f32(x + 4 * u));
    for (int j = 16; j < n; j += 16) {
        for (int u = 0; u < 4; ++u) m[u] = vmaxq_f32(m[u], vabsq_f32(vld1q_f32(x + j + 4 * u)));
    }
    return vmaxvq_f32(vmaxq_f32(vmaxq_f32(m[0], m[1]), vmaxq_f32(m[2], m[3])));
}

// Eight int32 (two vectors, each within int8's range) -> eight int8 in element order.
inline int8x8_t narrow_8(int32x4_t a, int32x4_t b) { return vmovn_s16(vcombine_s16(vmovn_s32(a), vmovn_s32(b))); }

// One Q8_0 / Q8_1 block's 32 quants: round(x * id), half away from zero; returns their sum.
inline int32_t quants_32(const float* x, float id, int8_t* qs) {
    const float32x4_t vid = vdupq_n_f32(id);
    int32x4_t sum = vdupq_n_s32(0);
    for (int j = 0; j < 32; j += 8) {
        const int32x4_t a = vcvtaq_s32_f32(vmulq_f32(vld1q_f32(x + j), vid));
        const int32x4_t b = vcvtaq_s32_f32(vmulq_f32(vld1q_f32(x + j + 4), vid));
        vst1_s8(qs + j, narrow_8(a, b));
        sum = vaddq_s32(sum, vaddq_s32(a, b));
    }
    return vaddvq_s32(sum);
}

// Q8_0 and Q8_1 (32 quants, an F16 scale; Q8_1 also the quants' sum times the scale).
template <typename Block>
void from_float_q8_01(const float* x, void* vy, int64_t k) {
    Block* y = static_cast<Block*>(vy);
    for (int64_t i = 0; i < k / 32; ++i, x += 32) {
        const float d = amax_of(x, 32) / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        const int32_t sum = quants_32(x, id, y[i].qs);
        if constexpr (std::is_same_v<Block, block_q8_1>) y[i].s = fp32_to_fp16(float(sum) * d);
    }
}

// Q8_K: the scale from the first element of largest magnitude, with its sign; each group of
// 16 quants' sum from the int32 vectors rather than the stored bytes.
void from_float_q8_K(const float* x, void* vy, int64_t k) {
    block_q8_K* y = static_cast<block_q8_K*>(vy);
    for (int64_t i = 0; i < k / QK_K; ++i, x += QK_K) {
        const float amax = amax_of(x, QK_K);
        if (!(amax > 0.0f)) {
            std::memset(&y[i], 0, sizeof(block_q8_K));
            continue;
        }
        const float32x4_t va = vdupq_n_f32(amax);
        int j = 0;
        uint32_t eq[4] = {0, 0, 0, 0};
        for (; j < QK_K; j += 4) {
            const uint32x4_t m = vceqq_f32(vabsq_f32(vld1q_f32(x + j)), va);
            if (vmaxvq_u32(m)) {
                vst1q_u32(eq, m);
                break;
            }
        }
        if (j == QK_K) {  // no |x| equals its maximum: cannot happen, but never read past the block
            quantize_row_q8_K_ref(x, &y[i], QK_K);
            continue;
        }
        int l = 0;
        while (!eq[l]) ++l;  // the first lane set (one is: vmaxvq_u32 saw it)
        const float iscale = -127.0f / x[j + l];
        const float32x4_t vs = vdupq_n_f32(iscale);
        const int32x4_t top = vdupq_n_s32(127);
        for (j = 0; j < QK_K; j += 16) {
            int32x4_t q[4];
            for (int u = 0; u < 4; ++u) q[u] = vminq_s32(vcvtnq_s32_f32(vmulq_f32(vs, vld1q_f32(x + j + 4 * u))), top);
            vst1_s8(y[i].qs + j, narrow_8(q[0], q[1]));
            vst1_s8(y[i].qs + j + 8, narrow_8(q[2], q[3]));
            y[i].bsums[j / 16] = int16_t(vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3]))));
        }
        y[i].d = 1.0f / iscale;
    }
}

void from_float_f16(const float* x, void* vy, int64_t k) {
    uint16_t* y = static_cast<uint16_t*>(vy);
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        const float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4));
        vst1q_u16(y + i, vreinterpretq_u16_f16(h));
    }
    for (; i < k; ++i) y[i] = fp32_to_fp16(x[i]);
}

}  // namespace

void register_quantize_act_neon(isa_kernels& k) {
    k.from_float[GGML_TYPE_Q8_0] = from_float_q8_01<block_q8_0>;
    k.from_float[GGML_TYPE_Q8_1] = from_float_q8_01<block_q8_1>;
    k.from_float[GGML_TYPE_Q8_K] = from_float_q8_K;
    k.from_float[GGML_TYPE_F16] = from_float_f16;
}

}  // namespace pyggml::PYGGML_NEON_TIER
