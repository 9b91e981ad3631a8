// common.cuh: error checks and warp helpers shared by the CUDA sources.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace pyggml {
namespace cuda {

// Throws std::runtime_error("CUDA error in <what>: <name> (<description>) at file:line").
[[noreturn]] void throw_error(cudaError_t e, const char* what, const char* file, int line);

inline void check(cudaError_t e, const char* what, const char* file, int line) {
    if (e != cudaSuccess) throw_error(e, what, file, line);
}

}  // namespace cuda
}  // namespace pyggml

// Every CUDA runtime call goes through CUDA_CHECK with the name of what it does.
#define CUDA_CHECK(call, what) ::pyggml::cuda::check((call), (what), __FILE__, __LINE__)
// After each kernel launch: a bad launch shows at once; a fault inside the kernel at the
// next call that waits for it (the stream synchronisation that ends each forward pass).
#define CUDA_CHECK_LAUNCH(what) ::pyggml::cuda::check(cudaGetLastError(), (what), __FILE__, __LINE__)

namespace pyggml {
namespace cuda {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
    return v;
}

inline unsigned ceil_div(int64_t a, int64_t b) { return unsigned((a + b - 1) / b); }

}  // namespace cuda
}  // namespace pyggml
