// vec_dot_int8.cpp: scalar reference dot kernels of the int8 load-time formats against
// per-token int8 activations (A8_ROW), and llm.int8's (LLM_INT8 against A8_OUTLIER).
//
// The integer sums are exact; each scale group (the row, or a block of 64) contributes
// d_w * isum (zero point: d_w * (isum - z * sum of the activation quants)), the row's total
// then scaled by the token's d. llm.int8 adds its outlier features in float: d_w * q_w[i] * xo
// (bitsandbytes' inference path multiplies the outlier columns of the dequantized int8 weight
// with the 16-bit outlier activations).
#include <cstring>

#include "core/blocks.h"
#include "core/dispatch.h"
#include "kernels/vec_dot_rows.h"
#include "quant/weight_formats.h"

namespace pyggml {

namespace {

inline const int8_t* i8(const void* p, size_t off) { return reinterpret_cast<const int8_t*>(static_cast<const uint8_t*>(p) + off); }
inline float f32_at(const void* p, size_t off) { return load_f32(static_cast<const uint8_t*>(p) + off); }
inline int32_t i32_at(const void* p, size_t off) {
    int32_t v;
    std::memcpy(&v, static_cast<const uint8_t*>(p) + off, 4);
    return v;
}

int32_t isum_i8(const int8_t* a, const int8_t* b, int n) {
    int32_t s = 0;
    for (int i = 0; i < n; ++i) s += int32_t(a[i]) * int32_t(b[i]);
    return s;
}

int32_t sum_i8(const int8_t* a, int n) {
    int32_t s = 0;
    for (int i = 0; i < n; ++i) s += a[i];
    return s;
}

float dot_i8_row_a8(int n, const void* x, const void* y) {
    return f32_at(x, 0) * f32_at(y, 0) * float(isum_i8(i8(x, 4), i8(y, 4), n));
}

float dot_i8z_row_a8(int n, const void* x, const void* y) {
    const int8_t* qy = i8(y, 4);
    const int32_t isum = isum_i8(i8(x, 8), qy, n) - i32_at(x, 4) * sum_i8(qy, n);
    return f32_at(x, 0) * f32_at(y, 0) * float(isum);
}

float dot_i8_b64_a8(int n, const void* vx, const void* y) {
    const block_i8_64* x = static_cast<const block_i8_64*>(vx);
    const int8_t* qy = i8(y, 4);
    float sum = 0.0f;
    for (int b = 0; b < n / QK_I8B; ++b) sum += x[b].d * float(isum_i8(x[b].qs, qy + b * QK_I8B, QK_I8B));
    return sum * f32_at(y, 0);
}

float dot_i8z_b64_a8(int n, const void* vx, const void* y) {
    const block_i8z_64* x = static_cast<const block_i8z_64*>(vx);
    const int8_t* qy = i8(y, 4);
    float sum = 0.0f;
    for (int b = 0; b < n / QK_I8B; ++b) {
        const int8_t* q = qy + b * QK_I8B;
        sum += x[b].d * float(isum_i8(x[b].qs, q, QK_I8B) - x[b].z * sum_i8(q, QK_I8B));
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
    return dw * f32_at(y, 0) * float(isum_i8(qx, i8(y, 8), n)) + dw * outliers;  // no outliers: I8_ROW's value
}

}  // namespace

void register_vec_dot_int8(isa_kernels& k) {
    k.vec_dot[PYGGML_TYPE_I8_ROW] = {PYGGML_TYPE_A8_ROW, nullptr, dot_rows<dot_i8_row_a8>};
    k.vec_dot[PYGGML_TYPE_I8Z_ROW] = {PYGGML_TYPE_A8_ROW, nullptr, dot_rows<dot_i8z_row_a8>};
    k.vec_dot[PYGGML_TYPE_I8_B64] = {PYGGML_TYPE_A8_ROW, nullptr, dot_rows<dot_i8_b64_a8>};
    k.vec_dot[PYGGML_TYPE_I8Z_B64] = {PYGGML_TYPE_A8_ROW, nullptr, dot_rows<dot_i8z_b64_a8>};
    k.vec_dot[PYGGML_TYPE_LLM_INT8] = {PYGGML_TYPE_A8_OUTLIER, nullptr, dot_rows<dot_llm_int8_a8_outlier>};
}

}  // namespace pyggml
