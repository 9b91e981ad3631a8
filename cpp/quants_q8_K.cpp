// quants_q8_K.cpp: Q8_K, the activation format of the k-quant dot products.
//
// Follows ggml's quantize_row_q8_K_ref: scale -127 / (signed absmax), round to
// nearest even, clamp to 127, and keep the sum of every 16 quants in bsums.
#include <cmath>
#include <cstring>

#include "quants.h"

namespace pyggml {

namespace {

// Round to nearest, ties to even, for |f| < 2^22 (ggml's nearest_int).
inline int nearest_int(float f) {
    const float val = f + 12582912.0f;
    int32_t i;
    std::memcpy(&i, &val, 4);
    return (i & 0x007fffff) - 0x00400000;
}

}  // namespace

void quantize_row_q8_K_ref(const float* x, block_q8_K* y, int64_t k) {
    for (int64_t i = 0; i < k / QK_K; ++i, x += QK_K) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (!amax) {
            y[i].d = 0.0f;
            std::memset(y[i].qs, 0, sizeof(y[i].qs));
            std::memset(y[i].bsums, 0, sizeof(y[i].bsums));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; ++j) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = int8_t(v < 127 ? v : 127);
        }
        for (int g = 0; g < QK_K / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += y[i].qs[16 * g + j];
            y[i].bsums[g] = int16_t(sum);
        }
        y[i].d = 1.0f / iscale;
    }
}

}  // namespace pyggml
