// memory_read.cpp: streaming read for the bandwidth benchmark (see memory_read.h).
#include "memory_read.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace pyggml {

namespace {
// 16-byte vectors (SSE2 / NEON, the baseline of both targets): loads, not adds, bound the loop.
typedef uint64_t u64x2 __attribute__((vector_size(16)));
}  // namespace

uint64_t memory_read(const void* data, size_t n, thread_pool& pool) {
    const size_t n_vec = n / 16;
    const char* base = static_cast<const char*>(data);
    std::atomic<uint64_t> total{0};
    pool.run([&](int ith, int nth) {
        const size_t per = (n_vec + nth - 1) / nth;
        const size_t v0 = std::min(n_vec, per * ith), v1 = std::min(n_vec, v0 + per);
        // Eight independent sums: 128 bytes per iteration, one cache line pair.
        u64x2 s[8] = {};
        size_t v = v0;
        for (; v + 8 <= v1; v += 8) {
            for (int k = 0; k < 8; ++k) {
                u64x2 x;
                std::memcpy(&x, base + 16 * (v + k), 16);
                s[k] += x;
            }
        }
        for (; v < v1; ++v) {
            u64x2 x;
            std::memcpy(&x, base + 16 * v, 16);
            s[0] += x;
        }
        uint64_t sum = 0;
        for (int k = 0; k < 8; ++k) sum += s[k][0] + s[k][1];
        total.fetch_add(sum);
    });
    return total.load();
}

}  // namespace pyggml
