// finite.h: the forward pass's checks for NaN and infinity in the rows it leaves behind.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

namespace pyggml {

// Whether x[0..n) holds no NaN and no infinity. Integer arithmetic on the bits, which
// compilers vectorize: a float is not finite when its exponent bits are all ones, and
// adding one to such an exponent carries into the sign bit.
inline bool all_finite(const float* x, int64_t n) {
    uint32_t carry = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t u;
        std::memcpy(&u, x + i, sizeof u);
        carry |= (u & 0x7f800000u) + 0x00800000u;
    }
    return !(carry & 0x80000000u);
}

// Lowers `first` to row t (the first non-finite row found by any thread).
inline void note_row(std::atomic<int64_t>& first, int64_t t) {
    int64_t cur = first.load(std::memory_order_relaxed);
    while (t < cur && !first.compare_exchange_weak(cur, t, std::memory_order_relaxed)) {
    }
}

}  // namespace pyggml
