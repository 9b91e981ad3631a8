// fp4.cpp: the 4-bit float formats MXFP4 (E8M0 scale per 32) and NVFP4 (UE4M3 scale per 16).
//
// Each element is the E2M1 value nearest to x / scale (kvalues_fp4, first of equals on a
// tie); the quantizers follow ggml-quants.c operation for operation, so the bytes are
// ggml's. Neither takes an importance vector (ggml's ignore it too).
#include <cmath>

#include "core/fp8.h"
#include "quant/quants.h"

namespace pyggml {

namespace {

// Index of the kvalues_fp4 entry whose value times d is nearest to x (first on ties).
inline uint8_t best_index_fp4(float x, float d) {
    int best = 0;
    float best_err = std::fabs(kvalues_fp4[0] * d - x);
    for (int i = 1; i < 16; ++i) {
        const float err = std::fabs(kvalues_fp4[i] * d - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return uint8_t(best);
}

}  // namespace

void quantize_row_mxfp4_ref(const float* x, block_mxfp4* y, int64_t k) {
    for (int64_t i = 0; i < k / QK_MXFP4; ++i) {
        const float* xb = x + i * QK_MXFP4;
        float amax = 0.0f;
        for (int j = 0; j < QK_MXFP4; ++j) {
            if (amax < std::fabs(xb[j])) amax = std::fabs(xb[j]);
        }
        // ggml converts the float to uint8_t directly; on x86-64 that is its low byte
        const uint8_t e = amax > 0.0f ? uint8_t(int(std::floor(std::log2(amax)) - 2 + 127)) : 0;
        const float d = e8m0_to_fp32_half(e);
        y[i].e = e;
        for (int j = 0; j < QK_MXFP4 / 2; ++j) {
            y[i].qs[j] = uint8_t(best_index_fp4(xb[j], d) | best_index_fp4(xb[QK_MXFP4 / 2 + j], d) << 4);
        }
    }
}

void quantize_row_nvfp4_ref(const float* x, block_nvfp4* y, int64_t k) {
    constexpr int n_sub = QK_NVFP4 / QK_NVFP4_SUB;
    for (int64_t i = 0; i < k / QK_NVFP4; ++i) {
        for (int s = 0; s < n_sub; ++s) {
            const float* xb = x + i * QK_NVFP4 + s * QK_NVFP4_SUB;
            float amax = 0.0f;
            for (int j = 0; j < QK_NVFP4_SUB; ++j) {
                if (amax < std::fabs(xb[j])) amax = std::fabs(xb[j]);
            }
            const uint8_t ue = fp32_to_ue4m3(amax / 6.0f);
            y[i].d[s] = ue;
            const float d = ue4m3_to_fp32_half(ue);
            for (int j = 0; j < QK_NVFP4_SUB / 2; ++j) {
                y[i].qs[s * (QK_NVFP4_SUB / 2) + j] =
                    uint8_t(best_index_fp4(xb[j], d) | best_index_fp4(xb[QK_NVFP4_SUB / 2 + j], d) << 4);
            }
        }
    }
}

void dequantize_row_mxfp4(const void* vx, float* y, int64_t k) {
    const block_mxfp4* x = static_cast<const block_mxfp4*>(vx);
    for (int64_t i = 0; i < k / QK_MXFP4; ++i) {
        const float d = e8m0_to_fp32_half(x[i].e);
        for (int j = 0; j < QK_MXFP4 / 2; ++j) {
            y[i * QK_MXFP4 + j] = kvalues_fp4[x[i].qs[j] & 0xF] * d;
            y[i * QK_MXFP4 + j + QK_MXFP4 / 2] = kvalues_fp4[x[i].qs[j] >> 4] * d;
        }
    }
}

void dequantize_row_nvfp4(const void* vx, float* y, int64_t k) {
    const block_nvfp4* x = static_cast<const block_nvfp4*>(vx);
    constexpr int half = QK_NVFP4_SUB / 2;
    for (int64_t i = 0; i < k / QK_NVFP4; ++i) {
        for (int s = 0; s < QK_NVFP4 / QK_NVFP4_SUB; ++s) {
            const float d = ue4m3_to_fp32_half(x[i].d[s]);
            float* yb = y + i * QK_NVFP4 + s * QK_NVFP4_SUB;
            for (int j = 0; j < half; ++j) {
                yb[j] = kvalues_fp4[x[i].qs[s * half + j] & 0xF] * d;
                yb[j + half] = kvalues_fp4[x[i].qs[s * half + j] >> 4] * d;
            }
        }
    }
}

size_t quantize_mxfp4(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    quantize_row_mxfp4_ref(src, static_cast<block_mxfp4*>(dst), nrow * n_per_row);
    return size_t(nrow * (n_per_row / QK_MXFP4)) * sizeof(block_mxfp4);
}

size_t quantize_nvfp4(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float*) {
    quantize_row_nvfp4_ref(src, static_cast<block_nvfp4*>(dst), nrow * n_per_row);
    return size_t(nrow * (n_per_row / QK_NVFP4)) * sizeof(block_nvfp4);
}

}  // namespace pyggml
