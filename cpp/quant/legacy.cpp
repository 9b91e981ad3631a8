// legacy.cpp: the 32-element block formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
//
// Reference quantizers follow ggml-quants.c (quantize_row_*_ref) operation for
// operation, so their output is byte-identical to ggml's and gguf.quants'.
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "quant/quants.h"
#include "quant/search.h"

namespace pyggml {

namespace {

template <typename T>
T min_of(T a, T b) { return a < b ? a : b; }

// Largest-magnitude element of a block, with its sign (ties keep the first).
inline float signed_absmax(const float* x, int n, float* amax_out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float v = x[j];
        if (amax < std::fabs(v)) { amax = std::fabs(v); max = v; }
    }
    if (amax_out) *amax_out = amax;
    return max;
}

inline void min_max(const float* x, int n, float* mn, float* mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; ++j) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

// Apply a row quantizer to nrow rows (the legacy types ignore the importance vector).
template <typename Block, void (*RowRef)(const float*, Block*, int64_t)>
size_t quantize_rows(const float* src, void* dst, int64_t nrow, int64_t n_per_row) {
    const size_t row_bytes = size_t(n_per_row / 32) * sizeof(Block);
    char* out = static_cast<char*>(dst);
    for (int64_t r = 0; r < nrow; ++r) {
        RowRef(src + r * n_per_row, reinterpret_cast<Block*>(out + r * row_bytes), n_per_row);
    }
    return size_t(nrow) * row_bytes;
}

}  // namespace

void quantize_row_q4_0_ref(const float* x, block_q4_0* y, int64_t k) {
    const int qk = QK4_0;
    for (int64_t i = 0; i < k / qk; ++i, x += qk) {
        const float max = signed_absmax(x, qk, nullptr);
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = x[j] * id;
            const float x1 = x[qk / 2 + j] * id;
            const uint8_t xi0 = min_of<int8_t>(15, int8_t(x0 + 8.5f));
            const uint8_t xi1 = min_of<int8_t>(15, int8_t(x1 + 8.5f));
            y[i].qs[j] = uint8_t(xi0 | (xi1 << 4));
        }
    }
}

void quantize_row_q4_1_ref(const float* x, block_q4_1* y, int64_t k) {
    const int qk = QK4_1;
    for (int64_t i = 0; i < k / qk; ++i, x += qk) {
        float min, max;
        min_max(x, qk, &min, &max);
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = (x[j] - min) * id;
            const float x1 = (x[qk / 2 + j] - min) * id;
            const uint8_t xi0 = min_of<int8_t>(15, int8_t(x0 + 0.5f));
            const uint8_t xi1 = min_of<int8_t>(15, int8_t(x1 + 0.5f));
            y[i].qs[j] = uint8_t(xi0 | (xi1 << 4));
        }
    }
}

void quantize_row_q5_0_ref(const float* x, block_q5_0* y, int64_t k) {
    const int qk = QK5_0;
    for (int64_t i = 0; i < k / qk; ++i, x += qk) {
        const float max = signed_absmax(x, qk, nullptr);
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = x[j] * id;
            const float x1 = x[qk / 2 + j] * id;
            const uint8_t xi0 = min_of<int8_t>(31, int8_t(x0 + 16.5f));
            const uint8_t xi1 = min_of<int8_t>(31, int8_t(x1 + 16.5f));
            y[i].qs[j] = uint8_t((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
            qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
        }
        std::memcpy(y[i].qh, &qh, sizeof(qh));
    }
}

void quantize_row_q5_1_ref(const float* x, block_q5_1* y, int64_t k) {
    const int qk = QK5_1;
    for (int64_t i = 0; i < k / qk; ++i, x += qk) {
        float min, max;
        min_max(x, qk, &min, &max);
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = (x[j] - min) * id;
            const float x1 = (x[qk / 2 + j] - min) * id;
            const uint8_t xi0 = uint8_t(x0 + 0.5f);
            const uint8_t xi1 = uint8_t(x1 + 0.5f);
            y[i].qs[j] = uint8_t((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
            qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
        }
        std::memcpy(y[i].qh, &qh, sizeof(qh));
    }
}

void quantize_row_q8_0_ref(const float* x, block_q8_0* y, int64_t k) {
    const int qk = QK8_0;
    for (int64_t i = 0; i < k / qk; ++i, x += qk) {
        float amax = 0.0f;
        for (int j = 0; j < qk; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < qk; ++j) y[i].qs[j] = int8_t(std::round(x[j] * id));
    }
}

void quantize_row_q8_1_ref(const float* x, block_q8_1* y, int64_t k) {
    const int qk = QK8_1;
    for (int64_t i = 0; i < k / qk; ++i, x += qk) {
        float amax = 0.0f;
        for (int j = 0; j < qk; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < qk / 2; ++j) {
            y[i].qs[j] = int8_t(std::round(x[j] * id));
            y[i].qs[qk / 2 + j] = int8_t(std::round(x[qk / 2 + j] * id));
            sum += y[i].qs[j] + y[i].qs[qk / 2 + j];
        }
        y[i].s = fp32_to_fp16(sum * d);
    }
}

void dequantize_row_q4_0(const void* vx, float* y, int64_t k) {
    const block_q4_0* x = static_cast<const block_q4_0*>(vx);
    const int qk = QK4_0;
    for (int64_t i = 0; i < k / qk; ++i, y += qk) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < qk / 2; ++j) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + qk / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_row_q4_1(const void* vx, float* y, int64_t k) {
    const block_q4_1* x = static_cast<const block_q4_1*>(vx);
    const int qk = QK4_1;
    for (int64_t i = 0; i < k / qk; ++i, y += qk) {
        const float d = fp16_to_fp32(x[i].d);
        const float m = fp16_to_fp32(x[i].m);
        for (int j = 0; j < qk / 2; ++j) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + qk / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

void dequantize_row_q5_0(const void* vx, float* y, int64_t k) {
    const block_q5_0* x = static_cast<const block_q5_0*>(vx);
    const int qk = QK5_0;
    for (int64_t i = 0; i < k / qk; ++i, y += qk) {
        const float d = fp16_to_fp32(x[i].d);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, sizeof(qh));
        for (int j = 0; j < qk / 2; ++j) {
            const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
            const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
            const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
            const int32_t x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
            y[j] = x0 * d;
            y[j + qk / 2] = x1 * d;
        }
    }
}

void dequantize_row_q5_1(const void* vx, float* y, int64_t k) {
    const block_q5_1* x = static_cast<const block_q5_1*>(vx);
    const int qk = QK5_1;
    for (int64_t i = 0; i < k / qk; ++i, y += qk) {
        const float d = fp16_to_fp32(x[i].d);
        const float m = fp16_to_fp32(x[i].m);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, sizeof(qh));
        for (int j = 0; j < qk / 2; ++j) {
            const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
            const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
            const int x0 = (x[i].qs[j] & 0x0F) | xh_0;
            const int x1 = (x[i].qs[j] >> 4) | xh_1;
            y[j] = x0 * d + m;
            y[j + qk / 2] = x1 * d + m;
        }
    }
}

void dequantize_row_q8_0(const void* vx, float* y, int64_t k) {
    const block_q8_0* x = static_cast<const block_q8_0*>(vx);
    const int qk = QK8_0;
    for (int64_t i = 0; i < k / qk; ++i, y += qk) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < qk; ++j) y[j] = x[i].qs[j] * d;
    }
}

void dequantize_row_q8_1(const void* vx, float* y, int64_t k) {
    const block_q8_1* x = static_cast<const block_q8_1*>(vx);
    const int qk = QK8_1;
    for (int64_t i = 0; i < k / qk; ++i, y += qk) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < qk; ++j) y[j] = x[i].qs[j] * d;
    }
}

// ---------------------------------------------------------------- importance-weighted rows
//
// ggml's quantize_row_q4_0_impl .. quantize_row_q5_1_impl: with an importance vector qw
// (one weight per column), each block's levels come from make_qx_quants (symmetric types)
// or make_qkx3_quants (types with a min) under weights qw * sqrt(sigma2 + x^2), sigma2
// being the row's mean square.

namespace {

float row_sigma2(const float* x, int64_t n_per_row) {
    float sum_x2 = 0;
    for (int64_t j = 0; j < n_per_row; ++j) sum_x2 += x[j] * x[j];
    return sum_x2 / n_per_row;
}

inline void importance_weights(const float* xb, const float* qw, float sigma2, float* weight) {
    for (int j = 0; j < 32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
}

// Pack 32 5-bit levels into the low nibbles and the 32-bit high-bit mask of Q5_0/Q5_1.
template <typename L_t>
inline void pack_5bit(const L_t* L, uint8_t* qs, uint8_t* qh_out) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        const uint8_t xi0 = uint8_t(L[j]);
        const uint8_t xi1 = uint8_t(L[j + 16]);
        qs[j] = uint8_t((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
        qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
        qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(qh_out, &qh, sizeof(qh));
}

// ggml quantize_row_q4_0_impl (quant_weights given)
void quantize_row_q4_0_impl(const float* x, block_q4_0* y, int64_t n_per_row, const float* quant_weights) {
    float weight[QK4_0];
    int8_t L[QK4_0];
    const float sigma2 = row_sigma2(x, n_per_row);
    for (int64_t ib = 0; ib < n_per_row / QK4_0; ++ib) {
        const float* xb = x + QK4_0 * ib;
        importance_weights(xb, quant_weights + QK4_0 * ib, sigma2, weight);
        const float d = make_qx_quants(QK4_0, 8, xb, L, 1, weight);
        y[ib].d = fp32_to_fp16(d);
        for (int j = 0; j < 16; ++j) y[ib].qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
    }
}

// ggml quantize_row_q4_1_impl (quant_weights given)
void quantize_row_q4_1_impl(const float* x, block_q4_1* y, int64_t n_per_row, const float* quant_weights) {
    float weight[QK4_1];
    uint8_t L[QK4_1], Laux[QK4_1];
    const float sigma2 = row_sigma2(x, n_per_row);
    for (int64_t ib = 0; ib < n_per_row / QK4_1; ++ib) {
        const float* xb = x + QK4_1 * ib;
        importance_weights(xb, quant_weights + QK4_1 * ib, sigma2, weight);
        float min;
        const float d = make_qkx3_quants(QK4_1, 15, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
        y[ib].d = fp32_to_fp16(d);
        y[ib].m = fp32_to_fp16(-min);
        for (int j = 0; j < 16; ++j) y[ib].qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
    }
}

// ggml quantize_row_q5_0_impl (quant_weights given)
void quantize_row_q5_0_impl(const float* x, block_q5_0* y, int64_t n_per_row, const float* quant_weights) {
    float weight[QK5_0];
    int8_t L[QK5_0];
    const float sigma2 = row_sigma2(x, n_per_row);
    for (int64_t ib = 0; ib < n_per_row / QK5_0; ++ib) {
        const float* xb = x + QK5_0 * ib;
        importance_weights(xb, quant_weights + QK5_0 * ib, sigma2, weight);
        const float d = make_qx_quants(QK5_0, 16, xb, L, 1, weight);
        y[ib].d = fp32_to_fp16(d);
        pack_5bit(L, y[ib].qs, y[ib].qh);
    }
}

// ggml quantize_row_q5_1_impl (quant_weights given)
void quantize_row_q5_1_impl(const float* x, block_q5_1* y, int64_t n_per_row, const float* quant_weights) {
    float weight[QK5_1];
    uint8_t L[QK5_1], Laux[QK5_1];
    const float sigma2 = row_sigma2(x, n_per_row);
    for (int64_t ib = 0; ib < n_per_row / QK5_1; ++ib) {
        const float* xb = x + QK5_1 * ib;
        importance_weights(xb, quant_weights + QK5_1 * ib, sigma2, weight);
        float min;
        const float d = make_qkx3_quants(QK5_1, 31, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
        y[ib].d = fp32_to_fp16(d);
        y[ib].m = fp32_to_fp16(-min);
        pack_5bit(L, y[ib].qs, y[ib].qh);
    }
}

// ggml quantize_qX_Y: the reference rows without an importance vector, else the _impl rows.
template <typename Block, void (*RowRef)(const float*, Block*, int64_t),
          void (*RowImpl)(const float*, Block*, int64_t, const float*)>
size_t quantize_rows_weighted(const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                              const float* imatrix) {
    if (!imatrix) return quantize_rows<Block, RowRef>(src, dst, nrow, n_per_row);
    const size_t row_bytes = size_t(n_per_row / 32) * sizeof(Block);
    char* out = static_cast<char*>(dst);
    for (int64_t r = 0; r < nrow; ++r) {
        RowImpl(src + r * n_per_row, reinterpret_cast<Block*>(out + r * row_bytes), n_per_row, imatrix);
    }
    return size_t(nrow) * row_bytes;
}

}  // namespace

size_t quantize_q4_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_rows_weighted<block_q4_0, quantize_row_q4_0_ref, quantize_row_q4_0_impl>(src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q4_1(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_rows_weighted<block_q4_1, quantize_row_q4_1_ref, quantize_row_q4_1_impl>(src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q5_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_rows_weighted<block_q5_0, quantize_row_q5_0_ref, quantize_row_q5_0_impl>(src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q5_1(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_rows_weighted<block_q5_1, quantize_row_q5_1_ref, quantize_row_q5_1_impl>(src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q8_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    return quantize_rows<block_q8_0, quantize_row_q8_0_ref>(src, dst, nrow, n_per_row);
}
size_t quantize_q8_1(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    return quantize_rows<block_q8_1, quantize_row_q8_1_ref>(src, dst, nrow, n_per_row);
}

}  // namespace pyggml
