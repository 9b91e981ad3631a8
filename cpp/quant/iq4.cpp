// iq4.cpp: the non-linear 4-bit formats IQ4_NL (blocks of 32) and IQ4_XS
// (super-blocks of 256 with 6-bit sub-block scales), both on the kvalues_iq4nl grid.
//
// Quantization is ggml's quantize_iq4_nl / quantize_iq4_xs built on
// quantize_row_iq4_nl_impl, operation for operation: without an importance vector the
// weights are x^2, with one they are qw * sqrt(sigma2 + x^2). The scale searches come
// from a quant_search_ops table (scalar reference or SIMD, same bytes).
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "quant/quants.h"
#include "quant/search.h"

namespace pyggml {

namespace {

// The per-element weights of one super-block of n values: qw * sqrt(sigma2 + x^2) with
// sigma2 = 2 * mean(x^2) under an importance vector qw, else x^2.
void iq4_weights(int n, const float* x, const float* qw, float* weight) {
    if (!qw) {
        for (int j = 0; j < n; ++j) weight[j] = x[j] * x[j];
        return;
    }
    float sigma2 = 0;
    for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / n;
    for (int j = 0; j < n; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

// Two 4-bit grid indices per byte: the first 16 of each 32 in the low nibbles.
void iq4_pack(int n, const uint8_t* L, uint8_t* qs) {
    for (int i = 0; i < n / 32; ++i) {
        for (int j = 0; j < 16; ++j) qs[16 * i + j] = uint8_t(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
    }
}

// ggml quantize_row_iq4_nl_impl for IQ4_NL (one block of 32, ntry = 7), nb blocks at once.
void iq4_nl_blocks(int nb, const float* x, block_iq4_nl* y, const float* qw, const quant_search_ops& ops) {
    float weight[QK_K], scales[QK_K / QK4_NL];  // (nb * 32,), (nb,)
    uint8_t L[QK4_NL];
    for (int ib = 0; ib < nb; ++ib) {
        iq4_weights(QK4_NL, x + QK4_NL * ib, qw ? qw + QK4_NL * ib : nullptr, weight + QK4_NL * ib);
    }
    ops.iq4_scale(nb, QK4_NL, x, weight, scales, 7);
    for (int ib = 0; ib < nb; ++ib) {
        y[ib].d = fp32_to_fp16(scales[ib]);
        const float id = scales[ib] ? 1 / scales[ib] : 0;
        ops.iq4_levels(QK4_NL, x + QK4_NL * ib, id, L);
        iq4_pack(QK4_NL, L, y[ib].qs);
    }
}

// ggml quantize_row_iq4_nl_impl for IQ4_XS (a super-block of 256, blocks of 32, ntry = 7).
void iq4_xs_block(const float* x, block_iq4_xs& y, const float* qw, const quant_search_ops& ops) {
    constexpr int nb = QK_K / 32;
    float weight[QK_K], scales[nb];
    uint8_t L[QK_K];
    iq4_weights(QK_K, x, qw, weight);
    ops.iq4_scale(nb, 32, x, weight, scales, 7);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < nb; ++ib) {
        const float abs_d = std::fabs(scales[ib]);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = scales[ib];
        }
    }
    y.scales_h = 0;
    const float d = -max_scale / 32;
    y.d = fp32_to_fp16(d);
    const float id = d ? 1 / d : 0.f;
    for (int ib = 0; ib < nb; ++ib) {
        int l = nearest_int(id * scales[ib]);
        l = l < -32 ? -32 : (l > 31 ? 31 : l);
        const float dl = d * l;
        const float idl = dl ? 1 / dl : 0.f;
        ops.iq4_levels(32, x + 32 * ib, idl, L + 32 * ib);
        l += 32;
        const uint8_t l_l = uint8_t(l & 0xf);
        const uint8_t l_h = uint8_t(l >> 4);
        if (ib % 2 == 0) y.scales_l[ib / 2] = l_l;
        else y.scales_l[ib / 2] |= uint8_t(l_l << 4);
        y.scales_h = uint16_t(y.scales_h | (l_h << 2 * ib));
    }
    iq4_pack(QK_K, L, y.qs);
}

}  // namespace

// ggml quantize_iq4_nl: each block of 32 on its own, ntry = 7.
size_t quantize_iq4_nl_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                            int64_t n_per_row, const float* imatrix) {
    const int64_t nblock = n_per_row / QK4_NL;
    constexpr int64_t kBatch = QK_K / QK4_NL;
    block_iq4_nl* y = static_cast<block_iq4_nl*>(dst);
    for (int64_t row = 0; row < nrow; ++row, src += n_per_row) {
        for (int64_t ib = 0; ib < nblock; ib += kBatch) {
            const int nb = int(nblock - ib < kBatch ? nblock - ib : kBatch);
            iq4_nl_blocks(nb, src + QK4_NL * ib, y, imatrix ? imatrix + QK4_NL * ib : nullptr, ops);
            y += nb;
        }
    }
    return size_t(nrow * nblock) * sizeof(block_iq4_nl);
}

// ggml quantize_iq4_xs: super-blocks of 256, blocks of 32, ntry = 7.
size_t quantize_iq4_xs_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                            int64_t n_per_row, const float* imatrix) {
    const int64_t nblock = n_per_row / QK_K;
    block_iq4_xs* y = static_cast<block_iq4_xs*>(dst);
    for (int64_t row = 0; row < nrow; ++row, src += n_per_row) {
        for (int64_t ibl = 0; ibl < nblock; ++ibl, ++y) {
            iq4_xs_block(src + QK_K * ibl, *y, imatrix ? imatrix + QK_K * ibl : nullptr, ops);
        }
    }
    return size_t(nrow * nblock) * sizeof(block_iq4_xs);
}

size_t quantize_iq4_nl(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq4_nl_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_iq4_xs(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_iq4_xs_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
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
