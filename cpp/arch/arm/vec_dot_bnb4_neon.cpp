// vec_dot_bnb4_neon.cpp: NEON twins of kernels/vec_dot_bnb4.cpp (NF4 / FP4 against float32), one
// token at a time: each block's 64 codes (high nibble first) become floats through TBL over
// the code book's bytes (code c -> bytes 4c..4c+3), then 16 FMA lanes; the block sum is scaled by
// its absmax. Sums in another order than the reference's: equal within float rounding.
#include <arm_neon.h>

#include "arch/arm/neon_tier.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "kernels/vec_dot_rows.h"
#include "quant/weight_formats.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

struct book {
    uint8x16x4_t bytes;  // the 16 float32 values as 64 bytes
};

inline book load_book(const float* values) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(values);
    return {{vld1q_u8(p), vld1q_u8(p + 16), vld1q_u8(p + 32), vld1q_u8(p + 48)}};
}

// 4 codes (bytes 0..3 of c) -> their 4 floats.
inline float32x4_t lookup4(const book& b, uint8x16_t c4) {
    // byte 4j + k of the result: byte 4 * code_j + k of the book
    const uint8x16_t rep = vqtbl1q_u8(c4, vcombine_u8(vcreate_u8(0x0101010100000000ULL), vcreate_u8(0x0303030302020202ULL)));
    const uint8x16_t idx = vaddq_u8(vshlq_n_u8(rep, 2), vcombine_u8(vcreate_u8(0x0302010003020100ULL), vcreate_u8(0x0302010003020100ULL)));
    return vreinterpretq_f32_u8(vqtbl4q_u8(b.bytes, idx));
}

// One block: sum of code[q] * y over 64 values.
inline float block_dot(const uint8_t* qs, const book& b, const float* y) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int h = 0; h < 2; ++h) {
        const uint8x16_t raw = vld1q_u8(qs + 16 * h);
        const uint8x16x2_t codes = vzipq_u8(vshrq_n_u8(raw, 4), vandq_u8(raw, vdupq_n_u8(0x0F)));  // element order
        for (int part = 0; part < 2; ++part) {
            uint8x16_t c = codes.val[part];
            for (int q = 0; q < 4; ++q) {
                acc = vfmaq_f32(acc, lookup4(b, c), vld1q_f32(y + 32 * h + 16 * part + 4 * q));
                c = vextq_u8(c, c, 4);
            }
        }
    }
    return vaddvq_f32(acc);
}

template <const float* Values>
float dot_blocks_f32(int n, const void* vx, const void* vy) {
    const block_nf4* x = static_cast<const block_nf4*>(vx);
    const float* y = static_cast<const float*>(vy);
    const book b = load_book(Values);
    float sum = 0.0f;
    for (int k = 0; k < n / QK_NF4; ++k) sum += x[k].d * block_dot(x[k].qs, b, y + k * QK_NF4);
    return sum;
}

template <const float* Values>
float dot_dq_f32(int n, const void* vx, const void* vy) {
    const uint8_t* row = static_cast<const uint8_t*>(vx);
    const float* y = static_cast<const float*>(vy);
    const int64_t nb = n / QK_NF4;
    const uint8_t* qs = row + row_header_nf4_dq(n);
    const float* dyn = dynamic_map_256();
    const book b = load_book(Values);
    float sum = 0.0f;
    for (int64_t k = 0; k < nb; ++k) sum += nf4_dq_absmax(row, nb, k, dyn) * block_dot(qs + k * (QK_NF4 / 2), b, y + k * QK_NF4);
    return sum;
}

}  // namespace

void register_vec_dot_bnb4_neon(isa_kernels& k) {
    k.vec_dot[PYGGML_TYPE_NF4].vec_dot = dot_rows<dot_blocks_f32<kvalues_nf4>>;
    k.vec_dot[PYGGML_TYPE_FP4].vec_dot = dot_rows<dot_blocks_f32<kvalues_bnb_fp4>>;
    k.vec_dot[PYGGML_TYPE_NF4_DQ].vec_dot = dot_rows<dot_dq_f32<kvalues_nf4>>;
    k.vec_dot[PYGGML_TYPE_FP4_DQ].vec_dot = dot_rows<dot_dq_f32<kvalues_bnb_fp4>>;
}

}  // namespace pyggml::PYGGML_NEON_TIER
