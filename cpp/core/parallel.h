// parallel.h: split a range of independent rows over a few threads.
//
// Used by bulk conversions (quantize / dequantize of whole tensors), where each call
// is long enough that starting threads costs nothing measurable.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace pyggml {

inline int default_thread_count() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : int(n);
}

// Calls fn(begin, end) on disjoint slices of [0, n) from up to n_threads threads.
// Slices hold at least min_chunk items so small inputs stay on the calling thread.
// When a thread cannot be started (std::system_error: the process is out of threads or
// address space), the calling thread runs the slices that have no thread itself.
template <typename Fn>
void parallel_for(int64_t n, int n_threads, int64_t min_chunk, Fn&& fn) {
    if (n_threads <= 0) n_threads = default_thread_count();
    const int64_t max_useful = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
    const int t = int(std::min<int64_t>(n_threads, max_useful));
    if (t <= 1) {
        fn(int64_t(0), n);
        return;
    }
    std::vector<std::thread> workers;
    std::vector<std::exception_ptr> errors(t);
    workers.reserve(t - 1);
    const int64_t per = (n + t - 1) / t;
    int started = 1;
    for (int i = 1; i < t; ++i, ++started) {
        const int64_t b = std::min(n, i * per), e = std::min(n, (i + 1) * per);
        try {
            workers.emplace_back([&, i, b, e] {
                try { fn(b, e); } catch (...) { errors[i] = std::current_exception(); }
            });
        } catch (const std::system_error&) {
            break;
        }
    }
    try {
        fn(int64_t(0), std::min(n, per));
        if (started < t) fn(std::min(n, started * per), n);  // the slices no thread took
    } catch (...) {
        errors[0] = std::current_exception();
    }
    for (auto& w : workers) w.join();
    for (auto& err : errors) {
        if (err) std::rethrow_exception(err);
    }
}

}  // namespace pyggml
