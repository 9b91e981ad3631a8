// bnb4.cpp: bitsandbytes' 4-bit formats, NF4 and FP4: blocks of 64 scaled by their absmax, each
// value the nearest entry of a 16-value code book (core/blocks.h: kvalues_nf4, kvalues_bnb_fp4),
// and the double quantization that stores the block absmaxes in 8 bits.
//
// As bitsandbytes' quantize_4bit: scaled = clamp(x * (1 / absmax), -1, 1), the code is the bucket
// of the sorted code book's midpoints that holds it (torch.bucketize: a value on a midpoint goes
// to the lower entry), two codes a byte, the first in the high nibble. Double quantization (its
// compress_statistics): offset = mean of the tensor's absmaxes; absmax - offset quantized
// blockwise in groups of 256 with the dynamic 8-bit map (absmax of the group, the nearest map
// entry by the same bucket rule). bitsandbytes groups the scales of the flattened tensor; here a
// group never crosses a row (a row's last group may be shorter), so that a kernel finds a row's
// scales in its row; where a row holds a multiple of 256 blocks the two agree.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "core/dispatch.h"
#include "quant/weight_formats.h"

namespace pyggml {

namespace {

inline void store_f32(uint8_t* p, float f) { std::memcpy(p, &f, 4); }

// torch.linspace(start, end, steps) in float32: from both ends towards the middle.
std::vector<float> linspace_f32(float start, float end, int steps) {
    std::vector<float> v{};
    v.resize(size_t(steps));
    const float step = (end - start) / float(steps - 1);
    for (int i = 0; i < steps; ++i) v[size_t(i)] = i < steps / 2 ? start + step * float(i) : end - step * float(steps - 1 - i);
    return v;
}

std::vector<float> make_dynamic_map() {
    // create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)
    std::vector<float> data;
    for (int i = 0; i < 7; ++i) {
        const int items = (1 << i) + 1;
        const std::vector<float> b = linspace_f32(0.1f, 1.0f, items);
        const float scale = float(std::pow(10.0, double(-6 + i)));
        for (int j = 0; j + 1 < items; ++j) data.push_back(scale * ((b[size_t(j)] + b[size_t(j) + 1]) / 2.0f));
        for (int j = 0; j + 1 < items; ++j) data.push_back(-scale * ((b[size_t(j)] + b[size_t(j) + 1]) / 2.0f));
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    std::sort(data.begin(), data.end());
    return data;
}

// A code book sorted, its midpoints, and the code of each sorted position.
struct code_book {
    std::vector<float> mid;
    std::vector<uint8_t> code;
};

code_book sorted_book(const float* values, int n) {
    std::vector<int> order(static_cast<size_t>(n), 0);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return values[a] < values[b]; });
    code_book c;
    for (int i = 0; i < n; ++i) c.code.push_back(uint8_t(order[size_t(i)]));
    for (int i = 0; i + 1 < n; ++i) c.mid.push_back((values[order[size_t(i)]] + values[order[size_t(i) + 1]]) / 2.0f);
    return c;
}

// torch.bucketize(v, mid): the number of midpoints strictly below v.
inline uint8_t bucket(const code_book& c, float v) {
    const size_t i = size_t(std::lower_bound(c.mid.begin(), c.mid.end(), v) - c.mid.begin());
    return c.code[i];
}

const code_book& book_of(bool nf4) {
    static const code_book nf = sorted_book(kvalues_nf4, 16);
    static const code_book fp = sorted_book(kvalues_bnb_fp4, 16);
    return nf4 ? nf : fp;
}

const code_book& dynamic_book() {
    static const code_book b = sorted_book(dynamic_map_256(), 256);
    return b;
}

inline float clamp1(float v) { return std::min(1.0f, std::max(-1.0f, v)); }

// 64 values -> their absmax and 32 bytes of codes.
float quantize_block_4bit(const float* x, uint8_t* qs, const code_book& book) {
    float amax = 0.0f;
    for (int j = 0; j < QK_NF4; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float id = 1.0f / std::max(amax, 1e-38f);
    for (int j = 0; j < QK_NF4 / 2; ++j) {
        const uint8_t hi = bucket(book, clamp1(x[2 * j] * id)), lo = bucket(book, clamp1(x[2 * j + 1] * id));
        qs[j] = uint8_t(hi << 4 | lo);
    }
    return amax;
}

void dequantize_block_4bit(const uint8_t* qs, float d, const float* values, float* y) {
    for (int j = 0; j < QK_NF4 / 2; ++j) {
        y[2 * j] = values[qs[j] >> 4] * d;
        y[2 * j + 1] = values[qs[j] & 0xF] * d;
    }
}

void dequantize_dq(const void* vx, float* y, int64_t k, const float* values) {
    const uint8_t* row = static_cast<const uint8_t*>(vx);
    const int64_t nb = k / QK_NF4;
    const uint8_t* qs = row + row_header_nf4_dq(k);
    const float* dyn = dynamic_map_256();
    for (int64_t b = 0; b < nb; ++b) {
        dequantize_block_4bit(qs + b * (QK_NF4 / 2), nf4_dq_absmax(row, nb, b, dyn), values, y + b * QK_NF4);
    }
}

void dequantize_blocks(const void* vx, float* y, int64_t k, const float* values) {
    const block_nf4* b = static_cast<const block_nf4*>(vx);
    for (int64_t i = 0; i < k / QK_NF4; ++i) dequantize_block_4bit(b[i].qs, b[i].d, values, y + i * QK_NF4);
}

}  // namespace

const float* dynamic_map_256() {
    static const std::vector<float> m = make_dynamic_map();
    return m.data();
}

size_t row_header_nf4_dq(int64_t n) {
    const int64_t nb = n / QK_NF4;
    return size_t(4 + 4 * nf4_dq_groups(nb) + (nb + 3) / 4 * 4);
}

size_t quantize_tensor_bnb4(int32_t type, const float* src, void* dst, int64_t nrow, int64_t n) {
    const bool nf4 = type == PYGGML_TYPE_NF4 || type == PYGGML_TYPE_NF4_DQ;
    const bool dq = type == PYGGML_TYPE_NF4_DQ || type == PYGGML_TYPE_FP4_DQ;
    if (!nf4 && type != PYGGML_TYPE_FP4 && !dq) throw std::invalid_argument("quantize_tensor_bnb4: not a 4-bit type");
    if (n <= 0 || n % QK_NF4) throw std::invalid_argument("quantize_tensor_bnb4: row length is not a multiple of 64");
    const code_book& book = book_of(nf4);
    const int64_t nb = n / QK_NF4;
    uint8_t* out = static_cast<uint8_t*>(dst);
    if (!dq) {
        block_nf4* b = static_cast<block_nf4*>(dst);
        for (int64_t i = 0; i < nrow * nb; ++i) b[i].d = quantize_block_4bit(src + i * QK_NF4, b[i].qs, book);
        return size_t(nrow * nb) * sizeof(block_nf4);
    }
    const size_t header = row_header_nf4_dq(n), rb = header + size_t(n / 2);
    std::vector<float> absmax(size_t(nrow * nb));
    for (int64_t r = 0; r < nrow; ++r) {
        for (int64_t b = 0; b < nb; ++b) {
            absmax[size_t(r * nb + b)] =
                quantize_block_4bit(src + (r * nb + b) * QK_NF4, out + size_t(r) * rb + header + size_t(b) * (QK_NF4 / 2), book);
        }
    }
    double sum = 0.0;
    for (float a : absmax) sum += a;
    const float offset = absmax.empty() ? 0.0f : float(sum / double(absmax.size()));
    const code_book& dyn = dynamic_book();
    const int64_t ng = nf4_dq_groups(nb);
    for (int64_t r = 0; r < nrow; ++r) {
        uint8_t* row = out + size_t(r) * rb;
        std::fill(row, row + header, uint8_t(0));
        store_f32(row, offset);
        for (int64_t g = 0; g < ng; ++g) {
            const int64_t b0 = g * QK_NF4_DQ, b1 = std::min(nb, b0 + QK_NF4_DQ);
            float amax2 = 0.0f;
            for (int64_t b = b0; b < b1; ++b) amax2 = std::max(amax2, std::fabs(absmax[size_t(r * nb + b)] - offset));
            store_f32(row + 4 + 4 * g, amax2);
            const float id = 1.0f / std::max(amax2, 1e-38f);
            for (int64_t b = b0; b < b1; ++b) row[4 + 4 * ng + b] = bucket(dyn, clamp1((absmax[size_t(r * nb + b)] - offset) * id));
        }
    }
    return rb * size_t(nrow);
}

void dequantize_row_nf4(const void* x, float* y, int64_t k) { dequantize_blocks(x, y, k, kvalues_nf4); }
void dequantize_row_fp4(const void* x, float* y, int64_t k) { dequantize_blocks(x, y, k, kvalues_bnb_fp4); }
void dequantize_row_nf4_dq(const void* x, float* y, int64_t k) { dequantize_dq(x, y, k, kvalues_nf4); }
void dequantize_row_fp4_dq(const void* x, float* y, int64_t k) { dequantize_dq(x, y, k, kvalues_bnb_fp4); }

}  // namespace pyggml
