// matmul_k.cu: the matrix kernels for the 256-value k-quants (Q2_K .. Q6_K, IQ4_XS); see
// matmul.cuh.
#include "cuda/matmul.cuh"

namespace pyggml {
namespace cuda {
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q2_K)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q3_K)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q4_K)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q5_K)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q6_K)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_IQ4_XS)
}  // namespace cuda
}  // namespace pyggml

#include <algorithm>

namespace pyggml {
namespace cuda {

// One token times a Q4_K matrix, the way llama.cpp's mmvq does it: the activations are
// quantized to int8 per 32 values (d = max |x| / 127, as ggml's Q8_1), and each sub-block
// of 32 weights (d sc q - dmin m, q a nibble) meets its 32 activations in integer dot
// products of four bytes (__dp4a):
//   sum_l (d sc q_l - dmin m) dx xq_l = dx (d sc sum_l q_l xq_l - dmin m sum_l xq_l).
// Every block quantizes x into shared memory (x is small and sits in L2), then its warps
// take rows (a grid-stride loop over at most kQ8MaxBlocks blocks, so that the quantization
// is repeated a bounded number of times), each lane every 32nd sub-block of a row with two
// 16-byte loads of its nibbles (qs of a 144-byte block starts 16 bytes in: 16-byte aligned).
constexpr int kQ8Warps = 4, kQ8MaxBlocks = 1024;
constexpr int64_t kQ8MaxCols = 32768;  // shared memory: 40 bytes per 32 columns

__device__ __forceinline__ int warp_sum_int(int v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}

__global__ void __launch_bounds__(kQ8Warps * 32)
    mul_mat_vec_q8_q4k(const uint8_t* __restrict__ W, size_t row_bytes, int n_rows, int n_units,
                       const float* __restrict__ x, float* __restrict__ y) {
    extern __shared__ __align__(16) int q8_smem[];
    int4* xq = reinterpret_cast<int4*>(q8_smem);                   // n_units x 2 int4: 32 int8 per unit
    float* xd = reinterpret_cast<float*>(q8_smem + 8 * n_units);  // n_units scales
    int* xs = q8_smem + 9 * n_units;                              // n_units sums of the int8 values
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int u = warp; u < n_units; u += kQ8Warps) {
        const float v = x[size_t(u) * 32 + lane];
        const float d = warp_max(fabsf(v)) / 127.0f;
        const int q = d > 0.0f ? __float2int_rn(v / d) : 0;
        // value l goes to byte l % 4 of word l / 4 (the byte order of the weights' words)
        uint32_t word = uint32_t(q & 0xff) << (8 * (lane & 3));
        word |= __shfl_xor_sync(kFullMask, word, 1);
        word |= __shfl_xor_sync(kFullMask, word, 2);
        if ((lane & 3) == 0) q8_smem[8 * u + (lane >> 2)] = int(word);
        const int s = warp_sum_int(q);
        if (lane == 0) {
            xd[u] = d;
            xs[u] = s;
        }
    }
    __syncthreads();
    for (int row = blockIdx.x * kQ8Warps + warp; row < n_rows; row += gridDim.x * kQ8Warps) {
        const uint8_t* w = W + size_t(row) * row_bytes;
        float acc = 0.0f;
        for (int u = lane; u < n_units; u += 32) {
            const uint8_t* b = w + size_t(u >> 3) * 144;
            const int j = u & 7;
            int sc, m;
            scale_min_k4(j, b + 4, sc, m);
            const uint4* qs = reinterpret_cast<const uint4*>(b + 16 + 32 * (j >> 1));
            const int shift = 4 * (j & 1);
            int isum = 0;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const uint4 a = qs[i];
                const int4 xv = xq[2 * u + i];
                isum = __dp4a(int((a.x >> shift) & 0x0F0F0F0Fu), xv.x, isum);
                isum = __dp4a(int((a.y >> shift) & 0x0F0F0F0Fu), xv.y, isum);
                isum = __dp4a(int((a.z >> shift) & 0x0F0F0F0Fu), xv.z, isum);
                isum = __dp4a(int((a.w >> shift) & 0x0F0F0F0Fu), xv.w, isum);
            }
            acc += xd[u] * (ld_f16(b) * float(sc) * float(isum) - ld_f16(b + 2) * float(m) * float(xs[u]));
        }
        acc = warp_sum(acc);
        if (lane == 0) y[row] = acc;
    }
}

void matvec_q8_q4k(const dev_matrix& w, const float* x, float* y, cudaStream_t s) {
    if (w.type != GGML_TYPE_Q4_K) throw std::invalid_argument("the integer matrix-vector kernel takes Q4_K weights");
    if (w.n_cols > kQ8MaxCols || w.n_cols % 256 != 0) {
        throw std::invalid_argument("the integer matrix-vector kernel takes at most 32768 columns");
    }
    const int n_rows = int(w.n_rows), n_units = int(w.n_cols / 32);
    if (n_rows <= 0) return;
    const size_t smem = size_t(n_units) * 40;  // 32 int8, a scale and a sum per unit
    const unsigned blocks = std::min(ceil_div(n_rows, kQ8Warps), unsigned(kQ8MaxBlocks));
    mul_mat_vec_q8_q4k<<<blocks, kQ8Warps * 32, smem, s>>>(w.data, w.row_bytes, n_rows, n_units, x, y);
    CUDA_CHECK_LAUNCH("integer matrix-vector kernel (mul_mat_vec_q8_q4k)");
}

}  // namespace cuda
}  // namespace pyggml
