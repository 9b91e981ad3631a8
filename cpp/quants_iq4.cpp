// quants_iq4.cpp: the non-linear 4-bit formats IQ4_NL (blocks of 32) and IQ4_XS
// (super-blocks of 256 with 6-bit sub-block scales), both on the kvalues_iq4nl grid.
//
// Quantization is ggml's quantize_iq4_nl / quantize_iq4_xs built on
// quantize_row_iq4_nl_impl, operation for operation: without an importance vector the
// weights are x^2, with one they are qw * sqrt(sigma2 + x^2).
#include <cmath>
#include <cstring>

#include "fp16.h"
#include "quant_search.h"
#include "quants.h"

namespace pyggml {

namespace {

// Where quantize_row_iq4_nl_impl writes one super-block.
struct iq4_out {
    ggml_half* d;
    uint8_t* qs;          // super_block_size / 2 bytes
    uint16_t* scales_h;   // IQ4_XS only
    uint8_t* scales_l;    // IQ4_XS only
};

// ggml quantize_row_iq4_nl_impl: find the scale of each block_size block by trying
// 2*ntry+1 scales around max/values[0], then (for super-blocks of several blocks) the
// 6-bit block scales. qw: this super-block's importance weights or null.
void quantize_row_iq4_nl_impl(int super_block_size, int block_size, const float* x, iq4_out out,
                              const float* qw, int ntry) {
    const int nvalues = 16;
    const int8_t* values = kvalues_iq4nl;
    uint8_t L[QK_K];        // (super_block_size,) grid indices
    float weight[QK4_NL];   // (block_size,)
    float scales[QK_K / 32];

    float sigma2 = 0;
    for (int j = 0; j < super_block_size; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / super_block_size;

    std::memset(out.qs, 0, size_t(super_block_size / 2));
    out.d[0] = fp32_to_fp16(0.f);

    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < super_block_size / block_size; ++ib) {
        const float* xb = x + ib * block_size;
        uint8_t* Lb = L + ib * block_size;
        if (qw) {
            const float* w = qw + ib * block_size;
            for (int j = 0; j < block_size; ++j) weight[j] = w[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        } else {
            for (int j = 0; j < block_size; ++j) weight[j] = xb[j] * xb[j];
        }
        float amax = 0, max = 0;
        for (int j = 0; j < block_size; ++j) {
            const float ax = std::fabs(xb[j]);
            if (ax > amax) { amax = ax; max = xb[j]; }
        }
        if (amax < kGroupMaxEps) {
            scales[ib] = 0;
            std::memset(Lb, 0, size_t(block_size));
            continue;
        }
        float d = ntry > 0 ? -max / values[0] : max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < block_size; ++j) {
            const float al = id * xb[j];
            const int l = best_index_int8(nvalues, values, al);
            Lb[j] = uint8_t(l);
            const float q = values[l];
            const float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; ++itry) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < block_size; ++j) {
                const float al = id * xb[j];
                const int l = best_index_int8(nvalues, values, al);
                const float q = values[l];
                const float w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        const float abs_d = std::fabs(d);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = d;
        }
    }

    if (super_block_size / block_size > 1) {
        const int nb = super_block_size / block_size;
        std::memset(out.scales_h, 0, size_t((nb + 7) / 8) * sizeof(uint16_t));
        const float d = -max_scale / 32;
        out.d[0] = fp32_to_fp16(d);
        const float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < nb; ++ib) {
            int l = nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : (l > 31 ? 31 : l);
            const float dl = d * l;
            const float idl = dl ? 1 / dl : 0.f;
            uint8_t* Lb = L + ib * block_size;
            const float* xb = x + ib * block_size;
            for (int j = 0; j < block_size; ++j) Lb[j] = uint8_t(best_index_int8(nvalues, values, idl * xb[j]));
            l += 32;
            const uint8_t l_l = uint8_t(l & 0xf);
            const uint8_t l_h = uint8_t(l >> 4);
            if (ib % 2 == 0) out.scales_l[ib / 2] = l_l;
            else out.scales_l[ib / 2] |= uint8_t(l_l << 4);
            out.scales_h[ib / 8] = uint16_t(out.scales_h[ib / 8] | (l_h << 2 * (ib % 8)));
        }
    } else {
        out.d[0] = fp32_to_fp16(scales[0]);
        if (ntry > 0) {
            const float id = scales[0] ? 1 / scales[0] : 0;
            for (int j = 0; j < super_block_size; ++j) L[j] = uint8_t(best_index_int8(nvalues, values, id * x[j]));
        }
    }

    for (int i = 0; i < super_block_size / 32; ++i) {
        for (int j = 0; j < 16; ++j) out.qs[16 * i + j] = uint8_t(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
    }
}

}  // namespace

// ggml quantize_iq4_nl: each block of 32 on its own, ntry = 7.
size_t quantize_iq4_nl(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    const int64_t nblock = n_per_row / QK4_NL;
    block_iq4_nl* y = static_cast<block_iq4_nl*>(dst);
    for (int64_t row = 0; row < nrow; ++row, src += n_per_row) {
        for (int64_t ib = 0; ib < nblock; ++ib, ++y) {
            uint16_t unused_h = 0;
            const float* qw = imatrix ? imatrix + QK4_NL * ib : nullptr;
            quantize_row_iq4_nl_impl(QK4_NL, 32, src + QK4_NL * ib, {&y->d, y->qs, &unused_h, nullptr}, qw, 7);
        }
    }
    return size_t(nrow * nblock) * sizeof(block_iq4_nl);
}

// ggml quantize_iq4_xs: super-blocks of 256, blocks of 32, ntry = 7.
size_t quantize_iq4_xs(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    const int64_t nblock = n_per_row / QK_K;
    block_iq4_xs* y = static_cast<block_iq4_xs*>(dst);
    for (int64_t row = 0; row < nrow; ++row, src += n_per_row) {
        for (int64_t ibl = 0; ibl < nblock; ++ibl, ++y) {
            const float* qw = imatrix ? imatrix + QK_K * ibl : nullptr;
            quantize_row_iq4_nl_impl(QK_K, 32, src + QK_K * ibl, {&y->d, y->qs, &y->scales_h, y->scales_l}, qw, 7);
        }
    }
    return size_t(nrow * nblock) * sizeof(block_iq4_xs);
}

void dequantize_row_iq4_nl(const void* vx, float* y, int64_t k) {
    const block_iq4_nl* x = static_cast<const block_iq4_nl*>(vx);
    for (int64_t i = 0; i < k / QK4_NL; ++i, y += QK4_NL) {
        const uint8_t* qs = x[i].qs;
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK4_NL / 2; ++j) {
            y[j + 0] = d * kvalues_iq4nl[qs[j] & 0xf];
            y[j + QK4_NL / 2] = d * kvalues_iq4nl[qs[j] >> 4];
        }
    }
}

void dequantize_row_iq4_xs(const void* vx, float* y, int64_t k) {
    const block_iq4_xs* x = static_cast<const block_iq4_xs*>(vx);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const uint8_t* qs = x[i].qs;
        const float d = fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
            const float dl = d * (ls - 32);
            for (int j = 0; j < 16; ++j) {
                y[j + 0] = dl * kvalues_iq4nl[qs[j] & 0xf];
                y[j + 16] = dl * kvalues_iq4nl[qs[j] >> 4];
            }
            y += 32;
            qs += 16;
        }
    }
}

}  // namespace pyggml
