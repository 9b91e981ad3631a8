// int8_formats.cpp: the int8 load-time weight formats (absmax and zero-point; per tensor, row or
// block of 64) and the per-token int8 activations their kernels take, llm.int8's with the
// outlier features split off (core/blocks.h gives the layouts).
//
// Absmax (as bitsandbytes' vector-wise int8): d = absmax / 127, q = round(x * 127 / absmax).
// Zero-point (the LLM.int8() paper's asymmetric int8): the range [min(x, 0), max(x, 0)] onto
// [-128, 127]: d = (max - min) / 255, z = -128 - round(min / d), q = clamp(round(x / d) + z).
// Rounding is to nearest even (nearbyint), as torch.round.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "core/dispatch.h"
#include "core/fp16.h"
#include "quant/weight_formats.h"

namespace pyggml {

namespace {

inline void store_f32(uint8_t* p, float f) { std::memcpy(p, &f, 4); }
inline void store_i32(uint8_t* p, int32_t v) { std::memcpy(p, &v, 4); }
inline int32_t load_i32(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

float absmax_of(const float* x, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
    return m;
}

// absmax -> (d, 127 / absmax); zero: (0, 0).
void absmax_scale(float amax, float* d, float* id) {
    *d = amax / 127.0f;
    *id = amax > 0.0f ? 127.0f / amax : 0.0f;
}

void quantize_absmax(const float* x, int8_t* q, int64_t n, float id) {
    for (int64_t i = 0; i < n; ++i) q[i] = int8_t(std::clamp(std::nearbyint(x[i] * id), -127.0f, 127.0f));
}

struct zero_point {
    float d, id;
    int32_t z;
};

zero_point zero_point_of(float lo, float hi) {
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
    zero_point p{0.0f, 0.0f, 0};
    if (hi > lo) {
        p.d = (hi - lo) / 255.0f;
        p.id = 1.0f / p.d;
        p.z = int32_t(std::clamp(-128.0f - std::nearbyint(lo * p.id), -128.0f, 127.0f));
    }
    return p;
}

void min_max(const float* x, int64_t n, float* lo, float* hi) {
    *lo = 0.0f;
    *hi = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        *lo = std::min(*lo, x[i]);
        *hi = std::max(*hi, x[i]);
    }
}

void quantize_zero_point(const float* x, int8_t* q, int64_t n, const zero_point& p) {
    for (int64_t i = 0; i < n; ++i) {
        q[i] = int8_t(std::clamp(std::nearbyint(x[i] * p.id) + float(p.z), -128.0f, 127.0f));
    }
}

}  // namespace

size_t row_header_i8(int64_t) { return 4; }
size_t row_header_i8z(int64_t) { return 8; }
size_t row_header_a8(int64_t) { return 4; }
size_t row_header_a8_outlier(int64_t) { return 8; }

size_t quantize_tensor_int8(int32_t type, const float* src, void* dst, int64_t nrow, int64_t n, bool per_tensor) {
    const bool row_type = type == PYGGML_TYPE_I8_ROW || type == PYGGML_TYPE_I8Z_ROW || type == PYGGML_TYPE_LLM_INT8;
    if (per_tensor && !row_type) throw std::invalid_argument("a per-tensor scale needs a row format");
    const type_traits* t = get_type_traits(type);
    if (!t || n % t->blck_size) throw std::invalid_argument("quantize_tensor_int8: bad type or row length");
    const size_t rb = row_size(*t, n);
    uint8_t* out = static_cast<uint8_t*>(dst);
    const bool zp = type == PYGGML_TYPE_I8Z_ROW || type == PYGGML_TYPE_I8Z_B64;
    // the tensor's scale, where asked
    float t_lo = 0.0f, t_hi = 0.0f, t_amax = 0.0f;
    if (per_tensor) {
        if (zp) {
            min_max(src, nrow * n, &t_lo, &t_hi);
        } else {
            t_amax = absmax_of(src, nrow * n);
        }
    }
    for (int64_t r = 0; r < nrow; ++r) {
        const float* x = src + r * n;
        uint8_t* y = out + size_t(r) * rb;
        if (type == PYGGML_TYPE_I8_ROW || type == PYGGML_TYPE_LLM_INT8) {
            float d, id;
            absmax_scale(per_tensor ? t_amax : absmax_of(x, n), &d, &id);
            store_f32(y, d);
            quantize_absmax(x, reinterpret_cast<int8_t*>(y + 4), n, id);
        } else if (type == PYGGML_TYPE_I8Z_ROW) {
            float lo = t_lo, hi = t_hi;
            if (!per_tensor) min_max(x, n, &lo, &hi);
            const zero_point p = zero_point_of(lo, hi);
            store_f32(y, p.d);
            store_i32(y + 4, p.z);
            quantize_zero_point(x, reinterpret_cast<int8_t*>(y + 8), n, p);
        } else if (type == PYGGML_TYPE_I8_B64) {
            block_i8_64* b = reinterpret_cast<block_i8_64*>(y);
            for (int64_t i = 0; i < n / QK_I8B; ++i) {
                float d, id;
                absmax_scale(absmax_of(x + i * QK_I8B, QK_I8B), &d, &id);
                b[i].d = d;
                quantize_absmax(x + i * QK_I8B, b[i].qs, QK_I8B, id);
            }
        } else {  // I8Z_B64
            block_i8z_64* b = reinterpret_cast<block_i8z_64*>(y);
            for (int64_t i = 0; i < n / QK_I8B; ++i) {
                float lo, hi;
                min_max(x + i * QK_I8B, QK_I8B, &lo, &hi);
                const zero_point p = zero_point_of(lo, hi);
                b[i].d = p.d;
                b[i].z = p.z;
                quantize_zero_point(x + i * QK_I8B, b[i].qs, QK_I8B, p);
            }
        }
    }
    return rb * size_t(nrow);
}

void dequantize_row_i8_row(const void* vx, float* y, int64_t k) {
    const uint8_t* x = static_cast<const uint8_t*>(vx);
    const float d = load_f32(x);
    const int8_t* q = reinterpret_cast<const int8_t*>(x + 4);
    for (int64_t i = 0; i < k; ++i) y[i] = d * float(q[i]);
}

void dequantize_row_a8(const void* vx, float* y, int64_t k) { dequantize_row_i8_row(vx, y, k); }

void dequantize_row_i8z_row(const void* vx, float* y, int64_t k) {
    const uint8_t* x = static_cast<const uint8_t*>(vx);
    const float d = load_f32(x);
    const int32_t z = load_i32(x + 4);
    const int8_t* q = reinterpret_cast<const int8_t*>(x + 8);
    for (int64_t i = 0; i < k; ++i) y[i] = d * float(int32_t(q[i]) - z);
}

void dequantize_row_i8_b64(const void* vx, float* y, int64_t k) {
    const block_i8_64* b = static_cast<const block_i8_64*>(vx);
    for (int64_t i = 0; i < k / QK_I8B; ++i) {
        for (int j = 0; j < QK_I8B; ++j) y[i * QK_I8B + j] = b[i].d * float(b[i].qs[j]);
    }
}

void dequantize_row_i8z_b64(const void* vx, float* y, int64_t k) {
    const block_i8z_64* b = static_cast<const block_i8z_64*>(vx);
    for (int64_t i = 0; i < k / QK_I8B; ++i) {
        for (int j = 0; j < QK_I8B; ++j) y[i * QK_I8B + j] = b[i].d * float(int32_t(b[i].qs[j]) - b[i].z);
    }
}

void quantize_row_a8_ref(const float* x, void* vy, int64_t k) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    float d, id;
    absmax_scale(absmax_of(x, k), &d, &id);
    store_f32(y, d);
    quantize_absmax(x, reinterpret_cast<int8_t*>(y + 4), k, id);
}

std::vector<int32_t> outlier_columns(const float* x, int64_t n_tokens, int64_t k, float threshold) {
    std::vector<uint8_t> hit(size_t(k), 0);
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t i = 0; i < k; ++i) hit[size_t(i)] |= uint8_t(std::fabs(x[t * k + i]) >= threshold);
    }
    std::vector<int32_t> cols;
    for (int64_t i = 0; i < k; ++i) {
        if (hit[size_t(i)]) cols.push_back(int32_t(i));
    }
    return cols;
}

// The outlier columns leave the int8 part (their quants zero, the inliers' absmax the scale):
// their values, rounded to float16 as bitsandbytes' 16-bit product takes them, go to xo.
void quantize_row_a8_outlier_ref(const float* x, void* vy, int64_t k, const int32_t* cols, int32_t n_cols) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    int8_t* q = reinterpret_cast<int8_t*>(y + 8);
    int32_t* idx = reinterpret_cast<int32_t*>(y + 8 + k);
    float* xo = reinterpret_cast<float*>(y + 8 + 5 * k);
    float amax = 0.0f;
    int32_t c = 0;
    for (int64_t i = 0; i < k; ++i) {
        if (c < n_cols && cols[c] == i) {
            idx[c] = int32_t(i);
            xo[c] = fp16_to_fp32(fp32_to_fp16(x[i]));
            ++c;
        } else {
            amax = std::max(amax, std::fabs(x[i]));
        }
    }
    std::memset(idx + n_cols, 0, size_t(k - n_cols) * sizeof(int32_t));  // the unused tails: zero
    std::memset(xo + n_cols, 0, size_t(k - n_cols) * sizeof(float));
    float d, id;
    absmax_scale(amax, &d, &id);
    store_f32(y, d);
    store_i32(y + 4, n_cols);
    quantize_absmax(x, q, k, id);
    for (int32_t j = 0; j < n_cols; ++j) q[cols[j]] = 0;
}

}  // namespace pyggml
