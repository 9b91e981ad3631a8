// validate.cpp: non-finite values and block scales in tensor data (see validate.h).
#include "quant/validate.h"

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/blocks.h"
#include "core/fp16.h"
#include "core/threads.h"
#include "core/dispatch.h"

namespace pyggml {

namespace {

// A scale field of a block: where it is, whether it is a float32 (else binary16).
struct scale_field {
    const char* name;
    size_t offset;
    bool f32 = false;
};

struct block_scales {
    scale_field fields[2];
    int n_fields;
};

bool block_scales_of(int32_t type, block_scales& out) {
    switch (type) {
        case GGML_TYPE_Q4_0: out = {{{"d", offsetof(block_q4_0, d)}}, 1}; return true;
        case GGML_TYPE_Q4_1: out = {{{"d", offsetof(block_q4_1, d)}, {"m", offsetof(block_q4_1, m)}}, 2}; return true;
        case GGML_TYPE_Q5_0: out = {{{"d", offsetof(block_q5_0, d)}}, 1}; return true;
        case GGML_TYPE_Q5_1: out = {{{"d", offsetof(block_q5_1, d)}, {"m", offsetof(block_q5_1, m)}}, 2}; return true;
        case GGML_TYPE_Q8_0: out = {{{"d", offsetof(block_q8_0, d)}}, 1}; return true;
        case GGML_TYPE_Q8_1: out = {{{"d", offsetof(block_q8_1, d)}, {"s", offsetof(block_q8_1, s)}}, 2}; return true;
        case GGML_TYPE_Q2_K: out = {{{"d", offsetof(block_q2_K, d)}, {"dmin", offsetof(block_q2_K, dmin)}}, 2}; return true;
        case GGML_TYPE_Q3_K: out = {{{"d", offsetof(block_q3_K, d)}}, 1}; return true;
        case GGML_TYPE_Q4_K: out = {{{"d", offsetof(block_q4_K, d)}, {"dmin", offsetof(block_q4_K, dmin)}}, 2}; return true;
        case GGML_TYPE_Q5_K: out = {{{"d", offsetof(block_q5_K, d)}, {"dmin", offsetof(block_q5_K, dmin)}}, 2}; return true;
        case GGML_TYPE_Q6_K: out = {{{"d", offsetof(block_q6_K, d)}}, 1}; return true;
        case GGML_TYPE_Q8_K: out = {{{"d", offsetof(block_q8_K, d), true}}, 1}; return true;
        case GGML_TYPE_IQ4_NL: out = {{{"d", offsetof(block_iq4_nl, d)}}, 1}; return true;
        case GGML_TYPE_IQ4_XS: out = {{{"d", offsetof(block_iq4_xs, d)}}, 1}; return true;
        case GGML_TYPE_TQ1_0: out = {{{"d", offsetof(block_tq1_0, d)}}, 1}; return true;
        case GGML_TYPE_TQ2_0: out = {{{"d", offsetof(block_tq2_0, d)}}, 1}; return true;
        case GGML_TYPE_Q1_0: out = {{{"d", offsetof(block_q1_0, d)}}, 1}; return true;
        case GGML_TYPE_IQ2_XXS: out = {{{"d", offsetof(block_iq2_xxs, d)}}, 1}; return true;
        case GGML_TYPE_IQ2_XS: out = {{{"d", offsetof(block_iq2_xs, d)}}, 1}; return true;
        case GGML_TYPE_IQ2_S: out = {{{"d", offsetof(block_iq2_s, d)}}, 1}; return true;
        case GGML_TYPE_IQ3_XXS: out = {{{"d", offsetof(block_iq3_xxs, d)}}, 1}; return true;
        case GGML_TYPE_IQ3_S: out = {{{"d", offsetof(block_iq3_s, d)}}, 1}; return true;
        case GGML_TYPE_IQ1_S: out = {{{"d", offsetof(block_iq1_s, d)}}, 1}; return true;
        // IQ1_M's scale is spread over four nibbles; its blocks are not checked
        case GGML_TYPE_IQ1_M: out = {{}, 0}; return true;
        // E8M0 and UE4M3 scales have no infinity or NaN (ggml reads 0xFF and 0x7F as numbers)
        case GGML_TYPE_MXFP4: case GGML_TYPE_NVFP4: out = {{}, 0}; return true;
        default: return false;
    }
}

uint16_t load16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

uint32_t load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Exponent bits all ones: infinity or NaN.
bool bad_f32(uint32_t u) { return (u & 0x7f800000u) == 0x7f800000u; }
bool bad_f16(uint16_t h) { return (h & 0x7c00u) == 0x7c00u; }
bool bad_bf16(uint16_t h) { return (h & 0x7f80u) == 0x7f80u; }

// The first unit in [b, e) that fails `bad`, or e. Units are elements or blocks.
template <typename Bad>
int64_t first_bad(int64_t b, int64_t e, Bad bad) {
    for (int64_t i = b; i < e; ++i) {
        if (bad(i)) return i;
    }
    return e;
}

}  // namespace

data_problem validate_tensor_data(int32_t type, const void* data, size_t n_bytes, int n_threads) {
    const type_traits* t = get_type_traits(type);
    if (!t) throw std::invalid_argument("unknown ggml type id " + std::to_string(type));
    if (n_bytes % t->type_size) {
        throw std::invalid_argument(std::string(t->name) + " data of " + std::to_string(n_bytes) +
                                    " bytes is not a whole number of blocks");
    }
    const uint8_t* p = static_cast<const uint8_t*>(data);
    const int64_t n = int64_t(n_bytes / t->type_size);
    const size_t unit = t->type_size;

    block_scales scales{};
    const bool quantized = type != GGML_TYPE_F32 && type != GGML_TYPE_F16 && type != GGML_TYPE_BF16;
    if (quantized && !block_scales_of(type, scales)) {
        throw std::invalid_argument(std::string("no block layout to check for type ") + t->name);
    }
    // Is unit i bad? Reads only the scale fields of a block.
    auto bad = [&](int64_t i) -> bool {
        const uint8_t* u = p + size_t(i) * unit;
        switch (type) {
            case GGML_TYPE_F32: return bad_f32(load32(u));
            case GGML_TYPE_F16: return bad_f16(load16(u));
            case GGML_TYPE_BF16: return bad_bf16(load16(u));
            default:
                for (int f = 0; f < scales.n_fields; ++f) {
                    const scale_field& s = scales.fields[f];
                    if (s.f32 ? bad_f32(load32(u + s.offset)) : bad_f16(load16(u + s.offset))) return true;
                }
                return false;
        }
    };

    std::atomic<int64_t> first{n};
    parallel_for(n, n_threads, int64_t(1) << 16, [&](int64_t b, int64_t e) {
        const int64_t i = first_bad(b, e, bad);
        if (i == e) return;  // none in this slice
        int64_t cur = first.load();
        while (i < cur && !first.compare_exchange_weak(cur, i)) {
        }
    });

    data_problem out;
    const int64_t i = first.load();
    if (i >= n) return out;
    out.index = i;
    const uint8_t* u = p + size_t(i) * unit;
    switch (type) {
        case GGML_TYPE_F32: out.field = "value"; out.value = fp32_from_bits(load32(u)); break;
        case GGML_TYPE_F16: out.field = "value"; out.value = fp16_to_fp32(load16(u)); break;
        case GGML_TYPE_BF16: out.field = "value"; out.value = bf16_to_fp32(load16(u)); break;
        default:
            for (int f = 0; f < scales.n_fields; ++f) {
                const scale_field& s = scales.fields[f];
                const double v = s.f32 ? double(fp32_from_bits(load32(u + s.offset))) : double(fp16_to_fp32(load16(u + s.offset)));
                if (!std::isfinite(v)) {
                    out.field = s.name;
                    out.value = v;
                    break;
                }
            }
    }
    return out;
}

}  // namespace pyggml
