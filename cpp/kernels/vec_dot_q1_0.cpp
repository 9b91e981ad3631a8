// vec_dot_q1_0.cpp: the scalar reference dot kernel of Q1_0 against Q8_0 activations
// (ggml's dot type): a block of 128 signs spans four Q8_0 blocks; each contributes
// d_w * d_x * isum, in order.
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp16.h"
#include "kernels/vec_dot_rows.h"

namespace pyggml {

namespace {

float dot_q1_0_q8_0(int n, const void* vx, const void* vy) {
    const block_q1_0* x = static_cast<const block_q1_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK1_0; ++i) {
        const float dx = fp16_to_fp32(x[i].d);
        for (int k = 0; k < QK1_0 / QK8_0; ++k) {
            const block_q8_0& yb = y[4 * i + k];
            int isum = 0;
            for (int j = 0; j < QK8_0; ++j) {
                const int e = QK8_0 * k + j;
                isum += (x[i].qs[e / 8] >> (e % 8)) & 1 ? yb.qs[j] : -yb.qs[j];
            }
            sum += dx * fp16_to_fp32(yb.d) * float(isum);
        }
    }
    return sum;
}

}  // namespace

void register_vec_dot_q1_0(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_Q1_0] = {GGML_TYPE_Q8_0, nullptr, dot_rows<dot_q1_0_q8_0>};
}

}  // namespace pyggml
