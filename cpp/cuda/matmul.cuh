// matmul.cuh: the matrix kernels over GGUF-layout weights, as templates on the weight type;
// matmul_f.cu, matmul_q.cu and matmul_k.cu instantiate them for their types (three
// translation units, so that a parallel build compiles them side by side).
//
// Both kernels dequantize on the fly (dequant.cuh) 32 values at a time and multiply in
// float32 with float32 activations:
//  - mul_mat_vec, for one to kMatVecMaxTokens tokens: one warp per weight row, each lane
//    taking every 32nd unit of 32 values of the row, then a warp sum. Memory-bound: each
//    weight byte is read once per call.
//  - mul_mat_tiled, for prompts: 64 rows x 64 tokens per block of 256 threads, 64 columns
//    at a time: half the threads dequantize the 64 x 64 weight tile into shared memory
//    while the other half stage the activations, then every thread accumulates 4 x 4
//    outputs.
#pragma once

#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/dequant.cuh"
#include "cuda/kernels.cuh"

namespace pyggml {
namespace cuda {

constexpr int kVecWarps = 4;  // rows per block of mul_mat_vec

template <int TYPE, int NT>
__global__ void __launch_bounds__(kVecWarps * 32)
    mul_mat_vec(const uint8_t* __restrict__ W, size_t row_bytes, int n_rows, int n_units, const float* __restrict__ x,
                int n_cols, float* __restrict__ y, int T) {
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * kVecWarps + (threadIdx.x >> 5);
    if (row >= n_rows) return;  // the whole warp
    const uint8_t* w = W + size_t(row) * row_bytes;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
    for (int u = lane; u < n_units; u += 32) {
        float v[32];
        dequant32<TYPE>(w, u, v);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < T) {
                const float4* xp = reinterpret_cast<const float4*>(x + size_t(t) * n_cols) + size_t(u) * 8;
#pragma unroll
                for (int i = 0; i < 8; ++i) {
                    const float4 a = xp[i];
                    acc[t] = fmaf(v[4 * i], a.x, acc[t]);
                    acc[t] = fmaf(v[4 * i + 1], a.y, acc[t]);
                    acc[t] = fmaf(v[4 * i + 2], a.z, acc[t]);
                    acc[t] = fmaf(v[4 * i + 3], a.w, acc[t]);
                }
            }
        }
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const float s = warp_sum(acc[t]);
        if (lane == 0 && t < T) y[size_t(t) * n_rows + row] = s;
    }
}

constexpr int kTileM = 64, kTileN = 64, kTileK = 64, kTilePad = 4;

template <int TYPE>
__global__ void __launch_bounds__(256)
    mul_mat_tiled(const uint8_t* __restrict__ W, size_t row_bytes, int n_rows, int n_units,
                  const float* __restrict__ x, int n_cols, float* __restrict__ y, int T) {
    __shared__ __align__(16) float ws[kTileK][kTileM + kTilePad];  // [k][row]
    __shared__ __align__(16) float xs[kTileK][kTileN + kTilePad];  // [k][token]
    const int tid = threadIdx.x;
    const int m0 = blockIdx.x * kTileM, n0 = blockIdx.y * kTileN;
    const int tm = (tid % 16) * 4, tn = (tid / 16) * 4;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
    }
    for (int u0 = 0; u0 < n_units; u0 += kTileK / 32) {
        if (tid < 128) {
            // one unit of 32 values of one row: rows m, units u0 and u0 + 1
            const int m = tid % kTileM, j = tid / kTileM;
            const int u = u0 + j;
            float v[32];
            if (m0 + m < n_rows && u < n_units) {
                dequant32<TYPE>(W + size_t(m0 + m) * row_bytes, u, v);
            } else {
#pragma unroll
                for (int i = 0; i < 32; ++i) v[i] = 0.0f;
            }
#pragma unroll
            for (int i = 0; i < 32; ++i) ws[32 * j + i][m] = v[i];
        } else {
            // 64 tokens x 16 groups of 4 columns, 8 float4 per thread
            const int t = tid - 128;
#pragma unroll
            for (int it = 0; it < 8; ++it) {
                const int idx = it * 128 + t;
                const int n = idx % kTileN, kq = idx / kTileN;
                const int k = u0 * 32 + 4 * kq;
                float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                if (n0 + n < T && k < n_cols) a = *reinterpret_cast<const float4*>(x + size_t(n0 + n) * n_cols + k);
                xs[4 * kq][n] = a.x;
                xs[4 * kq + 1][n] = a.y;
                xs[4 * kq + 2][n] = a.z;
                xs[4 * kq + 3][n] = a.w;
            }
        }
        __syncthreads();
#pragma unroll 8
        for (int k = 0; k < kTileK; ++k) {
            const float4 a = *reinterpret_cast<const float4*>(&ws[k][tm]);
            const float4 b = *reinterpret_cast<const float4*>(&xs[k][tn]);
            const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const int n = n0 + tn + j;
        if (n >= T) continue;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int m = m0 + tm + i;
            if (m < n_rows) y[size_t(n) * n_rows + m] = acc[i][j];
        }
    }
}

template <int TYPE>
__global__ void dequantize_rows(const uint8_t* __restrict__ W, size_t row_bytes, int n_rows, int n_units,
                                float* __restrict__ y) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= int64_t(n_rows) * n_units) return;
    const int row = int(i / n_units), u = int(i % n_units);
    float v[32];
    dequant32<TYPE>(W + size_t(row) * row_bytes, u, v);
    float* dst = y + (size_t(row) * n_units + u) * 32;
#pragma unroll
    for (int k = 0; k < 32; ++k) dst[k] = v[k];
}

template <int TYPE>
void matmul_type(const dev_matrix& w, const float* x, int64_t T, float* y, cudaStream_t s, int mode) {
    const int n_rows = int(w.n_rows), n_units = int(w.n_cols / 32), n_cols = int(w.n_cols);
    if (T <= 0 || n_rows <= 0) return;
    if (mode == 1 || (mode == 0 && T <= kMatVecMaxTokens)) {
        if (T > kMatVecMaxTokens) throw std::invalid_argument("the matrix-vector kernel takes at most 8 tokens");
        const dim3 grid(ceil_div(n_rows, kVecWarps));
        if (T == 1) {
            mul_mat_vec<TYPE, 1><<<grid, kVecWarps * 32, 0, s>>>(w.data, w.row_bytes, n_rows, n_units, x, n_cols, y, 1);
        } else {
            mul_mat_vec<TYPE, kMatVecMaxTokens>
                <<<grid, kVecWarps * 32, 0, s>>>(w.data, w.row_bytes, n_rows, n_units, x, n_cols, y, int(T));
        }
        CUDA_CHECK_LAUNCH("matrix-vector kernel (mul_mat_vec)");
    } else {
        const dim3 grid(ceil_div(n_rows, kTileM), ceil_div(T, kTileN));
        mul_mat_tiled<TYPE><<<grid, 256, 0, s>>>(w.data, w.row_bytes, n_rows, n_units, x, n_cols, y, int(T));
        CUDA_CHECK_LAUNCH("tiled matrix multiply (mul_mat_tiled)");
    }
}

template <int TYPE>
void dequantize_type(const dev_matrix& w, float* y, cudaStream_t s) {
    const int n_rows = int(w.n_rows), n_units = int(w.n_cols / 32);
    const int64_t n = int64_t(n_rows) * n_units;
    if (n == 0) return;
    dequantize_rows<TYPE><<<ceil_div(n, 256), 256, 0, s>>>(w.data, w.row_bytes, n_rows, n_units, y);
    CUDA_CHECK_LAUNCH("dequantize kernel (dequantize_rows)");
}

}  // namespace cuda
}  // namespace pyggml

// Instantiates the launchers of one type; used inside namespace pyggml::cuda by one of the
// matmul_*.cu files.
#define PYGGML_CUDA_INSTANTIATE(TYPE)                                                                         \
    template void matmul_type<TYPE>(const dev_matrix&, const float*, int64_t, float*, cudaStream_t, int);   \
    template void dequantize_type<TYPE>(const dev_matrix&, float*, cudaStream_t);
