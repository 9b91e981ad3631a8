// vec_dot_iq_neon.cpp: NEON twins of kernels/vec_dot_iq.cpp (IQ2_XXS .. IQ1_M x Q8_K), one token
// at a time: each 32-element chunk is unpacked by the shared reference decoder (quant/iq_unpack.h,
// table lookups) and dotted with the activations through SDOT, 16 elements per scale.
#include <arm_neon.h>

#include "arch/arm/neon_tier.h"
#include "core/dispatch.h"
#include "kernels/vec_dot_rows.h"
#include "quant/iq_unpack.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

// (2 s0 + 1) * sum_{0..15} q y + (2 s1 + 1) * sum_{16..31} q y
inline int chunk_dot(const iq_chunk& c, const int8_t* y) {
    const int32x4_t lo = sdot(vdupq_n_s32(0), vld1q_s8(c.q), vld1q_s8(y));
    const int32x4_t hi = sdot(vdupq_n_s32(0), vld1q_s8(c.q + 16), vld1q_s8(y + 16));
    return (2 * c.s[0] + 1) * vaddvq_s32(lo) + (2 * c.s[1] + 1) * vaddvq_s32(hi);
}

template <typename B, void (*Unpack)(const B&, int, iq_chunk&), int Num, int Den>
float dot_grid(int n, const void* vx, const void* vy) {
    const B* x = static_cast<const B*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    iq_chunk c;
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int isum = 0;
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            Unpack(x[i], ib, c);
            isum += chunk_dot(c, y[i].qs + 32 * ib);
        }
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(isum);
    }
    return sum * (float(Num) / float(Den));
}

template <typename B, void (*Unpack)(const B&, int, iq_chunk&), float (*D)(const B&)>
float dot_iq1(int n, const void* vx, const void* vy) {
    const B* x = static_cast<const B*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    iq_chunk c;
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int isum = 0, ishift = 0;
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            Unpack(x[i], ib, c);
            const int8_t* q8 = y[i].qs + 32 * ib;
            isum += chunk_dot(c, q8);
            for (int l = 0; l < 4; ++l) {
                const int ysum = vaddlvq_s16(vmovl_s8(vld1_s8(q8 + 8 * l)));
                ishift += (2 * c.s[l / 2] + 1) * (c.shift_neg[l] ? -ysum : ysum);
            }
        }
        sum += D(x[i]) * y[i].d * (float(isum) + IQ1S_DELTA * float(ishift));
    }
    return sum;
}

float d_iq1_s(const block_iq1_s& b) { return fp16_to_fp32(b.d); }
float d_iq1_m(const block_iq1_m& b) { return fp16_to_fp32(iq1_m_scale_bits(b)); }

}  // namespace

void register_vec_dot_iq_neon(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_IQ2_XXS].vec_dot = dot_rows<dot_grid<block_iq2_xxs, unpack_iq2_xxs, 1, 8>>;
    k.vec_dot[GGML_TYPE_IQ2_XS].vec_dot = dot_rows<dot_grid<block_iq2_xs, unpack_iq2_xs, 1, 8>>;
    k.vec_dot[GGML_TYPE_IQ2_S].vec_dot = dot_rows<dot_grid<block_iq2_s, unpack_iq2_s, 1, 8>>;
    k.vec_dot[GGML_TYPE_IQ3_XXS].vec_dot = dot_rows<dot_grid<block_iq3_xxs, unpack_iq3_xxs, 1, 4>>;
    k.vec_dot[GGML_TYPE_IQ3_S].vec_dot = dot_rows<dot_grid<block_iq3_s, unpack_iq3_s, 1, 1>>;
    k.vec_dot[GGML_TYPE_IQ1_S].vec_dot = dot_rows<dot_iq1<block_iq1_s, unpack_iq1_s, d_iq1_s>>;
    k.vec_dot[GGML_TYPE_IQ1_M].vec_dot = dot_rows<dot_iq1<block_iq1_m, unpack_iq1_m, d_iq1_m>>;
}

}  // namespace pyggml::PYGGML_NEON_TIER
