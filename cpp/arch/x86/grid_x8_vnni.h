// grid_x8_vnni.h: kernels over codebook rows decoded eight at a time (block_grid_x8,
// kernels/grid_x8.h) for the x86 tiers with VPDPBUSD / VPDPWSSD: one source for the AVX-VNNI
// tier (grid_x8_avxvnni.cpp, 16 registers: 4 tokens a call) and the AVX-512 tier
// (grid_x8_avx512.cpp, 32 registers: 8 tokens; there a last odd group and calls of fewer
// than 8 tokens, two groups a step going to its own 512-bit kernel), each passing its own
// instructions as V.
//
// Lane r of every vector is row r. Per 16 columns and token, four VPDPBUSD of the biased
// values u = q + 64 (unsigned, <= 126) with 4 broadcast activation bytes give sum u * y per
// row, which VPMULLD scales by the row's 2 s + 1; the bias comes off through the activations'
// sums of 16 (Q8_K's bsums): sum q * y = sum u * y - 64 sum y, so one VPDPWSSD of
// -64 (2 s + 1) with two bsums per 32 columns. Types with one scale per 32 (Per32: IQ2_XXS,
// IQ3_XXS, IQ3_S, IQ1_S) scale each 32 with one VPMULLD. All integer sums are exact (|isum| <=
// 16 * 31 * 16 * 126 * 127 < 2^31), and the float operations per row the reference's, in
// its order, so the results are the scalar reference's bit for bit.
#pragma once

#include <immintrin.h>

#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "kernels/grid_x8.h"

namespace pyggml {

namespace {

// One group of 8 rows times NT tokens.
template <class V, int NT, int PreDen, int PostDen, bool Per32>
inline void grid_x8_group(int n, float* s, size_t bs, const block_grid_x8* xg, const void* vy, size_t by) {
    const block_q8_K* y[NT];
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) {
        y[t] = reinterpret_cast<const block_q8_K*>(static_cast<const char*>(vy) + t * by);
        acc[t] = _mm256_setzero_ps();
    }
    for (int i = 0; i < n / QK_K; ++i) {
        const block_grid_x8& g = xg[i];
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int p = 0; p < QK_K / 32; ++p) {
            // lane r: (2 s + 1) of row r's two 16s as int16; times -64 for the bias
            const __m256i sc = loadu(g.scales[p]);
            const __m256i bias = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, 6));
            for (int t = 0; t < NT; ++t) sumi[t] = V::dpwssd_at(sumi[t], bias, y[t][i].bsums + 2 * p);
            constexpr int n_parts = Per32 ? 1 : 2, part = 8 / n_parts;  // scaled parts of 32 columns
#pragma GCC unroll 2
            for (int h = 0; h < n_parts; ++h) {
                const __m256i s32 = h ? _mm256_srai_epi32(sc, 16) : _mm256_srai_epi32(_mm256_slli_epi32(sc, 16), 16);
                __m256i a[NT];
                for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int u = 0; u < part; ++u) {
                    const int k = 8 * p + part * h + u;  // columns 4k .. 4k + 3
                    const __m256i w = loadu(g.qs + 32 * k);
                    for (int t = 0; t < NT; ++t) a[t] = V::dpbusd_at(a[t], w, y[t][i].qs + 4 * k);
                }
                for (int t = 0; t < NT; ++t) sumi[t] = _mm256_add_epi32(sumi[t], _mm256_mullo_epi32(a[t], s32));
            }
        }
        const __m256 d = _mm256_loadu_ps(g.d);
        for (int t = 0; t < NT; ++t) {
            __m256 v = _mm256_cvtepi32_ps(sumi[t]);
            if (PreDen != 1) v = _mm256_mul_ps(v, _mm256_set1_ps(1.0f / float(PreDen)));
            acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_mul_ps(d, _mm256_set1_ps(y[t][i].d)), v));
        }
    }
    for (int t = 0; t < NT; ++t) {
        __m256 r = acc[t];
        if (PostDen != 1) r = _mm256_mul_ps(r, _mm256_set1_ps(1.0f / float(PostDen)));
        _mm256_storeu_ps(s + t * bs, r);
    }
}

// The kernel (vec_dot_fn over groups) for up to MaxNT tokens a call.
template <class V, int MaxNT, int PreDen, int PostDen, bool Per32>
void dot_grid_x8_vnni(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    static_assert(MaxNT >= 4 && MaxNT <= 8, "tokens per call");
    for (int grp = 0; grp < nr / GRID_X8_ROWS; ++grp) {
        float* sg = s + grp * GRID_X8_ROWS;
        const auto* xg = reinterpret_cast<const block_grid_x8*>(static_cast<const char*>(x) + grp * bx);
        switch (nt) {
            case 1: grid_x8_group<V, 1, PreDen, PostDen, Per32>(n, sg, bs, xg, y, by); break;
            case 2: grid_x8_group<V, 2, PreDen, PostDen, Per32>(n, sg, bs, xg, y, by); break;
            case 3: grid_x8_group<V, 3, PreDen, PostDen, Per32>(n, sg, bs, xg, y, by); break;
            case 4: grid_x8_group<V, 4, PreDen, PostDen, Per32>(n, sg, bs, xg, y, by); break;
            case 5: if constexpr (MaxNT >= 5) grid_x8_group<V, 5, PreDen, PostDen, Per32>(n, sg, bs, xg, y, by); break;
            case 6: if constexpr (MaxNT >= 6) grid_x8_group<V, 6, PreDen, PostDen, Per32>(n, sg, bs, xg, y, by); break;
            case 7: if constexpr (MaxNT >= 7) grid_x8_group<V, 7, PreDen, PostDen, Per32>(n, sg, bs, xg, y, by); break;
            default: if constexpr (MaxNT >= 8) grid_x8_group<V, 8, PreDen, PostDen, Per32>(n, sg, bs, xg, y, by); break;
        }
    }
}

// The tier's kernels for the codebook types that have a decoder in this table.
template <class V, int MaxNT>
void register_grid_x8_vnni(isa_kernels& k) {
    const struct {
        int32_t type;
        vec_dot_fn dot;
    } kernels[] = {
        {GGML_TYPE_IQ2_XXS, dot_grid_x8_vnni<V, MaxNT, 1, 8, true>},
        {GGML_TYPE_IQ2_XS, dot_grid_x8_vnni<V, MaxNT, 1, 8, false>},
        {GGML_TYPE_IQ2_S, dot_grid_x8_vnni<V, MaxNT, 1, 8, false>},
        {GGML_TYPE_IQ3_XXS, dot_grid_x8_vnni<V, MaxNT, 1, 4, true>},
        {GGML_TYPE_IQ3_S, dot_grid_x8_vnni<V, MaxNT, 1, 1, true>},
        {GGML_TYPE_IQ1_S, dot_grid_x8_vnni<V, MaxNT, 8, 1, true>},
        {GGML_TYPE_IQ1_M, dot_grid_x8_vnni<V, MaxNT, 8, 1, false>},
    };
    for (const auto& e : kernels) {
        if (!k.vec_dot[e.type].decode || !k.vec_dot[e.type].decode_x8) continue;
        k.vec_dot[e.type].decoded_x8_dot = e.dot;
        k.vec_dot[e.type].decoded_x8_max_nt = MaxNT;
    }
}

}  // namespace

}  // namespace pyggml
