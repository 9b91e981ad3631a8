// vec_dot_ternary.cpp: scalar reference dot kernels of TQ1_0 and TQ2_0 against Q8_K
// activations (ggml's dot type for both). Each super-block's integer sum is exact; it
// contributes d_w * d_x * isum to the float sum, in block order.
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp16.h"
#include "kernels/vec_dot_rows.h"

namespace pyggml {

namespace {

constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};

// Trit n of a TQ1_0 byte (the byte times 3^n mod 256, then its top trit), as -1, 0, 1.
inline int tq1_trit(uint8_t b, int n) { return ((uint16_t(uint8_t(b * kPow3[n])) * 3) >> 8) - 1; }

float dot_tq1_0_q8_K(int n, const void* vx, const void* vy) {
    const block_tq1_0* x = static_cast<const block_tq1_0*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        const int8_t* q8 = y[i].qs;
        int isum = 0;
        // qs[0..31]: elements m + 32 t; qs[32..47]: 160 + m + 16 t; qh[j]: 240 + j + 4 t
        for (int t = 0; t < 5; ++t) {
            for (int m = 0; m < 32; ++m) isum += tq1_trit(x[i].qs[m], t) * q8[m + 32 * t];
            for (int m = 0; m < 16; ++m) isum += tq1_trit(x[i].qs[32 + m], t) * q8[160 + m + 16 * t];
        }
        for (int t = 0; t < 4; ++t) {
            for (int j = 0; j < 4; ++j) isum += tq1_trit(x[i].qh[j], t) * q8[240 + j + 4 * t];
        }
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(isum);
    }
    return sum;
}

float dot_tq2_0_q8_K(int n, const void* vx, const void* vy) {
    const block_tq2_0* x = static_cast<const block_tq2_0*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int isum = 0;
        // byte 32 c + m, bits 2 l: element 128 c + 32 l + m
        for (int e = 0; e < QK_K; ++e) {
            const int c = e / 128, l = (e % 128) / 32, m = e % 32;
            isum += (((x[i].qs[32 * c + m] >> (2 * l)) & 3) - 1) * y[i].qs[e];
        }
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(isum);
    }
    return sum;
}

}  // namespace

void register_vec_dot_ternary(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_TQ1_0] = {GGML_TYPE_Q8_K, nullptr, dot_rows<dot_tq1_0_q8_K>};
    k.vec_dot[GGML_TYPE_TQ2_0] = {GGML_TYPE_Q8_K, nullptr, dot_rows<dot_tq2_0_q8_K>};
}

}  // namespace pyggml
