// vec_dot_iq.cpp: scalar reference dot kernels of the codebook formats (IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) against Q8_K activations, ggml's dot type for all of them.
//
// Per super-block the integer sum is exact: sum over halves h of (2 s_h + 1) * sum q * y, then
// d_w * d_y * isum * the type's constant (1/8 for IQ2, 1/4 for IQ3_XXS, 1 for IQ3_S) is added
// in block order. IQ1 adds the shift: (2 s + 1) * (+-1) * (sum of the 8 activations) * 1/8.
#include "core/dispatch.h"
#include "kernels/vec_dot_rows.h"
#include "quant/iq_unpack.h"

namespace pyggml {

namespace {

// sum over the chunk's two halves of (2 s + 1) * sum q * y
inline int chunk_dot(const iq_chunk& c, const int8_t* y) {
    int isum = 0;
    for (int h = 0; h < 2; ++h) {
        int sub = 0;
        for (int j = 16 * h; j < 16 * h + 16; ++j) sub += c.q[j] * y[j];
        isum += (2 * c.s[h] + 1) * sub;
    }
    return isum;
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
                int ysum = 0;
                for (int j = 0; j < 8; ++j) ysum += q8[8 * l + j];
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

void register_vec_dot_iq(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_IQ2_XXS] = {GGML_TYPE_Q8_K, nullptr, dot_rows<dot_grid<block_iq2_xxs, unpack_iq2_xxs, 1, 8>>};
    k.vec_dot[GGML_TYPE_IQ2_XS] = {GGML_TYPE_Q8_K, nullptr, dot_rows<dot_grid<block_iq2_xs, unpack_iq2_xs, 1, 8>>};
    k.vec_dot[GGML_TYPE_IQ2_S] = {GGML_TYPE_Q8_K, nullptr, dot_rows<dot_grid<block_iq2_s, unpack_iq2_s, 1, 8>>};
    k.vec_dot[GGML_TYPE_IQ3_XXS] = {GGML_TYPE_Q8_K, nullptr, dot_rows<dot_grid<block_iq3_xxs, unpack_iq3_xxs, 1, 4>>};
    k.vec_dot[GGML_TYPE_IQ3_S] = {GGML_TYPE_Q8_K, nullptr, dot_rows<dot_grid<block_iq3_s, unpack_iq3_s, 1, 1>>};
    k.vec_dot[GGML_TYPE_IQ1_S] = {GGML_TYPE_Q8_K, nullptr, dot_rows<dot_iq1<block_iq1_s, unpack_iq1_s, d_iq1_s>>};
    k.vec_dot[GGML_TYPE_IQ1_M] = {GGML_TYPE_Q8_K, nullptr, dot_rows<dot_iq1<block_iq1_m, unpack_iq1_m, d_iq1_m>>};
}

}  // namespace pyggml
