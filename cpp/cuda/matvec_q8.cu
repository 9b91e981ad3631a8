// matvec_q8.cu: one token times a quantized matrix with integer dot products, the way
// llama.cpp's mmvq does it, for Q4_0, Q5_0, Q8_0, Q4_K, Q5_K and Q6_K.
//
// The activations are quantized once per token to int8 per 32 values (quantize_q8: d =
// max |x| / 127, q = x / d rounded to nearest even, as ggml's Q8_0 / Q8_1), and every
// weight block meets them in __dp4a products of four bytes; the float scales of both
// sides are applied once per 32 (or 16) values. Each row belongs to one warp (or to two or
// four warps of a block when there are few long rows, their sums merged through shared
// memory); a lane takes one slice of a block per step (kLanes<TYPE> lanes share a block),
// with the widest loads the block layout allows: 16 bytes of nibbles for Q4_K and Q5_K
// (144- and 176-byte blocks are 16-byte aligned), pairs of 2-byte loads for the 18-, 22-,
// 34- and 210-byte blocks. Several matrices with the same input may go in one launch
// (matvec_q8_multi: q, k and v; gate and up); the gate and up pair can also apply the
// gated activation and write act(gate) * up at once.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/dequant.cuh"
#include "cuda/kernels.cuh"

namespace pyggml {
namespace cuda {

namespace {

// ---------------------------------------------------------------- activations to int8

// One warp per 32 values.
__global__ void __launch_bounds__(256) quantize_q8_kernel(const float* __restrict__ x, int n_units,
                                                          int8_t* __restrict__ q, float* __restrict__ d) {
    const int lane = threadIdx.x & 31;
    const int u = blockIdx.x * 8 + (threadIdx.x >> 5);
    if (u >= n_units) return;  // the whole warp
    quantize32(x[size_t(u) * 32 + lane], lane, q + size_t(u) * 32, d + u);
}

// ---------------------------------------------------------------- one slice of a block

template <int TYPE>
struct q8_block;  // kValues per block, kBytes per block, kLanes sharing a block

template <>
struct q8_block<GGML_TYPE_Q4_0> {
    static constexpr int kValues = 32, kBytes = 18, kLanes = 4;
    // slice s: bytes 4s .. 4s + 3 of qs: values 4s .. 4s + 3 (low nibbles) and 16 + 4s .. (high)
    static __device__ __forceinline__ float dot(const uint8_t* b, int s, const int8_t* xq, const float* xd) {
        const uint32_t q = ld_u32_a2(b + 2 + 4 * s);
        const int* xi = reinterpret_cast<const int*>(xq);
        const int lo = int(__vsubss4(q & 0x0F0F0F0Fu, 0x08080808u));
        const int hi = int(__vsubss4((q >> 4) & 0x0F0F0F0Fu, 0x08080808u));
        const int isum = __dp4a(hi, xi[4 + s], __dp4a(lo, xi[s], 0));
        return ld_f16(b) * xd[0] * float(isum);
    }
};

// Q5_0: 22 bytes: d, qh (32 bits: the fifth bit of value j), qs[16] as Q4_0; value = d (q - 16).
template <>
struct q8_block<GGML_TYPE_Q5_0> {
    static constexpr int kValues = 32, kBytes = 22, kLanes = 4;
    // bits 0..3 of h to bit 4 of bytes 0..3 (the products i + 7j of the multiply never collide)
    static __device__ __forceinline__ uint32_t spread4(uint32_t h) { return ((h * 0x00204081u) & 0x01010101u) << 4; }
    static __device__ __forceinline__ float dot(const uint8_t* b, int s, const int8_t* xq, const float* xd) {
        const uint32_t qh = ld_u32_a2(b + 2);
        const uint32_t q = ld_u32_a2(b + 6 + 4 * s);
        const int* xi = reinterpret_cast<const int*>(xq);
        const uint32_t lo = (q & 0x0F0F0F0Fu) | spread4((qh >> (4 * s)) & 0xFu);
        const uint32_t hi = ((q >> 4) & 0x0F0F0F0Fu) | spread4((qh >> (16 + 4 * s)) & 0xFu);
        const int isum = __dp4a(int(__vsubss4(hi, 0x10101010u)), xi[4 + s],
                                __dp4a(int(__vsubss4(lo, 0x10101010u)), xi[s], 0));
        return ld_f16(b) * xd[0] * float(isum);
    }
};

template <>
struct q8_block<GGML_TYPE_Q8_0> {
    static constexpr int kValues = 32, kBytes = 34, kLanes = 4;
    // slice s: values 8s .. 8s + 7
    static __device__ __forceinline__ float dot(const uint8_t* b, int s, const int8_t* xq, const float* xd) {
        const int w0 = int(ld_u32_a2(b + 2 + 8 * s)), w1 = int(ld_u32_a2(b + 6 + 8 * s));
        const int2 xv = *reinterpret_cast<const int2*>(xq + 8 * s);
        const int isum = __dp4a(w1, xv.y, __dp4a(w0, xv.x, 0));
        return ld_f16(b) * xd[0] * float(isum);
    }
};

// Q4_K and Q5_K: slice s covers bytes 16 (s % 2) .. + 15 of the 32 qs bytes of sub-block
// pair p = s / 2: values l = 16 (s % 2) .. + 15 of sub-blocks 2p (low nibbles) and 2p + 1
// (high nibbles). value = d sc q - dmin m, so a sub-block's share is
// dx (d sc sum q xq - dmin m sum xq).
template <bool FIVE>
__device__ __forceinline__ float dot_q45_k(const uint8_t* b, int s, const int8_t* xq, const float* xd) {
    const int p = s >> 1, hf = s & 1;
    const uint4 a = *reinterpret_cast<const uint4*>(b + (FIVE ? 48 : 16) + 32 * p + 16 * hf);
    uint4 hb = make_uint4(0, 0, 0, 0);
    if (FIVE) hb = *reinterpret_cast<const uint4*>(b + 16 + 16 * hf);  // qh[l], bit j: sub-block j
    const int4 xa = *reinterpret_cast<const int4*>(xq + 64 * p + 16 * hf);
    const int4 xb = *reinterpret_cast<const int4*>(xq + 64 * p + 32 + 16 * hf);
    const uint32_t w[4] = {a.x, a.y, a.z, a.w}, hw[4] = {hb.x, hb.y, hb.z, hb.w};
    const int x0[4] = {xa.x, xa.y, xa.z, xa.w}, x1[4] = {xb.x, xb.y, xb.z, xb.w};
    int s0 = 0, s1 = 0, m0 = 0, m1 = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        uint32_t q0 = w[i] & 0x0F0F0F0Fu, q1 = (w[i] >> 4) & 0x0F0F0F0Fu;
        if (FIVE) {
            q0 |= ((hw[i] >> (2 * p)) & 0x01010101u) << 4;
            q1 |= ((hw[i] >> (2 * p + 1)) & 0x01010101u) << 4;
        }
        s0 = __dp4a(int(q0), x0[i], s0);
        s1 = __dp4a(int(q1), x1[i], s1);
        m0 = __dp4a(0x01010101, x0[i], m0);
        m1 = __dp4a(0x01010101, x1[i], m1);
    }
    int sc0, mn0, sc1, mn1;
    scale_min_k4(2 * p, b + 4, sc0, mn0);
    scale_min_k4(2 * p + 1, b + 4, sc1, mn1);
    const float d = ld_f16(b), dmin = ld_f16(b + 2);
    return xd[2 * p] * (d * float(sc0) * float(s0) - dmin * float(mn0) * float(m0)) +
           xd[2 * p + 1] * (d * float(sc1) * float(s1) - dmin * float(mn1) * float(m1));
}

template <>
struct q8_block<GGML_TYPE_Q4_K> {
    static constexpr int kValues = 256, kBytes = 144, kLanes = 8;
    static __device__ __forceinline__ float dot(const uint8_t* b, int s, const int8_t* xq, const float* xd) {
        return dot_q45_k<false>(b, s, xq, xd);
    }
};

template <>
struct q8_block<GGML_TYPE_Q5_K> {
    static constexpr int kValues = 256, kBytes = 176, kLanes = 8;
    static __device__ __forceinline__ float dot(const uint8_t* b, int s, const int8_t* xq, const float* xd) {
        return dot_q45_k<true>(b, s, xq, xd);
    }
};

// Q6_K: slice s: half h = s / 4 of the block, l = 8 (s % 4) .. + 7 of each of its four
// 32-value parts k (value 128 h + 32 k + l): low bits in ql[64 h + 32 (k % 2) + l] (nibble
// k / 2), high bits (qh[32 h + l] >> 2k) & 3; q - 32 as a signed byte; scale
// scales[8 h + 2 k + l / 16]; value = d sc (q - 32).
template <>
struct q8_block<GGML_TYPE_Q6_K> {
    static constexpr int kValues = 256, kBytes = 210, kLanes = 8;
    static __device__ __forceinline__ float dot(const uint8_t* b, int s, const int8_t* xq, const float* xd) {
        const int h = s >> 2, l0 = 8 * (s & 3);
        const uint32_t la[2] = {ld_u32_a2(b + 64 * h + l0), ld_u32_a2(b + 64 * h + l0 + 4)};
        const uint32_t lb[2] = {ld_u32_a2(b + 64 * h + 32 + l0), ld_u32_a2(b + 64 * h + 32 + l0 + 4)};
        const uint32_t qh[2] = {ld_u32_a2(b + 128 + 32 * h + l0), ld_u32_a2(b + 128 + 32 * h + l0 + 4)};
        const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * h + (l0 >> 4));
        float acc = 0.0f;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int2 xv = *reinterpret_cast<const int2*>(xq + 128 * h + 32 * k + l0);
            const int xs[2] = {xv.x, xv.y};
            int isum = 0;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const uint32_t lo = ((k & 1 ? lb[i] : la[i]) >> (4 * (k >> 1))) & 0x0F0F0F0Fu;
                const uint32_t hi = ((qh[i] >> (2 * k)) & 0x03030303u) << 4;
                isum = __dp4a(int(__vsubss4(lo | hi, 0x20202020u)), xs[i], isum);
            }
            acc += xd[4 * h + k] * float(sc[2 * k]) * float(isum);
        }
        return ld_f16(b + 208) * acc;
    }
};

// ---------------------------------------------------------------- the kernels

constexpr int kWarps = 4;  // warps per block

// Up to three matrices of one type with the same input, their blocks one after another
// in the grid.
struct multi_args {
    const uint8_t* w[3];
    size_t row_bytes[3];
    float* y[3];
    int n_rows[3];
    int first_block[4];  // grid blocks [first_block[i], first_block[i + 1]) are matrix i's
    int n;
};

// The dot product of one row with the quantized activations, summed over the WPR warps of
// the row (the result valid in lane 0 of the row's first warp).
template <int TYPE, int WPR>
__device__ __forceinline__ float row_dot(const uint8_t* __restrict__ w, int n_blocks, const int8_t* __restrict__ xq,
                                         const float* __restrict__ xd, float* red) {
    using B = q8_block<TYPE>;
    constexpr int kStep = WPR * 32 / B::kLanes;  // blocks per step of the row's lanes
    const int li = (threadIdx.x & (WPR * 32 - 1));
    const int s = li % B::kLanes;
    float acc = 0.0f;
#pragma unroll 2
    for (int ib = li / B::kLanes; ib < n_blocks; ib += kStep) {
        acc += B::dot(w + size_t(ib) * B::kBytes, s, xq + size_t(ib) * B::kValues, xd + size_t(ib) * (B::kValues / 32));
    }
    acc = warp_sum(acc);
    if (WPR > 1) {
        const int warp = threadIdx.x >> 5;
        if ((threadIdx.x & 31) == 0) red[warp] = acc;
        __syncthreads();
        if (li == 0) {
#pragma unroll
            for (int i = 1; i < WPR; ++i) acc += red[warp + i];
        }
    }
    return acc;
}

template <int TYPE, int WPR>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_q8_kernel(multi_args a, int n_blocks, const int8_t* __restrict__ xq, const float* __restrict__ xd) {
    __shared__ float red[kWarps];
    // which matrix this block serves (constant indices only: the arguments stay in
    // parameter space instead of a local copy)
    const int bx = int(blockIdx.x);
    const int m = (a.n > 2 && bx >= a.first_block[2]) ? 2 : (a.n > 1 && bx >= a.first_block[1]) ? 1 : 0;
    const uint8_t* w = m == 0 ? a.w[0] : m == 1 ? a.w[1] : a.w[2];
    const size_t row_bytes = m == 0 ? a.row_bytes[0] : m == 1 ? a.row_bytes[1] : a.row_bytes[2];
    float* y = m == 0 ? a.y[0] : m == 1 ? a.y[1] : a.y[2];
    const int n_rows = m == 0 ? a.n_rows[0] : m == 1 ? a.n_rows[1] : a.n_rows[2];
    const int first = m == 0 ? a.first_block[0] : m == 1 ? a.first_block[1] : a.first_block[2];
    constexpr int kRows = kWarps / WPR;
    const int row = (bx - first) * kRows + int(threadIdx.x >> 5) / WPR;
    // every thread of a row group reaches the __syncthreads of row_dot: rows past the end
    // compute a clamped row and do not store it
    const bool valid = row < n_rows;
    const int r = valid ? row : n_rows - 1;
    const float v = row_dot<TYPE, WPR>(w + size_t(r) * row_bytes, n_blocks, xq, xd, red);
    if (valid && (threadIdx.x & (WPR * 32 - 1)) == 0) y[row] = v;
}

// gate and up rows of one type side by side: y = act(gate row . x) * (up row . x)
template <int TYPE>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_q8_glu_kernel(const uint8_t* __restrict__ wg, const uint8_t* __restrict__ wu, size_t row_bytes, int n_rows,
                         int n_blocks, const int8_t* __restrict__ xq, const float* __restrict__ xd, int act,
                         float* __restrict__ y) {
    const int row = blockIdx.x * kWarps + int(threadIdx.x >> 5);
    if (row >= n_rows) return;  // the whole warp
    const float g = row_dot<TYPE, 1>(wg + size_t(row) * row_bytes, n_blocks, xq, xd, nullptr);
    const float u = row_dot<TYPE, 1>(wu + size_t(row) * row_bytes, n_blocks, xq, xd, nullptr);
    if ((threadIdx.x & 31) == 0) y[row] = act_value(act, g) * u;
}

template <int TYPE>
constexpr int values_per_block() {
    return q8_block<TYPE>::kValues;
}

// Warps per row: one where there are rows enough to fill the GPU, more for few long rows.
template <int TYPE>
int warps_per_row(int64_t n_rows, int64_t n_blocks) {
    const int64_t lanes = n_blocks * q8_block<TYPE>::kLanes;  // lanes a row can keep busy
    if (n_rows < 2048 && lanes >= 128) return 4;
    if (n_rows < 4096 && lanes >= 64) return 2;
    return 1;
}

template <int TYPE>
void launch_multi(multi_args a, int64_t n_cols, const q8_vec& x, cudaStream_t s) {
    const int n_blocks = int(n_cols / q8_block<TYPE>::kValues);
    int64_t total_rows = 0;
    for (int i = 0; i < a.n; ++i) total_rows += a.n_rows[i];
    const int wpr = warps_per_row<TYPE>(total_rows, n_blocks);
    const int rows_per_block = kWarps / wpr;
    int64_t blocks = 0;
    for (int i = 0; i < a.n; ++i) {
        a.first_block[i] = int(blocks);
        blocks += ceil_div(a.n_rows[i], rows_per_block);
    }
    a.first_block[a.n] = int(blocks);
    if (blocks == 0) return;
    if (blocks > int64_t(0x7fffffff)) throw std::invalid_argument("matvec_q8: too many rows");
    switch (wpr) {
        case 4: matvec_q8_kernel<TYPE, 4><<<unsigned(blocks), kWarps * 32, 0, s>>>(a, n_blocks, x.q, x.d); break;
        case 2: matvec_q8_kernel<TYPE, 2><<<unsigned(blocks), kWarps * 32, 0, s>>>(a, n_blocks, x.q, x.d); break;
        default: matvec_q8_kernel<TYPE, 1><<<unsigned(blocks), kWarps * 32, 0, s>>>(a, n_blocks, x.q, x.d); break;
    }
    CUDA_CHECK_LAUNCH("integer matrix-vector kernel (matvec_q8_kernel)");
}

int block_values(int32_t type) {
    switch (type) {
        case GGML_TYPE_Q4_0:
        case GGML_TYPE_Q5_0:
        case GGML_TYPE_Q8_0: return 32;
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q5_K:
        case GGML_TYPE_Q6_K: return 256;
        default: return 0;
    }
}

}  // namespace

bool matvec_q8_supports(int32_t type, int64_t n_cols) {
    const int qk = block_values(type);
    return qk > 0 && n_cols > 0 && n_cols % qk == 0;
}

size_t q8_vec_bytes(int64_t n) {
    const size_t n32 = size_t((n + 31) / 32) * 32;
    return n32 + n32 / 32 * sizeof(float);
}

q8_vec q8_vec_at(void* p, int64_t n) {
    const size_t n32 = size_t((n + 31) / 32) * 32;
    q8_vec v;
    v.q = static_cast<int8_t*>(p);
    v.d = reinterpret_cast<float*>(static_cast<int8_t*>(p) + n32);
    return v;
}

void quantize_q8(const float* x, int64_t n, const q8_vec& out, cudaStream_t s) {
    if (n <= 0) return;
    if (n % 32) throw std::invalid_argument("quantize_q8: the length must be a multiple of 32");
    const int64_t n_units = n / 32;
    quantize_q8_kernel<<<ceil_div(n_units, 8), 256, 0, s>>>(x, int(n_units), out.q, out.d);
    CUDA_CHECK_LAUNCH("activation quantization kernel (quantize_q8)");
}

void matvec_q8_multi(const dev_matrix* const* ws, float* const* ys, int n, const q8_vec& x, cudaStream_t s) {
    if (n < 1 || n > 3) throw std::invalid_argument("matvec_q8_multi: one to three matrices");
    const dev_matrix& w0 = *ws[0];
    multi_args a{};
    a.n = n;
    for (int i = 0; i < n; ++i) {
        const dev_matrix& w = *ws[i];
        if (w.type != w0.type || w.n_cols != w0.n_cols) {
            throw std::invalid_argument("matvec_q8_multi: the matrices differ in type or width");
        }
        if (!matvec_q8_supports(w.type, w.n_cols)) {
            throw std::invalid_argument("no integer matrix-vector kernel for ggml type " + std::to_string(w.type) +
                                        " with " + std::to_string(w.n_cols) + " columns");
        }
        a.w[i] = w.data;
        a.row_bytes[i] = w.row_bytes;
        a.y[i] = ys[i];
        a.n_rows[i] = int(w.n_rows);
    }
    switch (w0.type) {
        case GGML_TYPE_Q4_0: launch_multi<GGML_TYPE_Q4_0>(a, w0.n_cols, x, s); return;
        case GGML_TYPE_Q5_0: launch_multi<GGML_TYPE_Q5_0>(a, w0.n_cols, x, s); return;
        case GGML_TYPE_Q8_0: launch_multi<GGML_TYPE_Q8_0>(a, w0.n_cols, x, s); return;
        case GGML_TYPE_Q4_K: launch_multi<GGML_TYPE_Q4_K>(a, w0.n_cols, x, s); return;
        case GGML_TYPE_Q5_K: launch_multi<GGML_TYPE_Q5_K>(a, w0.n_cols, x, s); return;
        case GGML_TYPE_Q6_K: launch_multi<GGML_TYPE_Q6_K>(a, w0.n_cols, x, s); return;
        default: break;
    }
    throw std::invalid_argument("no integer matrix-vector kernel for ggml type " + std::to_string(w0.type));
}

void matvec_q8(const dev_matrix& w, const q8_vec& x, float* y, cudaStream_t s) {
    const dev_matrix* ws[1] = {&w};
    float* ys[1] = {y};
    matvec_q8_multi(ws, ys, 1, x, s);
}

bool matvec_q8_glu_supports(const dev_matrix& gate, const dev_matrix& up) {
    return gate.type == up.type && gate.n_rows == up.n_rows && gate.n_cols == up.n_cols &&
           gate.row_bytes == up.row_bytes && matvec_q8_supports(gate.type, gate.n_cols);
}

void matvec_q8_glu(int act, const dev_matrix& gate, const dev_matrix& up, const q8_vec& x, float* y, cudaStream_t s) {
    if (!matvec_q8_glu_supports(gate, up)) throw std::invalid_argument("matvec_q8_glu: gate and up differ");
    const int n_rows = int(gate.n_rows);
    if (n_rows <= 0) return;
    const dim3 grid(ceil_div(n_rows, kWarps));
#define PYGGML_GLU(TYPE)                                                                                              \
    case TYPE:                                                                                                       \
        matvec_q8_glu_kernel<TYPE><<<grid, kWarps * 32, 0, s>>>(gate.data, up.data, gate.row_bytes, n_rows,          \
                                                                int(gate.n_cols / values_per_block<TYPE>()), x.q, \
                                                                x.d, act, y);                                        \
        break;
    switch (gate.type) {
        PYGGML_GLU(GGML_TYPE_Q4_0)
        PYGGML_GLU(GGML_TYPE_Q5_0)
        PYGGML_GLU(GGML_TYPE_Q8_0)
        PYGGML_GLU(GGML_TYPE_Q4_K)
        PYGGML_GLU(GGML_TYPE_Q5_K)
        PYGGML_GLU(GGML_TYPE_Q6_K)
        default: throw std::invalid_argument("no integer matrix-vector kernel for ggml type " + std::to_string(gate.type));
    }
#undef PYGGML_GLU
    CUDA_CHECK_LAUNCH("gate and up matrix-vector kernel (matvec_q8_glu_kernel)");
}

}  // namespace cuda
}  // namespace pyggml
