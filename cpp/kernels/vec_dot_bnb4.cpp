// vec_dot_bnb4.cpp: scalar reference dot kernels of bitsandbytes' 4-bit formats (NF4, FP4,
// with or without double-quantized scales) against float32 activations. The code books'
// values are not integers, so the product is in float, as bitsandbytes' own (it dequantizes
// to 16 bits and multiplies): each block contributes absmax * sum(code[q] * x).
#include "core/blocks.h"
#include "core/dispatch.h"
#include "kernels/vec_dot_rows.h"
#include "quant/weight_formats.h"

namespace pyggml {

namespace {

float block_dot(const uint8_t* qs, const float* values, const float* y) {
    float s = 0.0f;
    for (int j = 0; j < QK_NF4 / 2; ++j) s += values[qs[j] >> 4] * y[2 * j] + values[qs[j] & 0xF] * y[2 * j + 1];
    return s;
}

template <const float* Values>
float dot_blocks_f32(int n, const void* vx, const void* vy) {
    const block_nf4* x = static_cast<const block_nf4*>(vx);
    const float* y = static_cast<const float*>(vy);
    float sum = 0.0f;
    for (int b = 0; b < n / QK_NF4; ++b) sum += x[b].d * block_dot(x[b].qs, Values, y + b * QK_NF4);
    return sum;
}

template <const float* Values>
float dot_dq_f32(int n, const void* vx, const void* vy) {
    const uint8_t* row = static_cast<const uint8_t*>(vx);
    const float* y = static_cast<const float*>(vy);
    const int64_t nb = n / QK_NF4;
    const uint8_t* qs = row + row_header_nf4_dq(n);
    const float* dyn = dynamic_map_256();
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
        sum += nf4_dq_absmax(row, nb, b, dyn) * block_dot(qs + b * (QK_NF4 / 2), Values, y + b * QK_NF4);
    }
    return sum;
}

}  // namespace

void register_vec_dot_bnb4(isa_kernels& k) {
    k.vec_dot[PYGGML_TYPE_NF4] = {GGML_TYPE_F32, nullptr, dot_rows<dot_blocks_f32<kvalues_nf4>>};
    k.vec_dot[PYGGML_TYPE_FP4] = {GGML_TYPE_F32, nullptr, dot_rows<dot_blocks_f32<kvalues_bnb_fp4>>};
    k.vec_dot[PYGGML_TYPE_NF4_DQ] = {GGML_TYPE_F32, nullptr, dot_rows<dot_dq_f32<kvalues_nf4>>};
    k.vec_dot[PYGGML_TYPE_FP4_DQ] = {GGML_TYPE_F32, nullptr, dot_rows<dot_dq_f32<kvalues_bnb_fp4>>};
}

}  // namespace pyggml
