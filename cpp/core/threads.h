// threads.h: the runtime's worker threads, created once and reused for every call.
//
// run(fn) calls fn(ith, nth) on all nth threads (the caller is thread 0) and returns
// when every thread is done. One pool per model; calls on one pool must not overlap.
// Waiting (for work, for the end of a job, at a barrier) spins briefly, then sleeps,
// so back-to-back jobs start in microseconds but idle workers cost no CPU.
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
    // Throws resource_error when a thread cannot be started (after joining the others).
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

    // Number of physical cores (falls back to logical CPUs).
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

}  // namespace pyggml
