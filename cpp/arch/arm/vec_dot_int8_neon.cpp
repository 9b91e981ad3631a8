// vec_dot_int8_neon.cpp: NEON twins of kernels/vec_dot_int8.cpp, one token at a time: the
// integer sums through SDOT (exact, as the reference's), the zero-point formats' activation
// sums through SDOT with ones; the float steps in the reference's order, so the results are
// the reference's bit for bit.
#include <arm_neon.h>

#include <cstring>

#include "arch/arm/neon_tier.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "kernels/vec_dot_rows.h"
#include "quant/weight_formats.h"

namespace pyggml::PYGGML_NEON_TIER {

namespace {

inline const int8_t* i8(const void* p, size_t off) { return reinterpret_cast<const int8_t*>(static_cast<const uint8_t*>(p) + off); }
inline float f32_at(const void* p, size_t off) { return load_f32(static_cast<const uint8_t*>(p) + off); }
inline int32_t i32_at(const void* p, size_t off) {
    int32_t v;
    std::memcpy(&v, static_cast<const uint8_t*>(p) + off, 4);
    return v;
}

// sum a[i] * b[i] over n (a multiple of 32), and (Sum) sum b[i].
template <bool Sum>
inline int32_t isum(const int8_t* a, const int8_t* b, int n, int32_t* bsum) {
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0), s = vdupq_n_s32(0);
    const int8x16_t ones = vdupq_n_s8(1);
    for (int i = 0; i < n; i += 32) {
        const int8x16_t b0 = vld1q_s8(b + i), b1 = vld1q_s8(b + i + 16);
        acc0 = sdot(acc0, vld1q_s8(a + i), b0);
        acc1 = sdot(acc1, vld1q_s8(a + i + 16), b1);
        if (Sum) s = sdot(sdot(s, ones, b0), ones, b1);
    }
    if (Sum) *bsum = vaddvq_s32(s);
    return vaddvq_s32(vaddq_s32(acc0, acc1));
}

float dot_i8_row_a8(int n, const void* x, const void* y) {
    return f32_at(x, 0) * f32_at(y, 0) * float(isum<false>(i8(x, 4), i8(y, 4), n, nullptr));
}

float dot_i8z_row_a8(int n, const void* x, const void* y) {
    int32_t sy = 0;
    const int32_t p = isum<true>(i8(x, 8), i8(y, 4), n, &sy);
    return f32_at(x, 0) * f32_at(y, 0) * float(p - i32_at(x, 4) * sy);
}

float dot_i8_b64_a8(int n, const void* vx, const void* y) {
    const block_i8_64* x = static_cast<const block_i8_64*>(vx);
    const int8_t* qy = i8(y, 4);
    float sum = 0.0f;
    for (int b = 0; b < n / QK_I8B; ++b) sum += x[b].d * float(isum<false>(x[b].qs, qy + b * QK_I8B, QK_I8B, nullptr));
    return sum * f32_at(y, 0);
}

float dot_i8z_b64_a8(int n, const void* vx, const void* y) {
    const block_i8z_64* x = static_cast<const block_i8z_64*>(vx);
    const int8_t* qy = i8(y, 4);
    float sum = 0.0f;
    for (int b = 0; b < n / QK_I8B; ++b) {
        int32_t sy = 0;
        const int32_t p = isum<true>(x[b].qs, qy + b * QK_I8B, QK_I8B, &sy);
        sum += x[b].d * float(p - x[b].z * sy);
    }
    return sum * f32_at(y, 0);
}

float dot_llm_int8_a8_outlier(int n, const void* x, const void* y) {
    const int8_t* qx = i8(x, 4);
    const int32_t n_out = i32_at(y, 4);
    const int32_t* idx = reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(y) + 8 + n);
    const float* xo = reinterpret_cast<const float*>(static_cast<const uint8_t*>(y) + 8 + 5 * size_t(n));
    float outliers = 0.0f;
    for (int32_t k = 0; k < n_out; ++k) outliers += float(qx[idx[k]]) * xo[k];
    const float dw = f32_at(x, 0);
    return dw * f32_at(y, 0) * float(isum<false>(qx, i8(y, 8), n, nullptr)) + dw * outliers;
}

}  // namespace

void register_vec_dot_int8_neon(isa_kernels& k) {
    k.vec_dot[PYGGML_TYPE_I8_ROW].vec_dot = dot_rows<dot_i8_row_a8>;
    k.vec_dot[PYGGML_TYPE_I8Z_ROW].vec_dot = dot_rows<dot_i8z_row_a8>;
    k.vec_dot[PYGGML_TYPE_I8_B64].vec_dot = dot_rows<dot_i8_b64_a8>;
    k.vec_dot[PYGGML_TYPE_I8Z_B64].vec_dot = dot_rows<dot_i8z_b64_a8>;
    k.vec_dot[PYGGML_TYPE_LLM_INT8].vec_dot = dot_rows<dot_llm_int8_a8_outlier>;
}

}  // namespace pyggml::PYGGML_NEON_TIER
