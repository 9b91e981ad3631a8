// vec_dot_fp4.cpp: scalar reference dot kernels of MXFP4 and NVFP4 against Q8_0
// activations (ggml's dot type for both). Integer sums are exact per scale group (32
// elements for MXFP4, 16 for NVFP4); each group contributes d_w * d_x * isum in order.
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp16.h"
#include "core/fp8.h"
#include "kernels/vec_dot_rows.h"

namespace pyggml {

namespace {

inline int fp4_value(const uint8_t* qs, int j, int half) {
    return kvalues_fp4[j < half ? (qs[j] & 0xF) : (qs[j - half] >> 4)];
}

float dot_mxfp4_q8_0(int n, const void* vx, const void* vy) {
    const block_mxfp4* x = static_cast<const block_mxfp4*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK_MXFP4; ++ib) {
        int isum = 0;
        for (int j = 0; j < QK_MXFP4; ++j) isum += fp4_value(x[ib].qs, j, QK_MXFP4 / 2) * y[ib].qs[j];
        sum += e8m0_to_fp32_half(x[ib].e) * fp16_to_fp32(y[ib].d) * float(isum);
    }
    return sum;
}

// A block of 64 is two Q8_0 blocks; sub-block s (16 elements) lies in Q8_0 block s / 2.
float dot_nvfp4_q8_0(int n, const void* vx, const void* vy) {
    const block_nvfp4* x = static_cast<const block_nvfp4*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    constexpr int half = QK_NVFP4_SUB / 2;
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK_NVFP4; ++ib) {
        for (int s = 0; s < QK_NVFP4 / QK_NVFP4_SUB; ++s) {
            const block_q8_0& yb = y[2 * ib + s / 2];
            const int8_t* q8 = yb.qs + (s % 2) * QK_NVFP4_SUB;
            int isum = 0;
            for (int j = 0; j < QK_NVFP4_SUB; ++j) isum += fp4_value(x[ib].qs + s * half, j, half) * q8[j];
            sum += ue4m3_to_fp32_half(x[ib].d[s]) * fp16_to_fp32(yb.d) * float(isum);
        }
    }
    return sum;
}

}  // namespace

void register_vec_dot_fp4(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_MXFP4] = {GGML_TYPE_Q8_0, nullptr, dot_rows<dot_mxfp4_q8_0>};
    k.vec_dot[GGML_TYPE_NVFP4] = {GGML_TYPE_Q8_0, nullptr, dot_rows<dot_nvfp4_q8_0>};
}

}  // namespace pyggml
