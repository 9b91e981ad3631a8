// ternary.cpp: TQ1_0 and TQ2_0, ternary weights {-1, 0, 1} times one fp16 scale (the
// block's absolute maximum), for BitNet b1.58 and TriLM models.
//
// TQ1_0 packs five trits a byte as the fraction q / 243 rounded up to q * 256 / 243, so
// that multiplying the byte by 3^n (mod 256) and taking (b * 3) >> 8 yields trit n;
// TQ2_0 stores value + 1 in two bits. Operation for operation as ggml-quants.c.
#include <cmath>
#include <initializer_list>

#include "core/fp16.h"
#include "quant/quants.h"

namespace pyggml {

namespace {

constexpr uint8_t kPow3[6] = {1, 3, 9, 27, 81, 243};

// Trit n (0..4, most significant first) of a TQ1_0 byte, as -1, 0 or 1.
inline int tq1_trit(uint8_t b, int n) {
    const uint8_t q = uint8_t(b * kPow3[n]);
    return ((uint16_t(q) * 3) >> 8) - 1;
}

inline float block_absmax(const float* x) {
    float amax = 0.0f;
    for (int j = 0; j < QK_K; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    return amax;
}

// q (base-3 digits, value < 243) as the byte ceil(q * 256 / 243).
inline uint8_t trits_to_byte(uint8_t q) { return uint8_t((uint16_t(q) * 256 + (243 - 1)) / 243); }

}  // namespace

void quantize_row_tq1_0_ref(const float* x, block_tq1_0* y, int64_t k) {
    constexpr size_t n_qs = sizeof(y->qs), n_qh = sizeof(y->qh);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const float d = block_absmax(x);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        // five elements a byte: 32 bytes at a time, then 16
        size_t j = 0;
        for (size_t width : {size_t(32), size_t(16)}) {
            const size_t end = width == 32 ? n_qs - n_qs % 32 : n_qs;
            for (; j < end; j += width) {
                for (size_t m = 0; m < width; ++m) {
                    uint8_t q = 0;
                    for (size_t n = 0; n < 5; ++n) q = uint8_t(q * 3 + (std::lround(x[m + n * width] * id) + 1));
                    y[i].qs[j + m] = trits_to_byte(q);
                }
                x += 5 * width;
            }
        }
        // four elements a byte, the first in the most significant trit
        for (size_t jh = 0; jh < n_qh; ++jh) {
            uint8_t q = 0;
            for (size_t m = 0; m < 4; ++m) q = uint8_t(q * 3 + (std::lround(x[jh + m * n_qh] * id) + 1));
            y[i].qh[jh] = trits_to_byte(uint8_t(q * 3));
        }
        x += 4 * n_qh;
    }
}

void quantize_row_tq2_0_ref(const float* x, block_tq2_0* y, int64_t k) {
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const float d = block_absmax(x);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (size_t j = 0; j < sizeof(y->qs); j += 32) {
            for (size_t m = 0; m < 32; ++m) {
                uint8_t q = 0;
                for (size_t n = 0; n < 4; ++n) q = uint8_t(q + ((int(std::lround(x[m + n * 32] * id)) + 1) & 3) * (1 << (2 * n)));
                y[i].qs[j + m] = q;
            }
            x += 4 * 32;
        }
    }
}

void dequantize_row_tq1_0(const void* vx, float* y, int64_t k) {
    const block_tq1_0* x = static_cast<const block_tq1_0*>(vx);
    constexpr size_t n_qs = sizeof(x->qs), n_qh = sizeof(x->qh);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        size_t j = 0;
        for (size_t width : {size_t(32), size_t(16)}) {
            const size_t end = width == 32 ? n_qs - n_qs % 32 : n_qs;
            for (; j < end; j += width) {
                for (int n = 0; n < 5; ++n) {
                    for (size_t m = 0; m < width; ++m) *y++ = float(tq1_trit(x[i].qs[j + m], n)) * d;
                }
            }
        }
        for (int n = 0; n < 4; ++n) {
            for (size_t jh = 0; jh < n_qh; ++jh) *y++ = float(tq1_trit(x[i].qh[jh], n)) * d;
        }
    }
}

void dequantize_row_tq2_0(const void* vx, float* y, int64_t k) {
    const block_tq2_0* x = static_cast<const block_tq2_0*>(vx);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (size_t j = 0; j < sizeof(x->qs); j += 32) {
            for (int l = 0; l < 4; ++l) {
                for (size_t m = 0; m < 32; ++m) *y++ = float(((x[i].qs[j + m] >> (2 * l)) & 3) - 1) * d;
            }
        }
    }
}

size_t quantize_tq1_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    quantize_row_tq1_0_ref(src, static_cast<block_tq1_0*>(dst), nrow * n_per_row);
    return size_t(nrow * (n_per_row / QK_K)) * sizeof(block_tq1_0);
}

size_t quantize_tq2_0(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    quantize_row_tq2_0_ref(src, static_cast<block_tq2_0*>(dst), nrow * n_per_row);
    return size_t(nrow * (n_per_row / QK_K)) * sizeof(block_tq2_0);
}

}  // namespace pyggml
