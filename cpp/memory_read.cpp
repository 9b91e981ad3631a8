// memory_read.cpp: streaming read for the bandwidth benchmark (see memory_read.h).
#include "memory_read.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace pyggml {

uint64_t memory_read(const void* data, size_t n, thread_pool& pool) {
    const size_t n_words = n / 8;
    const char* base = static_cast<const char*>(data);
    std::atomic<uint64_t> total{0};
    pool.run([&](int ith, int nth) {
        const size_t per = (n_words + nth - 1) / nth;
        const size_t w0 = std::min(n_words, per * ith), w1 = std::min(n_words, w0 + per);
        // Four independent sums so the loop is bound by loads, not by add latency.
        uint64_t s[4] = {0, 0, 0, 0};
        size_t w = w0;
        for (; w + 4 <= w1; w += 4) {
            uint64_t v[4];
            std::memcpy(v, base + 8 * w, 32);
            for (int k = 0; k < 4; ++k) s[k] += v[k];
        }
        for (; w < w1; ++w) {
            uint64_t v;
            std::memcpy(&v, base + 8 * w, 8);
            s[0] += v;
        }
        total.fetch_add(s[0] + s[1] + s[2] + s[3]);
    });
    return total.load();
}

}  // namespace pyggml
