// thread_pool.h: the runtime's worker threads, created once and reused for every call.
//
// run(fn) calls fn(ith, nth) on all nth threads (the caller is thread 0) and returns
// when every thread is done. One pool per model; calls on one pool must not overlap.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pyggml {

class thread_pool {
public:
    explicit thread_pool(int n_threads);
    ~thread_pool();
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    int size() const { return n_threads_; }
    // Runs fn(ith, nth) for ith in [0, nth); rethrows the first exception thrown.
    void run(const std::function<void(int ith, int nth)>& fn);

    // Number of physical cores (falls back to logical CPUs).
    static int default_threads();

private:
    void worker_loop(int ith);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable cv_start_;
    std::condition_variable cv_done_;
    const std::function<void(int, int)>* job_ = nullptr;
    uint64_t generation_ = 0;
    int pending_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
};

}  // namespace pyggml
