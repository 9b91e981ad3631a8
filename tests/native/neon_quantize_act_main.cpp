// neon_quantize_act_main.cpp: runs the NEON activation conversions
// (cpp/arch/arm/quantize_act_neon.cpp) and the scalar references they twin
// (quantize_row_q8_0_ref / q8_1_ref / q8_K_ref, fp32_to_fp16) on rows from a file, for
// tests/native/test_neon_qemu.py (cross-compiled for aarch64, run under qemu-user).
//
// usage: neon_quantize_act IN OUT
// IN:  cases, each: int32 dot type (ggml's id: F16, Q8_0, Q8_1, Q8_K), rows, k (a multiple of
//      the type's block); then x (rows, k) float32.
// OUT: per case, the reference's rows, then NEON's.
// Exit 2 on bad input or a type without a NEON conversion.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "arch/arm/neon_tier.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp16.h"
#include "quant/quants.h"

using namespace pyggml;

namespace {

// (not inlined: benchmarks/arm_ops_instructions.py counts the instructions inside it)
__attribute__((noinline)) void reference(int32_t type, const float* x, void* y, int64_t k) {
    switch (type) {
        case GGML_TYPE_Q8_0: quantize_row_q8_0_ref(x, static_cast<block_q8_0*>(y), k); break;
        case GGML_TYPE_Q8_1: quantize_row_q8_1_ref(x, static_cast<block_q8_1*>(y), k); break;
        case GGML_TYPE_Q8_K: quantize_row_q8_K_ref(x, static_cast<block_q8_K*>(y), k); break;
        default:
            for (int64_t i = 0; i < k; ++i) static_cast<uint16_t*>(y)[i] = fp32_to_fp16(x[i]);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    FILE* in = std::fopen(argv[1], "rb");
    FILE* out = std::fopen(argv[2], "wb");
    if (!in || !out) return 2;
    isa_kernels neon{};
    PYGGML_NEON_TIER::register_quantize_act_neon(neon);
    int32_t h[3];
    while (std::fread(h, sizeof(int32_t), 3, in) == 3) {
        const int32_t type = h[0];
        const int64_t rows = h[1], k = h[2];
        int64_t block = 0, bytes = 0;
        switch (type) {
            case GGML_TYPE_F16: block = 1, bytes = 2; break;
            case GGML_TYPE_Q8_0: block = QK8_0, bytes = sizeof(block_q8_0); break;
            case GGML_TYPE_Q8_1: block = QK8_1, bytes = sizeof(block_q8_1); break;
            case GGML_TYPE_Q8_K: block = QK_K, bytes = sizeof(block_q8_K); break;
            default: return 2;
        }
        if (rows < 1 || k < 1 || k % block || !neon.from_float[type]) return 2;
        std::vector<float> x(size_t(rows * k));
        if (std::fread(x.data(), 4, x.size(), in) != x.size()) return 2;
        std::vector<uint8_t> y(size_t(k / block * bytes));
        for (int which = 0; which < 2; ++which) {
            for (int64_t r = 0; r < rows; ++r) {
                if (which == 0) {
                    reference(type, x.data() + r * k, y.data(), k);
                } else {
                    neon.from_float[type](x.data() + r * k, y.data(), k);
                }
                std::fwrite(y.data(), 1, y.size(), out);
            }
        }
    }
    std::fclose(in);
    return std::fclose(out) == 0 ? 0 : 2;
}
