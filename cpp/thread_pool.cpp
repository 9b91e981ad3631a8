// thread_pool.cpp: a fixed set of workers woken per job (see thread_pool.h).
#include "thread_pool.h"

#include <fstream>
#include <set>
#include <string>
#include <utility>

namespace pyggml {

thread_pool::thread_pool(int n_threads) : n_threads_(n_threads > 0 ? n_threads : default_threads()) {
    workers_.reserve(n_threads_ - 1);
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

thread_pool::~thread_pool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_start_.notify_all();
    for (auto& w : workers_) w.join();
}

void thread_pool::run(const std::function<void(int, int)>& fn) {
    if (n_threads_ == 1) {
        fn(0, 1);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        job_ = &fn;
        pending_ = n_threads_ - 1;
        error_ = nullptr;
        ++generation_;
    }
    cv_start_.notify_all();
    std::exception_ptr mine;
    try { fn(0, n_threads_); } catch (...) { mine = std::current_exception(); }
    std::unique_lock<std::mutex> lock(mu_);
    cv_done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void thread_pool::worker_loop(int ith) {
    uint64_t seen = 0;
    for (;;) {
        const std::function<void(int, int)>* job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_start_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            job = job_;
        }
        std::exception_ptr err;
        try { (*job)(ith, n_threads_); } catch (...) { err = std::current_exception(); }
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (err && !error_) error_ = err;
            if (--pending_ == 0) cv_done_.notify_one();
        }
    }
}

int thread_pool::default_threads() {
    // Count distinct (physical id, core id) pairs; SMT siblings share a core.
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::set<std::pair<std::string, std::string>> cores;
    std::string line, phys = "0";
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("physical id", 0) == 0) phys = line.substr(line.find(':') + 1);
        if (line.rfind("core id", 0) == 0) cores.insert({phys, line.substr(line.find(':') + 1)});
    }
    if (!cores.empty()) return int(cores.size());
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : int(n);
}

}  // namespace pyggml
