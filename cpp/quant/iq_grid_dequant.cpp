// iq_grid_dequant.cpp: reference dequantizers of the codebook formats IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S, IQ1_S and IQ1_M. Each element is its group's scale times the signed grid
// value (plus the +-1/8 shift for IQ1), with the scale computed exactly as ggml-quants.c does,
// so the floats are ggml's (and gguf.quants').
#include "quant/iq_unpack.h"
#include "quant/quants.h"

namespace pyggml {

namespace {

// Scale of a half-chunk from the type's raw scale field s, ggml's expression for each type.
float scale_iq2(float d, int s) { return d * (0.5f + float(s)) * 0.25f; }
float scale_iq3_xxs(float d, int s) { return d * (0.5f + float(s)) * 0.5f; }
float scale_iq3_s(float d, int s) { return d * float(1 + 2 * s); }
float scale_iq1(float d, int s) { return d * float(2 * s + 1); }

template <typename B, void (*Unpack)(const B&, int, iq_chunk&), float (*Scale)(float, int)>
void dequantize_grid(const void* vx, float* y, int64_t k) {
    const B* x = static_cast<const B*>(vx);
    iq_chunk c;
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < QK_K / 32; ++ib, y += 32) {
            Unpack(x[i], ib, c);
            const float dl[2] = {Scale(d, c.s[0]), Scale(d, c.s[1])};
            for (int j = 0; j < 32; ++j) y[j] = dl[j / 16] * float(c.q[j]);
        }
    }
}

// IQ1: dl * (grid value + shift); the super-block scale comes from D.
template <typename B, void (*Unpack)(const B&, int, iq_chunk&), float (*D)(const B&)>
void dequantize_iq1(const void* vx, float* y, int64_t k) {
    const B* x = static_cast<const B*>(vx);
    iq_chunk c;
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const float d = D(x[i]);
        for (int ib = 0; ib < QK_K / 32; ++ib, y += 32) {
            Unpack(x[i], ib, c);
            const float dl[2] = {scale_iq1(d, c.s[0]), scale_iq1(d, c.s[1])};
            for (int j = 0; j < 32; ++j) {
                const float delta = c.shift_neg[j / 8] ? -IQ1S_DELTA : IQ1S_DELTA;
                y[j] = dl[j / 16] * (float(c.q[j]) + delta);
            }
        }
    }
}

float d_iq1_s(const block_iq1_s& b) { return fp16_to_fp32(b.d); }
float d_iq1_m(const block_iq1_m& b) { return fp16_to_fp32(iq1_m_scale_bits(b)); }

}  // namespace

void dequantize_row_iq2_xxs(const void* x, float* y, int64_t k) {
    dequantize_grid<block_iq2_xxs, unpack_iq2_xxs, scale_iq2>(x, y, k);
}
void dequantize_row_iq2_xs(const void* x, float* y, int64_t k) {
    dequantize_grid<block_iq2_xs, unpack_iq2_xs, scale_iq2>(x, y, k);
}
void dequantize_row_iq2_s(const void* x, float* y, int64_t k) {
    dequantize_grid<block_iq2_s, unpack_iq2_s, scale_iq2>(x, y, k);
}
void dequantize_row_iq3_xxs(const void* x, float* y, int64_t k) {
    dequantize_grid<block_iq3_xxs, unpack_iq3_xxs, scale_iq3_xxs>(x, y, k);
}
void dequantize_row_iq3_s(const void* x, float* y, int64_t k) {
    dequantize_grid<block_iq3_s, unpack_iq3_s, scale_iq3_s>(x, y, k);
}
void dequantize_row_iq1_s(const void* x, float* y, int64_t k) { dequantize_iq1<block_iq1_s, unpack_iq1_s, d_iq1_s>(x, y, k); }
void dequantize_row_iq1_m(const void* x, float* y, int64_t k) { dequantize_iq1<block_iq1_m, unpack_iq1_m, d_iq1_m>(x, y, k); }

}  // namespace pyggml
