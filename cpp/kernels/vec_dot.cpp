// vec_dot.cpp: scalar reference dot kernels, one per (weight type, dot type), and the
// dot type of each weight type.
//
// Integer parts are summed exactly in int32 per block (or super-block); each block
// contributes d_w * d_x * isum to a float sum, in block order. F32/F16/BF16 products
// are accumulated in double. The SIMD kernels are tested against these.
#include <cstring>

#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp16.h"
#include "quant/kquant_scales.h"

namespace pyggml {

namespace {

using dot1_fn = float (*)(int n, const void* x, const void* y);

// Adapts a single-row dot to the common kernel signature.
template <dot1_fn Dot>
void dot_rows(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    for (int r = 0; r < nr; ++r) {
        const void* xr = static_cast<const char*>(x) + r * bx;
        for (int t = 0; t < nt; ++t) s[t * bs + r] = Dot(n, xr, static_cast<const char*>(y) + t * by);
    }
}

// ---- float formats -------------------------------------------------------------

float dot_f32(int n, const void* vx, const void* vy) {
    const float* x = static_cast<const float*>(vx);
    const float* y = static_cast<const float*>(vy);
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += double(x[i] * y[i]);
    return float(sum);
}

float dot_f16(int n, const void* vx, const void* vy) {
    const uint16_t* x = static_cast<const uint16_t*>(vx);
    const uint16_t* y = static_cast<const uint16_t*>(vy);
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += double(fp16_to_fp32(x[i]) * fp16_to_fp32(y[i]));
    return float(sum);
}

float dot_bf16(int n, const void* vx, const void* vy) {
    const uint16_t* x = static_cast<const uint16_t*>(vx);
    const uint16_t* y = static_cast<const uint16_t*>(vy);
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += double(bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]));
    return float(sum);
}

// ---- legacy 32-element blocks ----------------------------------------------------

// The 5-bit value of element j (0..31) of a Q5 block: nibble plus qh bit j.
inline int q5_value(const uint8_t* qs, uint32_t qh, int j) {
    const int nib = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return nib | int(((qh >> j) & 1) << 4);
}

inline int q4_value(const uint8_t* qs, int j) { return j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4); }

float dot_q4_0_q8_0(int n, const void* vx, const void* vy) {
    const block_q4_0* x = static_cast<const block_q4_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK4_0; ++ib) {
        int isum = 0;
        for (int j = 0; j < QK4_0; ++j) isum += (q4_value(x[ib].qs, j) - 8) * y[ib].qs[j];
        sum += fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d) * float(isum);
    }
    return sum;
}

float dot_q4_1_q8_1(int n, const void* vx, const void* vy) {
    const block_q4_1* x = static_cast<const block_q4_1*>(vx);
    const block_q8_1* y = static_cast<const block_q8_1*>(vy);
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK4_1; ++ib) {
        int isum = 0;
        for (int j = 0; j < QK4_1; ++j) isum += q4_value(x[ib].qs, j) * y[ib].qs[j];
        sum += fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d) * float(isum) +
               fp16_to_fp32(x[ib].m) * fp16_to_fp32(y[ib].s);
    }
    return sum;
}

float dot_q5_0_q8_0(int n, const void* vx, const void* vy) {
    const block_q5_0* x = static_cast<const block_q5_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK5_0; ++ib) {
        uint32_t qh;
        std::memcpy(&qh, x[ib].qh, 4);
        int isum = 0;
        for (int j = 0; j < QK5_0; ++j) isum += (q5_value(x[ib].qs, qh, j) - 16) * y[ib].qs[j];
        sum += fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d) * float(isum);
    }
    return sum;
}

float dot_q5_1_q8_1(int n, const void* vx, const void* vy) {
    const block_q5_1* x = static_cast<const block_q5_1*>(vx);
    const block_q8_1* y = static_cast<const block_q8_1*>(vy);
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK5_1; ++ib) {
        uint32_t qh;
        std::memcpy(&qh, x[ib].qh, 4);
        int isum = 0;
        for (int j = 0; j < QK5_1; ++j) isum += q5_value(x[ib].qs, qh, j) * y[ib].qs[j];
        sum += fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d) * float(isum) +
               fp16_to_fp32(x[ib].m) * fp16_to_fp32(y[ib].s);
    }
    return sum;
}

float dot_q8_0_q8_0(int n, const void* vx, const void* vy) {
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK8_0; ++ib) {
        int isum = 0;
        for (int j = 0; j < QK8_0; ++j) isum += x[ib].qs[j] * y[ib].qs[j];
        sum += fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d) * float(isum);
    }
    return sum;
}

float dot_iq4_nl_q8_0(int n, const void* vx, const void* vy) {
    const block_iq4_nl* x = static_cast<const block_iq4_nl*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0.0f;
    for (int ib = 0; ib < n / QK4_NL; ++ib) {
        int isum = 0;
        for (int j = 0; j < QK4_NL; ++j) isum += kvalues_iq4nl[q4_value(x[ib].qs, j)] * y[ib].qs[j];
        sum += fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d) * float(isum);
    }
    return sum;
}

// ---- k-quants (super-blocks of 256, activations in Q8_K) -------------------------

// sum over 16-element groups g of mins[g / per] * bsums[g]
inline int bsum_dot(const int16_t* bsums, const uint8_t* mins, int groups_per_min) {
    int s = 0;
    for (int g = 0; g < QK_K / 16; ++g) s += mins[g / groups_per_min] * bsums[g];
    return s;
}

float dot_q2_K_q8_K(int n, const void* vx, const void* vy) {
    const block_q2_K* x = static_cast<const block_q2_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        uint8_t mins[16];
        for (int g = 0; g < 16; ++g) mins[g] = x[i].scales[g] >> 4;
        const int isum_min = bsum_dot(y[i].bsums, mins, 1);
        int isum = 0;
        // element e: chunk of 128 h = e / 128, shift 2 * ((e % 128) / 32), byte 32 h + e % 32
        for (int e = 0; e < QK_K; ++e) {
            const int h = e / 128, r = e % 128;
            const int q = (x[i].qs[32 * h + r % 32] >> (2 * (r / 32))) & 3;
            isum += (x[i].scales[e / 16] & 0xF) * q * y[i].qs[e];
        }
        sum += y[i].d * (fp16_to_fp32(x[i].d) * float(isum) - fp16_to_fp32(x[i].dmin) * float(isum_min));
    }
    return sum;
}

float dot_q3_K_q8_K(int n, const void* vx, const void* vy) {
    const block_q3_K* x = static_cast<const block_q3_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int8_t scales[16];
        unpack_scales_q3_K(x[i].scales, scales);
        int isum = 0;
        for (int e = 0; e < QK_K; ++e) {
            const int h = e / 128, r = e % 128, l = e % 32;
            const int lo = (x[i].qs[32 * h + l] >> (2 * (r / 32))) & 3;
            const int hbit = (x[i].hmask[l] >> (e / 32)) & 1;
            isum += scales[e / 16] * (lo - (hbit ? 0 : 4)) * y[i].qs[e];
        }
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(isum);
    }
    return sum;
}

float dot_q4_K_q8_K(int n, const void* vx, const void* vy) {
    const block_q4_K* x = static_cast<const block_q4_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        uint8_t scales[8], mins[8];
        unpack_scales_mins_k4(x[i].scales, scales, mins);
        const int isum_min = bsum_dot(y[i].bsums, mins, 2);
        int isum = 0;
        // element e: 64-chunk c = e / 64, byte 32 c + e % 32, high nibble for e % 64 >= 32
        for (int e = 0; e < QK_K; ++e) {
            const uint8_t b = x[i].qs[32 * (e / 64) + e % 32];
            const int q = (e % 64) < 32 ? (b & 0xF) : (b >> 4);
            isum += scales[e / 32] * q * y[i].qs[e];
        }
        sum += y[i].d * (fp16_to_fp32(x[i].d) * float(isum) - fp16_to_fp32(x[i].dmin) * float(isum_min));
    }
    return sum;
}

float dot_q5_K_q8_K(int n, const void* vx, const void* vy) {
    const block_q5_K* x = static_cast<const block_q5_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        uint8_t scales[8], mins[8];
        unpack_scales_mins_k4(x[i].scales, scales, mins);
        const int isum_min = bsum_dot(y[i].bsums, mins, 2);
        int isum = 0;
        for (int e = 0; e < QK_K; ++e) {
            const uint8_t b = x[i].qs[32 * (e / 64) + e % 32];
            const int lo = (e % 64) < 32 ? (b & 0xF) : (b >> 4);
            const int hi = (x[i].qh[e % 32] >> (e / 32)) & 1;
            isum += scales[e / 32] * (lo | (hi << 4)) * y[i].qs[e];
        }
        sum += y[i].d * (fp16_to_fp32(x[i].d) * float(isum) - fp16_to_fp32(x[i].dmin) * float(isum_min));
    }
    return sum;
}

float dot_q6_K_q8_K(int n, const void* vx, const void* vy) {
    const block_q6_K* x = static_cast<const block_q6_K*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int isum = 0;
        for (int e = 0; e < QK_K; ++e) isum += x[i].scales[e / 16] * (q6_K_quant(x[i], e) - 32) * y[i].qs[e];
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(isum);
    }
    return sum;
}

float dot_iq4_xs_q8_K(int n, const void* vx, const void* vy) {
    const block_iq4_xs* x = static_cast<const block_iq4_xs*>(vx);
    const block_q8_K* y = static_cast<const block_q8_K*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; ++i) {
        int isum = 0;
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            int sub = 0;
            for (int j = 0; j < 32; ++j) {
                sub += kvalues_iq4nl[q4_value(x[i].qs + 16 * ib, j)] * y[i].qs[32 * ib + j];
            }
            isum += scale_iq4_xs(x[i], ib) * sub;
        }
        sum += fp16_to_fp32(x[i].d) * y[i].d * float(isum);
    }
    return sum;
}

vec_dot_fn kernel(int32_t type) {
    switch (type) {
        case GGML_TYPE_F32: return dot_rows<dot_f32>;
        case GGML_TYPE_F16: return dot_rows<dot_f16>;
        case GGML_TYPE_BF16: return dot_rows<dot_bf16>;
        case GGML_TYPE_Q4_0: return dot_rows<dot_q4_0_q8_0>;
        case GGML_TYPE_Q4_1: return dot_rows<dot_q4_1_q8_1>;
        case GGML_TYPE_Q5_0: return dot_rows<dot_q5_0_q8_0>;
        case GGML_TYPE_Q5_1: return dot_rows<dot_q5_1_q8_1>;
        case GGML_TYPE_Q8_0: return dot_rows<dot_q8_0_q8_0>;
        case GGML_TYPE_IQ4_NL: return dot_rows<dot_iq4_nl_q8_0>;
        case GGML_TYPE_Q2_K: return dot_rows<dot_q2_K_q8_K>;
        case GGML_TYPE_Q3_K: return dot_rows<dot_q3_K_q8_K>;
        case GGML_TYPE_Q4_K: return dot_rows<dot_q4_K_q8_K>;
        case GGML_TYPE_Q5_K: return dot_rows<dot_q5_K_q8_K>;
        case GGML_TYPE_Q6_K: return dot_rows<dot_q6_K_q8_K>;
        case GGML_TYPE_IQ4_XS: return dot_rows<dot_iq4_xs_q8_K>;
        default: return nullptr;
    }
}

// The format each weight type's activations take (as ggml's type_traits_cpu).
int32_t dot_type(int32_t type) {
    switch (type) {
        case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16: return type;
        case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0: case GGML_TYPE_IQ4_NL: return GGML_TYPE_Q8_0;
        case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: return GGML_TYPE_Q8_1;
        default: return GGML_TYPE_Q8_K;  // the k-quants and IQ4_XS
    }
}

}  // namespace

void register_vec_dot(isa_kernels& k) {
    for (int32_t type = 0; type < GGML_TYPE_COUNT; ++type) {
        if (vec_dot_fn f = kernel(type)) k.vec_dot[type] = {dot_type(type), nullptr, f};
    }
}

}  // namespace pyggml
