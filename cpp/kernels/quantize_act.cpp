// quantize_act.cpp: the reference conversions of float32 activations to the dot types
// (kernels/vec_dot.h), which the matmul applies once per call before the dot kernels.
//
// Q8_0 / Q8_1 / Q8_K: the row quantizers of quant/; F32: a copy; F16 / BF16: the scalar
// conversions of core/fp16.h. The AVX2 and NEON twins (arch/x86/quantize_act_avx2.cpp,
// arch/arm/quantize_act_neon.cpp) give the same bytes for finite input.
#include <cstring>

#include "core/dispatch.h"
#include "core/fp16.h"
#include "quant/quants.h"
#include "quant/weight_formats.h"

namespace pyggml {

namespace {

void from_float_f32(const float* x, void* y, int64_t k) { std::memcpy(y, x, size_t(k) * sizeof(float)); }
void from_float_f16(const float* x, void* y, int64_t k) {
    uint16_t* h = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < k; ++i) h[i] = fp32_to_fp16(x[i]);
}
void from_float_bf16(const float* x, void* y, int64_t k) {
    uint16_t* h = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < k; ++i) h[i] = fp32_to_bf16(x[i]);
}
template <typename Block, void (*Ref)(const float*, Block*, int64_t)>
void from_float_blocks(const float* x, void* y, int64_t k) {
    Ref(x, static_cast<Block*>(y), k);
}

}  // namespace

void register_quantize_act(isa_kernels& k) {
    k.from_float[GGML_TYPE_F32] = from_float_f32;
    k.from_float[GGML_TYPE_F16] = from_float_f16;
    k.from_float[GGML_TYPE_BF16] = from_float_bf16;
    k.from_float[GGML_TYPE_Q8_0] = from_float_blocks<block_q8_0, quantize_row_q8_0_ref>;
    k.from_float[GGML_TYPE_Q8_1] = from_float_blocks<block_q8_1, quantize_row_q8_1_ref>;
    k.from_float[GGML_TYPE_Q8_K] = from_float_blocks<block_q8_K, quantize_row_q8_K_ref>;
    k.from_float[PYGGML_TYPE_A8_ROW] = quantize_row_a8_ref;
    k.from_float_split[PYGGML_TYPE_A8_OUTLIER] = quantize_row_a8_outlier_ref;
}

}  // namespace pyggml
