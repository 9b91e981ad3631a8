// memory_read.cpp: streaming read for the bandwidth benchmark (see memory_read.h).
#include "kernels/memory_read.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace pyggml {

namespace {
// 16-byte vectors (SSE2 / NEON, the baseline of both targets): loads, not adds, bound the loop.
typedef uint64_t u64x2 __attribute__((vector_size(16)));
}  // namespace

uint64_t memory_read(const void* data, size_t n, thread_pool& pool, int streams) {
    if (streams < 1) streams = 1;
    const size_t n_line = n / 128;  // 128-byte steps; the tail below
    const char* base = static_cast<const char*>(data);
    std::atomic<uint64_t> total{0};
    pool.run([&](int ith, int nth) {
        // this thread's lines [l0, l1), cut into `streams` parts read side by side
        const size_t l0 = n_line * ith / nth, l1 = n_line * (ith + 1) / nth;
        const size_t per = (l1 - l0) / size_t(streams);
        u64x2 s[8] = {};
        auto line = [&](size_t l) __attribute__((always_inline)) {
            for (int k = 0; k < 8; ++k) {  // eight independent sums: loads, not adds, bound the loop
                u64x2 x;
                std::memcpy(&x, base + 128 * l + 16 * k, 16);
                s[k] += x;
            }
        };
        for (size_t j = 0; j < per; ++j) {
            for (int k = 0; k < streams; ++k) line(l0 + size_t(k) * per + j);
        }
        for (size_t l = l0 + size_t(streams) * per; l < l1; ++l) line(l);
        if (ith == nth - 1) {
            for (size_t b = 128 * n_line; b + 16 <= n; b += 16) {
                u64x2 x;
                std::memcpy(&x, base + b, 16);
                s[0] += x;
            }
        }
        uint64_t sum = 0;
        for (int k = 0; k < 8; ++k) sum += s[k][0] + s[k][1];
        total.fetch_add(sum);
    });
    return total.load();
}

}  // namespace pyggml
