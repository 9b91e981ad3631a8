// stream_groups.h: the driver that runs a kernel over the 8-row layouts (kernels/repack.h) for
// a call's groups of rows: one token through several groups at once, each a stream of weights
// read ahead with prefetches (a pass that waits on memory), a few tokens one group at a time.
// The AVX2 kernels (repack_avx2.cpp) go through it, and the VNNI tiers' one-token IQ4_XS, Q3_K
// and Q2_K kernels (repack_vnni.h).
//
// A kernel K: group and act (the layout's group of 8 rows and its activation block), block
// (columns a block), step<NT>(g, y, i, acc) (acc[t] += the 8 rows' dot of column block i with
// token t), streams (groups read at once for one token: 2 or 4) and quarters (true: one token
// goes a quarter of a super-block at a time, through K::state, K::quarter<Q> and K::finish<1>;
// super_block_steps gives those from a kernel's sums).
//
// Included only by arch/x86/ files, each compiled for its own tier: internal linkage, so that
// every file keeps its own copy, encoded for its own flags.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "arch/x86/repack_x8.h"
#include "core/blocks.h"
#include "kernels/repack.h"

namespace pyggml {

namespace {

// What a super-block kernel K with sums<NT, J0, J1>(g, y, i, sumi) (sumi[t] += the int32 sums of
// sub-blocks, or pairs of 16-column sets, [J0, J1), zeroed first when J0 == 0) and
// fma_super_block as its last step needs besides: the step, and one token's quarters. K derives
// from super_block_steps<K>.
template <class K>
struct super_block_steps {
    static constexpr bool quarters = true;
    struct state {};
    // A quarter (J 2Q, 2Q + 1) of one token.
    template <int Q, class G, class Y>
    static inline void quarter(const G& g, state&, const Y* const* y, int i, __m256i* sumi) {
        K::template sums<1, 2 * Q, 2 * Q + 2>(g, y, i, sumi);
    }
    template <int NT, class G>
    static inline void finish(const G& g, const state&, const __m256i* sumi, const block_q8_K* const* y, int i,
                              __m256* acc) {
        fma_super_block<NT>(g.d, y, i, sumi, acc);
    }
    template <int NT, class G>
    static inline void step(const G& g, const block_q8_K* const* y, int i, __m256* acc) {
        __m256i sumi[NT];
        K::template sums<NT>(g, y, i, sumi);
        fma_super_block<NT>(g.d, y, i, sumi, acc);
    }
};

// How far ahead each stream is prefetched for one token (one Q4_K group block; Q4_K itself
// and Q6_K prefetch by quarters, see one_token_quarters). Prefetches past the end of a
// matrix are harmless.
constexpr int kPrefetchBytes = int(sizeof(block_q4_Kx8));

// The first `bytes` of each of S streams, asked for at once when a call starts: the
// prefetches above run one block ahead, so without this a call's first block arrives
// one load at a time. A tile of a small matrix is only a few blocks per stream (q/k/v
// and o of Qwen2.5-1.5B: 6-18), so its start matters.
template <class G, int S>
inline void prefetch_starts(const G* const* xg, int bytes) {
    for (int k = 0; k < S; ++k) {
        const char* p = reinterpret_cast<const char*>(xg[k]);
        for (int o = 0; o < bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
    }
}

// One token over S groups of a super-block layout (Q4_K, Q6_K), a quarter block (two Q4_K
// sub-blocks, 288 bytes; four Q6_K sub-blocks, 420 bytes) of each group in turn, each quarter
// prefetching the same quarter of the group's next block: the streams advance together in
// small steps, as the other layouts' small blocks do, instead of one whole block at a time
// (eighths gain nothing over quarters). The same operations per row in the same order as
// K::step<1>.
template <class K, int S>
inline void one_token_quarters(int n, float* s, size_t ss, const typename K::group* const* xg,
                               const typename K::act* y) {
    constexpr int kQuarterBytes = int(sizeof(typename K::group)) / 4;
    __m256 acc[S];
    typename K::state st[S];
    __m256i sumi[S];
    for (int k = 0; k < S; ++k) acc[k] = _mm256_setzero_ps();
    const typename K::act* yp[1] = {y};
    prefetch_starts<typename K::group, S>(xg, int(sizeof(typename K::group)));
    auto quarter = [&](auto q, int i, int k) __attribute__((always_inline)) {
        constexpr int Q = decltype(q)::value;
        const char* p = reinterpret_cast<const char*>(xg[k] + i + 1) + kQuarterBytes * Q;
        for (int o = 0; o < kQuarterBytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
        K::template quarter<Q>(xg[k][i], st[k], yp, i, &sumi[k]);
    };
    for (int i = 0; i < n / QK_K; ++i) {
        for (int k = 0; k < S; ++k) quarter(std::integral_constant<int, 0>{}, i, k);
        for (int k = 0; k < S; ++k) quarter(std::integral_constant<int, 1>{}, i, k);
        for (int k = 0; k < S; ++k) quarter(std::integral_constant<int, 2>{}, i, k);
        for (int k = 0; k < S; ++k) {
            quarter(std::integral_constant<int, 3>{}, i, k);
            K::template finish<1>(xg[k][i], st[k], &sumi[k], yp, i, &acc[k]);
        }
    }
    for (int k = 0; k < S; ++k) _mm256_storeu_ps(s + k * ss, acc[k]);
}

// Whether kernel K has step2<NT>(g0, g1, y, i, acc0, acc1): two groups' steps at once (several
// tokens), each row's sum formed by the same operations as step<NT>.
template <class K, class = void>
constexpr bool pair_steps = false;
template <class K>
constexpr bool pair_steps<K, std::void_t<decltype(K::pair_steps)>> = K::pair_steps;

// S groups of 8 rows (bx bytes apart) times NT tokens, their blocks taken in turn, so
// that S weight streams are read at once (one token: the memory system serves several
// sequential streams faster than one). Each row's sum is formed by the same operations
// in the same order for any S.
template <class K, int NT, int S>
inline void run_groups(int n, float* s, size_t ss, size_t bs, const char* x, size_t bx, const void* vy, size_t by) {
    using G = typename K::group;
    using Y = typename K::act;
    const Y* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = reinterpret_cast<const Y*>(static_cast<const char*>(vy) + t * by);
    const G* xg[S];
    __m256 acc[S][NT];
    for (int k = 0; k < S; ++k) {
        xg[k] = reinterpret_cast<const G*>(x + k * bx);
        for (int t = 0; t < NT; ++t) acc[k][t] = _mm256_setzero_ps();
    }
    if constexpr (NT == 1 && K::quarters) return one_token_quarters<K, S>(n, s, ss, xg, y[0]);
    if (NT == 1) prefetch_starts<G, S>(xg, std::min(kPrefetchBytes, int((n / K::block) * sizeof(G))));
    if constexpr (NT > 1 && S == 2 && pair_steps<K>) {
        for (int i = 0; i < n / K::block; ++i) K::template step2<NT>(xg[0][i], xg[1][i], y, i, acc[0], acc[1]);
    } else {
    for (int i = 0; i < n / K::block; ++i) {
        for (int k = 0; k < S; ++k) {
            if (NT == 1) {  // one token streams each weight byte once: ask for it ahead
                const char* p = reinterpret_cast<const char*>(xg[k] + i) + kPrefetchBytes;
                for (size_t o = 0; o < sizeof(G); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
            }
            K::template step<NT>(xg[k][i], y, i, acc[k]);
        }
    }
    }
    for (int k = 0; k < S; ++k) {
        for (int t = 0; t < NT; ++t) _mm256_storeu_ps(s + k * ss + t * bs, acc[k][t]);
    }
}


template <class K>
void dot_groups(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    const char* xb = static_cast<const char*>(x);
    const int ng = nr / REPACK_ROWS;
    if (nt == 1) {
        // groups g, g + q, g + 2q, ... together: K::streams sequential streams
        constexpr int S = K::streams;
        static_assert(S == 2 || S == 4, "streams");
        const int q = ng / S;
        for (int g = 0; g < q; ++g) {
            run_groups<K, 1, S>(n, s + g * REPACK_ROWS, size_t(q) * REPACK_ROWS, bs, xb + g * bx, q * bx, y, by);
        }
        const int g = q * S;  // the last ng % S groups side by side
        switch (ng - g) {
            case 3: run_groups<K, 1, 3>(n, s + g * REPACK_ROWS, REPACK_ROWS, bs, xb + g * bx, bx, y, by); break;
            case 2: run_groups<K, 1, 2>(n, s + g * REPACK_ROWS, REPACK_ROWS, bs, xb + g * bx, bx, y, by); break;
            case 1: run_groups<K, 1, 1>(n, s + g * REPACK_ROWS, 0, bs, xb + g * bx, bx, y, by); break;
            default: break;
        }
        return;
    }
    int g0 = 0;
    if constexpr (pair_steps<K>) {  // two groups a step (K::step2), the last odd one alone below
        for (; g0 + 1 < ng; g0 += 2) {
            float* sg = s + g0 * REPACK_ROWS;
            const char* xg = xb + g0 * bx;
            switch (nt) {
                case 2: run_groups<K, 2, 2>(n, sg, REPACK_ROWS, bs, xg, bx, y, by); break;
                case 3: run_groups<K, 3, 2>(n, sg, REPACK_ROWS, bs, xg, bx, y, by); break;
                default: run_groups<K, 4, 2>(n, sg, REPACK_ROWS, bs, xg, bx, y, by); break;
            }
        }
    }
    for (int g = g0; g < ng; ++g) {
        float* sg = s + g * REPACK_ROWS;
        const char* xg = xb + g * bx;
        switch (nt) {
            case 2: run_groups<K, 2, 1>(n, sg, 0, bs, xg, bx, y, by); break;
            case 3: run_groups<K, 3, 1>(n, sg, 0, bs, xg, bx, y, by); break;
            default: run_groups<K, 4, 1>(n, sg, 0, bs, xg, bx, y, by); break;
        }
    }
}

}  // namespace

}  // namespace pyggml
