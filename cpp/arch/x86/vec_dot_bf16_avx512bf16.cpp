// vec_dot_bf16_avx512bf16.cpp: the BF16 dot kernel with VDPBF16PS (AVX-512 BF16: Zen 4 and
// later, Intel since Cooper Lake), registered in the avx512 tier on CPUs that have it.
//
// BF16 weights meet BF16 activations (their dot type, as in ggml). VDPBF16PS multiplies 32
// pairs per instruction, each product exact in float32 (8-bit significands), and adds each
// pair into a float32 lane: twice the products of an FMA on the same register width, and no
// widening of the halves first. The sums differ from the reference's only in float32
// rounding order, and it treats float32 denormals as zero (products below 2^-126).
#include <immintrin.h>

#include "arch/x86/avx2_dot_helpers.h"
#include "core/dispatch.h"
#include "core/fp16.h"

namespace pyggml {

namespace {

inline __m512bh load32(const uint16_t* p) { return (__m512bh)_mm512_loadu_si512(p); }

// 64 elements per step in two accumulators per token; one token gets four.
template <int NT>
void dot_bf16_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    constexpr int U = NT == 1 ? 4 : 2;
    const uint16_t* x = static_cast<const uint16_t*>(vx);
    const uint16_t* y[NT];
    __m512 acc[NT][U];
    for (int t = 0; t < NT; ++t) {
        y[t] = row_ptr<uint16_t>(vy, by, t);
        for (int u = 0; u < U; ++u) acc[t][u] = _mm512_setzero_ps();
    }
    constexpr int step = 32 * U;
    const int nu = n - n % step;
    for (int i = 0; i < nu; i += step) {
        for (int u = 0; u < U; ++u) {
            const __m512bh xv = load32(x + i + 32 * u);
            for (int t = 0; t < NT; ++t) acc[t][u] = _mm512_dpbf16_ps(acc[t][u], xv, load32(y[t] + i + 32 * u));
        }
    }
    int i = nu;
    for (; i + 32 <= n; i += 32) {
        const __m512bh xv = load32(x + i);
        for (int t = 0; t < NT; ++t) acc[t][0] = _mm512_dpbf16_ps(acc[t][0], xv, load32(y[t] + i));
    }
    for (int t = 0; t < NT; ++t) {
        for (int u = 1; u < U; ++u) acc[t][0] = _mm512_add_ps(acc[t][0], acc[t][u]);
        float sum = _mm512_reduce_add_ps(acc[t][0]);
        for (int j = i; j < n; ++j) sum += bf16_to_fp32(x[j]) * bf16_to_fp32(y[t][j]);
        s[t * bs] = sum;
    }
}

void dot_bf16(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    dot_rows_nt<dot_bf16_nt<1>, dot_bf16_nt<2>, dot_bf16_nt<3>, dot_bf16_nt<4>>(n, s, bs, x, bx, nr, y, by, nt);
}

}  // namespace

void register_vec_dot_bf16_avx512bf16(isa_kernels& k) { k.vec_dot[GGML_TYPE_BF16].vec_dot = dot_bf16; }

}  // namespace pyggml
