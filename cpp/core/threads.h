// threads.h: the runtime's worker threads: one pool type, and parallel_for on it.
//
// run(fn) calls fn(ith, nth) on all nth threads (the caller is thread 0) and returns
// when every thread is done. A model keeps one pool for its life; a long bulk call
// (quantizing a tensor, GPTQ on a matrix) makes one for the call. Calls on one pool must
// not overlap. Waiting (for work, for the end of a job, at a barrier) spins briefly, then
// sleeps, so back-to-back jobs start in microseconds but idle workers cost no CPU.
// The default thread count everywhere is the number of physical cores, as llama.cpp's (on an
// Apple M chip its performance cores).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.h"

namespace pyggml {

// macOS's default thread count from sysctl values (`value`: the name's value, 0 where missing):
// the performance cores (hw.perflevel0.physicalcpu: an M chip's fast cluster, as llama.cpp
// takes; a job split evenly would wait on the efficiency cores), else hw.physicalcpu; 0 when
// neither is known. Its own function so that tests can give it any system's answers.
int darwin_default_threads(const std::function<int(const char*)>& value);

// Linux's default thread count from /proc/cpuinfo's text: its distinct (physical id, core id)
// pairs (SMT siblings share a core), counting only the processors of `only` (a CPU list as sysfs
// writes it, "0-15,24") unless it is empty; 0 when the text names no cores (aarch64's).
int count_physical_cores(const std::string& cpuinfo, const std::string& only);

class thread_pool {
public:
    // n_threads <= 0: default_threads(). Throws resource_error (core/errors.h) naming the
    // thread that could not be started (after stopping the others).
    explicit thread_pool(int n_threads);
    ~thread_pool();
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    int size() const { return n_threads_; }
    // Runs fn(ith, nth) for ith in [0, nth); rethrows the first exception thrown.
    // A throwing fn must not be inside barrier() use (the others would wait forever):
    // kernels that use barrier() do not throw.
    void run(const std::function<void(int ith, int nth)>& fn);

    // Inside run(): returns once all nth threads have called it.
    void barrier();

    // The physical cores (count_physical_cores; on an Intel CPU with efficiency cores, the
    // performance cores; on macOS the performance cores, darwin_default_threads), else every
    // hardware thread. The performance cores alone, as llama.cpp's default: a job split evenly
    // waits on its slowest thread.
    static int default_threads();

private:
    void worker_loop(int ith);
    void stop_workers();
    // Spin, then sleep on cv, until pred() holds.
    template <typename Pred>
    void wait_for(std::condition_variable& cv, Pred pred);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable cv_start_;
    std::condition_variable cv_done_;
    std::condition_variable cv_barrier_;
    const std::function<void(int, int)>* job_ = nullptr;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<int> barrier_count_{0};
    std::atomic<uint64_t> barrier_phase_{0};
    std::atomic<bool> stop_{false};
    std::exception_ptr error_;
};

// Calls fn(begin, end) on disjoint slices of [0, n), one per thread of the pool at most,
// each of at least min_chunk items (so small inputs stay on the calling thread).
template <typename Fn>
void parallel_for(thread_pool& pool, int64_t n, int64_t min_chunk, Fn&& fn) {
    const int64_t max_useful = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
    const int t = int(std::min<int64_t>(pool.size(), max_useful));
    if (t <= 1) {
        fn(int64_t(0), n);
        return;
    }
    const int64_t per = (n + t - 1) / t;
    pool.run([&](int ith, int) {
        if (ith < t) fn(std::min(n, ith * per), std::min(n, (ith + 1) * per));
    });
}

// parallel_for on a pool made for this call: n_threads threads (<= 0: the default), fewer
// when there are fewer than that many chunks of min_chunk items. When the threads cannot be
// started (the process is out of threads or address space), the calling thread does it all.
template <typename Fn>
void parallel_for(int64_t n, int n_threads, int64_t min_chunk, Fn&& fn) {
    if (n_threads <= 0) n_threads = thread_pool::default_threads();
    const int64_t max_useful = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
    const int t = int(std::min<int64_t>(n_threads, max_useful));
    std::unique_ptr<thread_pool> pool;
    if (t > 1) {
        try {
            pool = std::make_unique<thread_pool>(t);
        } catch (const resource_error&) {
        }
    }
    if (!pool) {
        fn(int64_t(0), n);
        return;
    }
    parallel_for(*pool, n, min_chunk, fn);
}

// Calls f(i) for i in [0, n), rows spread over the pool's threads in turn (thread ith takes
// ith, ith + nth, ...); on the calling thread alone for one row or a one-thread pool.
template <typename F>
void parallel_rows(thread_pool& pool, int64_t n, F&& f) {
    if (n <= 1 || pool.size() == 1) {
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
    pool.run([&](int ith, int nth) {
        for (int64_t i = ith; i < n; i += nth) f(i);
    });
}

}  // namespace pyggml
