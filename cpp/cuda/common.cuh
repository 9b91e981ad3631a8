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

// Lane `lane` of a warp holding 32 consecutive values v quantizes them to int8 as
// quantize_q8 does: q[lane] = v / d rounded to nearest even, *d = max |v| / 127 (lane 0).
// Every lane of the warp must call it.
__device__ __forceinline__ void quantize32(float v, int lane, int8_t* q, float* d) {
    const float amax = warp_max(fabsf(v));
    const float dd = amax / 127.0f;
    const int qi = amax > 0.0f ? __float2int_rn(v / dd) : 0;
    q[lane] = int8_t(qi);
    if (lane == 0) *d = dd;
}

// The gated activations of act_mul: 0 SiLU, 1 GELU (tanh approximation).
__device__ __forceinline__ float act_value(int act, float g) {
    if (act == 0) return g / (1.0f + expf(-g));
    const float c = 0.7978845608028654f;  // sqrt(2 / pi)
    return 0.5f * g * (1.0f + tanhf(c * (g + 0.044715f * g * g * g)));
}

inline unsigned ceil_div(int64_t a, int64_t b) { return unsigned((a + b - 1) / b); }

}  // namespace cuda
}  // namespace pyggml
