// grid_x8_avx512.cpp: the AVX-512 tier's kernels over codebook rows decoded eight at a time:
// two groups a step in 512-bit registers (below), a last odd group and one token through
// grid_x8_vnni.h with the EVEX-encoded VPDPBUSD / VPDPWSSD of AVX512-VNNI on 256-bit vectors
// (32 registers hold eight tokens' sums).
//
// Compiled with -mavx2 -mfma -mf16c -mbmi2 -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mavx512vnni; called only after the dispatcher checked them (core/cpu.h).
// GCC 12 warns of the undefined source operand inside its own 512-bit intrinsics at -O3.
#if defined(__GNUC__) && !defined(__clang__)  // (clang has no such warning)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "arch/x86/grid_x8_vnni.h"
#include "arch/x86/pairs_avx512.h"

namespace pyggml {

namespace {

// ---- two groups in one 512-bit register: lanes 0-7 group a's rows, lanes 8-15 group b's (as
// repack_avx512.cpp does for the repacked layouts): one VPDPBUSD for 16 rows; the same integer
// sums and float operations per row as grid_x8_group, so the same bits.

// Groups a and b (16 rows) times NT tokens.
template <int NT, int PreDen, int PostDen, bool Per32>
inline void grid_x16_pair(int n, float* s, size_t bs, const block_grid_x8* xa, const block_grid_x8* xb, const void* vy,
                          size_t by) {
    const block_q8_K* y[NT];
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = reinterpret_cast<const block_q8_K*>(static_cast<const char*>(vy) + t * by);
        acc[t] = _mm512_setzero_ps();
    }
    for (int i = 0; i < n / QK_K; ++i) {
        const block_grid_x8& ga = xa[i];
        const block_grid_x8& gb = xb[i];
        __m512i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int p = 0; p < QK_K / 32; ++p) {
            const __m512i sc = load2(ga.scales[p], gb.scales[p]);
            const __m512i bias = _mm512_sub_epi16(_mm512_setzero_si512(), _mm512_slli_epi16(sc, 6));
            for (int t = 0; t < NT; ++t) sumi[t] = dpwssd_bcast(sumi[t], bias, y[t][i].bsums + 2 * p);
            constexpr int n_parts = Per32 ? 1 : 2, part = 8 / n_parts;
#pragma GCC unroll 2
            for (int h = 0; h < n_parts; ++h) {
                const __m512i s32 = h ? _mm512_srai_epi32(sc, 16) : _mm512_srai_epi32(_mm512_slli_epi32(sc, 16), 16);
                __m512i a[NT];
                for (int t = 0; t < NT; ++t) a[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int u = 0; u < part; ++u) {
                    const int k = 8 * p + part * h + u;
                    const __m512i w = load2(ga.qs + 32 * k, gb.qs + 32 * k);
                    for (int t = 0; t < NT; ++t) a[t] = dpbusd_bcast(a[t], w, y[t][i].qs + 4 * k);
                }
                for (int t = 0; t < NT; ++t) sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(a[t], s32));
            }
        }
        const __m512 d = join(_mm256_loadu_ps(ga.d), _mm256_loadu_ps(gb.d));
        for (int t = 0; t < NT; ++t) {
            __m512 v = _mm512_cvtepi32_ps(sumi[t]);
            if (PreDen != 1) v = _mm512_mul_ps(v, _mm512_set1_ps(1.0f / float(PreDen)));
            acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(_mm512_mul_ps(d, _mm512_set1_ps(y[t][i].d)), v));
        }
    }
    for (int t = 0; t < NT; ++t) {
        __m512 r = acc[t];
        if (PostDen != 1) r = _mm512_mul_ps(r, _mm512_set1_ps(1.0f / float(PostDen)));
        _mm512_storeu_ps(s + t * bs, r);
    }
}

// The kernel over groups: pairs at 8 tokens, the rest through the 256-bit one (pairs_avx512.h).
static_assert(GRID_X8_ROWS == 8, "dot_in_pairs takes groups of 8 rows");
template <int PreDen, int PostDen, bool Per32>
constexpr vec_dot_fn dot_grid_x16 =
    dot_in_pairs<block_grid_x8, grid_x16_pair<8, PreDen, PostDen, Per32>,
                 dot_grid_x8_vnni<evex_vnni, 8, PreDen, PostDen, Per32>>;

}  // namespace

void register_grid_x8_avx512(isa_kernels& k) {
    register_grid_x8_vnni<evex_vnni, 8>(k);
    const struct {
        int32_t type;
        vec_dot_fn dot;
    } kernels[] = {
        {GGML_TYPE_IQ2_XXS, dot_grid_x16<1, 8, true>}, {GGML_TYPE_IQ2_XS, dot_grid_x16<1, 8, false>},
        {GGML_TYPE_IQ2_S, dot_grid_x16<1, 8, false>},  {GGML_TYPE_IQ3_XXS, dot_grid_x16<1, 4, true>},
        {GGML_TYPE_IQ3_S, dot_grid_x16<1, 1, true>},   {GGML_TYPE_IQ1_S, dot_grid_x16<8, 1, true>},
        {GGML_TYPE_IQ1_M, dot_grid_x16<8, 1, false>},
    };
    for (const auto& e : kernels) {
        if (k.vec_dot[e.type].decoded_x8_dot) k.vec_dot[e.type].decoded_x8_dot = e.dot;
    }
}

}  // namespace pyggml
