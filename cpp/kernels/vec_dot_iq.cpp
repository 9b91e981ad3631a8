// vec_dot_iq.cpp: scalar reference dot kernels of the codebook formats (IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) against Q8_K activations, ggml's dot type for all of them.
//
// Per super-block the integer sum is exact: sum over halves h of (2 s_h + 1) * sum q * y, then
// d_w * d_y * isum * the type's constant (1/8 for IQ2, 1/4 for IQ3_XXS, 1 for IQ3_S) is added
// in block order. IQ1 adds the shift: (2 s + 1) * (+-1) * (sum of the 8 activations) * 1/8.
//
// Also the reference decoders into block_grid_decoded and the kernels over decoded rows, one
// at a time or eight (kernels/grid_x8.h), which give the same floats; the scalar table holds
// them (register_vec_dot_iq_decoded), each x86 tier its own twins.
#include "core/dispatch.h"
#include "kernels/grid_x8.h"
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

// ---- decoded rows (block_grid_decoded): the reference decoders and kernel --------------

template <typename B>
float d_fp16(const B& b) {
    return fp16_to_fp32(b.d);
}

// Grid types: the signed grid values. IQ1 (Shift): 8 q plus the sign of the element's shift,
// so that isum over the decoded values is 8 isum + ishift of dot_iq1, exactly.
template <typename B, void (*Unpack)(const B&, int, iq_chunk&), float (*D)(const B&), bool Shift>
void decode_row(const void* vx, void* vy, int n) {
    const B* x = static_cast<const B*>(vx);
    block_grid_decoded* y = static_cast<block_grid_decoded*>(vy);
    iq_chunk c;
    for (int i = 0; i < n / QK_K; ++i) {
        y[i].d = D(x[i]);
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            Unpack(x[i], ib, c);
            for (int j = 0; j < 32; ++j) {
                y[i].qs[32 * ib + j] = Shift ? int8_t(8 * c.q[j] + (c.shift_neg[j / 8] ? -1 : 1)) : c.q[j];
            }
            y[i].scales[2 * ib] = int16_t(2 * c.s[0] + 1);
            y[i].scales[2 * ib + 1] = int16_t(2 * c.s[1] + 1);
        }
    }
}

size_t decoded_row_size(int n) { return size_t(n / QK_K) * sizeof(block_grid_decoded); }

// dot_grid / dot_iq1 over a decoded row (grid_x8.h: PreDen, PostDen).
template <int PreDen, int PostDen>
float dot_decoded(int n, const void* vx, const void* vy) {
    const block_grid_decoded* x = static_cast<const block_grid_decoded*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int isum = 0;
        for (int h = 0; h < QK_K / 16; ++h) {
            int sub = 0;
            for (int e = 16 * h; e < 16 * h + 16; ++e) sub += x[i].qs[e] * y[i].qs[e];
            isum += x[i].scales[h] * sub;
        }
        sum = sum + (x[i].d * y[i].d) * (float(isum) * (1.0f / float(PreDen)));
    }
    return sum * (1.0f / float(PostDen));
}

template <int PreDen, int PostDen, decode_row_fn Decode>
void set_decoded(vec_dot_traits& v) {
    v.decode = Decode;
    v.decode_x8 = decode_rows_x8<Decode>;
    v.decoded_row_size = decoded_row_size;
    v.decoded_dot = dot_rows<dot_decoded<PreDen, PostDen>>;
    v.decoded_x8_dot = grid_x8_reference_kernel(PreDen, PostDen);
    v.decoded_x8_max_nt = VEC_DOT_MAX_NT;
}

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

void register_vec_dot_iq_decoded(isa_kernels& k) {
    vec_dot_traits* v = k.vec_dot;
    set_decoded<1, 8, decode_row<block_iq2_xxs, unpack_iq2_xxs, d_fp16<block_iq2_xxs>, false>>(v[GGML_TYPE_IQ2_XXS]);
    set_decoded<1, 8, decode_row<block_iq2_xs, unpack_iq2_xs, d_fp16<block_iq2_xs>, false>>(v[GGML_TYPE_IQ2_XS]);
    set_decoded<1, 8, decode_row<block_iq2_s, unpack_iq2_s, d_fp16<block_iq2_s>, false>>(v[GGML_TYPE_IQ2_S]);
    set_decoded<1, 4, decode_row<block_iq3_xxs, unpack_iq3_xxs, d_fp16<block_iq3_xxs>, false>>(v[GGML_TYPE_IQ3_XXS]);
    set_decoded<1, 1, decode_row<block_iq3_s, unpack_iq3_s, d_fp16<block_iq3_s>, false>>(v[GGML_TYPE_IQ3_S]);
    set_decoded<8, 1, decode_row<block_iq1_s, unpack_iq1_s, d_iq1_s, true>>(v[GGML_TYPE_IQ1_S]);
    set_decoded<8, 1, decode_row<block_iq1_m, unpack_iq1_m, d_iq1_m, true>>(v[GGML_TYPE_IQ1_M]);
}

}  // namespace pyggml
