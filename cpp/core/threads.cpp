// threads.cpp: a fixed set of workers woken per job (see threads.h).
#include "core/threads.h"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "core/cpu.h"
#include "core/errors.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PYGGML_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define PYGGML_CPU_RELAX() __asm__ volatile("yield")
#else
#define PYGGML_CPU_RELAX() ((void)0)
#endif

namespace pyggml {

namespace {
// About 20-50 microseconds of polling before a waiter goes to sleep.
constexpr int kSpinIterations = 1 << 12;
}  // namespace

template <typename Pred>
void thread_pool::wait_for(std::condition_variable& cv, Pred pred) {
    for (int i = 0; i < kSpinIterations; ++i) {
        if (pred()) return;
        PYGGML_CPU_RELAX();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv.wait(lock, pred);
}

thread_pool::thread_pool(int n_threads) : n_threads_(n_threads > 0 ? n_threads : default_threads()) {
    workers_.reserve(n_threads_ - 1);
    for (int i = 1; i < n_threads_; ++i) {
        try {
            workers_.emplace_back([this, i] { worker_loop(i); });
        } catch (const std::system_error& e) {
            // The workers already started wait on cv_start_: stop and join them, or the
            // members' destructors would wait for them forever.
            stop_workers();
            throw resource_error("cannot start thread " + std::to_string(i + 1) + " of " +
                                 std::to_string(n_threads_) + " (" + e.what() + "): use fewer threads");
        }
    }
}

thread_pool::~thread_pool() { stop_workers(); }

void thread_pool::stop_workers() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true);
    }
    cv_start_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
}

void thread_pool::run(const std::function<void(int, int)>& fn) {
    if (n_threads_ == 1) {
        fn(0, 1);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        job_ = &fn;
        error_ = nullptr;
        pending_.store(n_threads_ - 1, std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_start_.notify_all();
    std::exception_ptr mine;
    try { fn(0, n_threads_); } catch (...) { mine = std::current_exception(); }
    wait_for(cv_done_, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    job_ = nullptr;
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void thread_pool::barrier() {
    if (n_threads_ == 1) return;
    const uint64_t phase = barrier_phase_.load(std::memory_order_acquire);
    if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == n_threads_ - 1) {
        barrier_count_.store(0, std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lock(mu_);
            barrier_phase_.fetch_add(1, std::memory_order_release);
        }
        cv_barrier_.notify_all();
        return;
    }
    wait_for(cv_barrier_, [&] { return barrier_phase_.load(std::memory_order_acquire) != phase; });
}

void thread_pool::worker_loop(int ith) {
    uint64_t seen = 0;
    for (;;) {
        wait_for(cv_start_, [&] {
            return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
        });
        if (stop_.load(std::memory_order_acquire)) return;
        seen = generation_.load(std::memory_order_acquire);
        const std::function<void(int, int)>* job = job_;
        std::exception_ptr err;
        try { (*job)(ith, n_threads_); } catch (...) { err = std::current_exception(); }
        std::lock_guard<std::mutex> lock(mu_);
        if (err && !error_) error_ = err;
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) cv_done_.notify_one();
    }
}

int darwin_default_threads(const std::function<int(const char*)>& value) {
    const int performance = value("hw.perflevel0.physicalcpu");
    return performance > 0 ? performance : std::max(0, value("hw.physicalcpu"));
}

int thread_pool::default_threads() {
#if defined(__APPLE__)
    const int n_apple = darwin_default_threads(sysctl_int);
    if (n_apple > 0) return n_apple;
#endif
    auto slurp = [](const char* path) {
        std::ifstream f(path);
        return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    };
    // On an Intel CPU with performance and efficiency cores, Linux lists the performance
    // cores' CPUs in /sys/devices/cpu_core/cpus (absent elsewhere).
    const int cores = count_physical_cores(slurp("/proc/cpuinfo"), slurp("/sys/devices/cpu_core/cpus"));
    if (cores > 0) return cores;
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : int(n);
}

int count_physical_cores(const std::string& cpuinfo, const std::string& only) {
    // the CPUs of `only`, a list of numbers and ranges ("0-15,24")
    std::set<long> wanted;
    std::istringstream list(only);
    std::string item;
    while (std::getline(list, item, ',')) {
        long lo = 0, hi = 0;
        char dash = 0;
        std::istringstream range(item);
        if (!(range >> lo)) continue;
        hi = (range >> dash >> hi && dash == '-') ? hi : lo;
        for (long c = lo; c <= hi && c - lo < 65536; ++c) wanted.insert(c);
    }
    // distinct (physical id, core id) pairs of the processors counted: SMT siblings share a core
    std::set<std::pair<std::string, std::string>> cores;
    std::istringstream in(cpuinfo);
    std::string line, phys = "0";
    long processor = -1;
    auto value = [&] { return line.substr(line.find(':') + 1); };
    while (std::getline(in, line)) {
        if (line.rfind("processor", 0) == 0) processor = std::atol(value().c_str());
        if (line.rfind("physical id", 0) == 0) phys = value();
        if (line.rfind("core id", 0) == 0 && (wanted.empty() || wanted.count(processor))) cores.insert({phys, value()});
    }
    return int(cores.size());
}

}  // namespace pyggml
