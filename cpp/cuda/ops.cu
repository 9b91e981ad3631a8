// ops.cu: the norm, rotation, attention and element-wise kernels of a block on the GPU,
// and the dispatch of the matrix kernels by weight type (kernels.cuh).
//
// The CPU path (ops.cpp) is the reference: norms sum squares in double and round the
// scale once, as rms_norm does; products and sums that the CPU rounds one by one are
// written __fmul_rn / __fadd_rn here so that nvcc does not fuse them. Attention is
// computed in one pass over the keys with a running maximum (the CPU takes the maximum
// first), so its results match the CPU's to float rounding, not bit for bit.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/gpu_placement.h"
#include "cuda/kernels.cuh"
#include "core/dispatch.h"

namespace pyggml {
namespace cuda {

[[noreturn]] void throw_error(cudaError_t e, const char* what, const char* file, int line) {
    const char* base = std::strrchr(file, '/');
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(e) + " (" +
                             cudaGetErrorString(e) + ") at " + (base ? base + 1 : file) + ":" + std::to_string(line));
}

// ---------------------------------------------------------------- matrix dispatch

void matmul(const dev_matrix& w, const float* x, int64_t T, float* y, cudaStream_t s, int mode) {
    switch (w.type) {
#define PYGGML_CASE(TYPE)                      \
    case TYPE:                                 \
        matmul_type<TYPE>(w, x, T, y, s, mode); \
        return;
        PYGGML_GPU_TYPES(PYGGML_CASE)
#undef PYGGML_CASE
        default:
            break;
    }
    throw std::invalid_argument("no GPU matrix kernel for ggml type " + std::to_string(w.type));
}

void dequantize(const dev_matrix& w, float* y, cudaStream_t s) {
    switch (w.type) {
#define PYGGML_CASE(TYPE)               \
    case TYPE:                          \
        dequantize_type<TYPE>(w, y, s); \
        return;
        PYGGML_GPU_TYPES(PYGGML_CASE)
#undef PYGGML_CASE
        default:
            break;
    }
    throw std::invalid_argument("no GPU dequantize kernel for ggml type " + std::to_string(w.type));
}

namespace {

// ---------------------------------------------------------------- norms

// The sum of v over the block (blockDim.x a multiple of 32), the same in every thread.
__device__ double block_sum(double v, double* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // red is free again after an earlier call
    if (lane == 0) red[warp] = v;
    __syncthreads();
    double s = 0.0;
    for (int i = 0; i < n_warps; ++i) s += red[i];
    return s;
}

// ops.cpp rms_norm's scale: 1 / sqrt(mean of squares + eps), in double, rounded once.
__device__ float rms_scale(double sum_sq, int n, float eps) {
    return float(1.0 / sqrt(sum_sq / double(n) + double(eps)));
}

constexpr int kNormThreads = 256;

__global__ void __launch_bounds__(kNormThreads)
    residual_norm_kernel(float* __restrict__ x, const float* __restrict__ o, const float* __restrict__ post_w,
                         float* __restrict__ h, const float* __restrict__ norm_w, int n, float eps,
                         int8_t* __restrict__ xq, float* __restrict__ xd) {
    __shared__ double red[32];
    const size_t base = size_t(blockIdx.x) * size_t(n);
    float* xt = x + base;
    if (o) {
        const float* ot = o + base;
        float scale = 1.0f;
        if (post_w) {
            double ss = 0.0;
            for (int i = threadIdx.x; i < n; i += blockDim.x) ss += double(ot[i]) * double(ot[i]);
            scale = rms_scale(block_sum(ss, red), n, eps);
        }
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            float oi = ot[i];
            if (post_w) oi = __fmul_rn(__fmul_rn(oi, scale), post_w[i]);
            xt[i] = __fadd_rn(xt[i], oi);
        }
    }
    if (h) {
        // each thread reads back the elements of x it wrote itself
        double ss = 0.0;
        for (int i = threadIdx.x; i < n; i += blockDim.x) ss += double(xt[i]) * double(xt[i]);
        const float scale = rms_scale(block_sum(ss, red), n, eps);
        float* ht = h + base;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const float y = __fmul_rn(xt[i], scale);
            const float hv = norm_w ? __fmul_rn(y, norm_w[i]) : y;
            ht[i] = hv;
            // n a multiple of 32: the warp's 32 lanes hold 32 consecutive values
            if (xq) quantize32(hv, threadIdx.x & 31, xq + (i & ~31), xd + (i >> 5));
        }
    }
}

// ---------------------------------------------------------------- q, k, v after their matrices

// One warp per (head of q, k or v, token): blockIdx.x < n_head: q head; then the k heads;
// then the v heads. blockIdx.y: the token.
__global__ void __launch_bounds__(32) qkv_finish_kernel(qkv_args a) {
    __shared__ float buf[kMaxHeadDim];
    const int t = blockIdx.y, lane = threadIdx.x;
    int kind = 0, head = blockIdx.x;
    if (head >= a.n_head + a.n_head_kv) {
        kind = 2;
        head -= a.n_head + a.n_head_kv;
    } else if (head >= a.n_head) {
        kind = 1;
        head -= a.n_head;
    }
    const int hd = kind == 2 ? a.hdv : a.hdk;
    const int dim = (kind == 0 ? a.n_head : a.n_head_kv) * hd;
    const float* src = (kind == 0 ? a.q : kind == 1 ? a.k : a.v) + size_t(t) * dim + size_t(head) * hd;
    const float* bias = kind == 0 ? a.bq : kind == 1 ? a.bk : a.bv;
    for (int d = lane; d < hd; d += 32) buf[d] = bias ? __fadd_rn(src[d], bias[head * hd + d]) : src[d];
    __syncwarp();
    const float* nw = kind == 0 ? a.q_norm : kind == 1 ? a.k_norm : nullptr;
    if (nw) {
        double ss = 0.0;
        for (int d = lane; d < hd; d += 32) ss += double(buf[d]) * double(buf[d]);
        const float scale = rms_scale(warp_sum(ss), hd, a.eps);
        for (int d = lane; d < hd; d += 32) buf[d] = __fmul_rn(__fmul_rn(buf[d], scale), nw[d]);
        __syncwarp();
    }
    if (kind != 2) {
        const float* cs = a.rope_cs + size_t(t) * a.n_rot;
        const int half = a.n_rot / 2;
        for (int i = lane; i < half; i += 32) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const int ia = a.neox ? i : 2 * i, ib = a.neox ? i + half : 2 * i + 1;
            const float x0 = buf[ia], x1 = buf[ib];
            buf[ia] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
            buf[ib] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
        }
        __syncwarp();
    }
    if (kind == 0) {
        float* dst = a.q + size_t(t) * dim + size_t(head) * hd;
        for (int d = lane; d < hd; d += 32) dst[d] = __fmul_rn(buf[d], a.attn_scale);
    } else {
        const size_t p = size_t(*a.pos) + size_t(t);
        __half* dst = (kind == 1 ? a.k_cache : a.v_cache) + p * dim + size_t(head) * hd;
        for (int d = lane; d < hd; d += 32) dst[d] = __float2half_rn(buf[d]);
    }
}

// ---------------------------------------------------------------- attention

// One block of NW warps per (query head, token). Keys go to the warps in chunks of 32:
// lane j scores key j of the chunk (its whole dot product), the warp keeps a running
// maximum m, sum s and output o (lane l holds dimensions l, l + 32, ...), each chunk
// scaling the earlier ones by exp(m_old - m_new); then the warps' states are merged.
template <int NW>
__global__ void __launch_bounds__(NW * 32) attention_kernel(attn_args a) {
    constexpr int kDims = kMaxHeadDim / 32;
    __shared__ float q_s[kMaxHeadDim];
    __shared__ float m_s[NW], s_s[NW];
    __shared__ float o_s[NW][kMaxHeadDim];
    const int h = blockIdx.x, t = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int group = a.n_head / a.n_head_kv, kvh = h / group;
    const int k_dim = a.n_head_kv * a.hdk, v_dim = a.n_head_kv * a.hdv;
    const float* qrow = a.q + size_t(t) * a.n_head * a.hdk + size_t(h) * a.hdk;
    for (int d = threadIdx.x; d < a.hdk; d += NW * 32) q_s[d] = qrow[d];
    __syncthreads();
    const int hi = *a.pos + t + 1;
    const int lo = a.window > 0 ? max(0, hi - a.window) : 0;
    const __half* kbase = a.k + size_t(kvh) * a.hdk;
    const __half* vbase = a.v + size_t(kvh) * a.hdv;
    float m = -INFINITY, s = 0.0f;
    float o[kDims];
#pragma unroll
    for (int i = 0; i < kDims; ++i) o[i] = 0.0f;
    for (int c0 = lo + warp * 32; c0 < hi; c0 += NW * 32) {
        const int j = c0 + lane;
        float score = -INFINITY;
        if (j < hi) {
            const uint4* kr = reinterpret_cast<const uint4*>(kbase + size_t(j) * k_dim);
            float acc = 0.0f;
            for (int d8 = 0; d8 < a.hdk / 8; ++d8) {
                const uint4 raw = kr[d8];
                const __half2* h2 = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const float2 f = __half22float2(h2[e]);
                    acc = fmaf(q_s[8 * d8 + 2 * e], f.x, acc);
                    acc = fmaf(q_s[8 * d8 + 2 * e + 1], f.y, acc);
                }
            }
            if (a.softcap > 0.0f) acc = a.softcap * tanhf(acc / a.softcap);
            score = acc;
        }
        const float m_new = fmaxf(m, warp_max(score));  // finite: key c0 is always visible
        const float corr = expf(m - m_new);               // 0 for the first chunk (m = -inf)
        const float p = j < hi ? expf(score - m_new) : 0.0f;
        s = s * corr + warp_sum(p);
#pragma unroll
        for (int i = 0; i < kDims; ++i) o[i] *= corr;
        const int n_valid = min(32, hi - c0);
        for (int jj = 0; jj < n_valid; ++jj) {
            const float pj = __shfl_sync(kFullMask, p, jj);
            const __half* vr = vbase + size_t(c0 + jj) * v_dim;
#pragma unroll
            for (int i = 0; i < kDims; ++i) {
                const int d = lane + 32 * i;
                if (d < a.hdv) o[i] = fmaf(pj, __half2float(vr[d]), o[i]);
            }
        }
        m = m_new;
    }
    if (lane == 0) {
        m_s[warp] = m;
        s_s[warp] = s;
    }
#pragma unroll
    for (int i = 0; i < kDims; ++i) {
        const int d = lane + 32 * i;
        if (d < a.hdv) o_s[warp][d] = o[i];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < NW; ++w) M = fmaxf(M, m_s[w]);
    float S = 0.0f;
    for (int w = 0; w < NW; ++w) {
        if (m_s[w] != -INFINITY) S += s_s[w] * expf(m_s[w] - M);
    }
    float* out = a.out + size_t(t) * a.n_head * a.hdv + size_t(h) * a.hdv;
    for (int d = threadIdx.x; d < a.hdv; d += NW * 32) {
        float acc = 0.0f;
        for (int w = 0; w < NW; ++w) {
            if (m_s[w] != -INFINITY) acc += o_s[w][d] * expf(m_s[w] - M);
        }
        const float val = acc / S;
        out[d] = val;
        // one token, hdv a multiple of 32: whole warps hold 32 consecutive outputs
        if (a.xq.q) {
            const size_t i = size_t(h) * a.hdv + d;
            quantize32(val, lane, a.xq.q + (i & ~size_t(31)), a.xq.d + (i >> 5));
        }
    }
}

// ---------------------------------------------------------------- element-wise

__global__ void act_mul_kernel(int act, float* __restrict__ gate, const float* __restrict__ up, int64_t n,
                               int8_t* __restrict__ xq, float* __restrict__ xd) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const float y = act_value(act, gate[i]) * up[i];
        gate[i] = y;
        // n a multiple of 32 (blocks of 256 threads): the warp holds 32 consecutive values
        if (xq) quantize32(y, threadIdx.x & 31, xq + (i & ~int64_t(31)), xd + (i >> 5));
    }
}

__global__ void softcap_kernel(float* x, int64_t n, float cap) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        x[i] = cap * tanhf(x[i] / cap);
    }
}

__global__ void rope_f16_kernel(__half* k, int64_t n_rows, int64_t row_stride, int n_head, int head_dim, int n_rot,
                                bool neox, const float* __restrict__ cs) {
    const int half = n_rot / 2;
    const int64_t total = n_rows * n_head * half;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int pair = int(i % half);
        const int64_t rh = i / half;
        const int head = int(rh % n_head);
        const int64_t row = rh / n_head;
        __half* xh = k + row * row_stride + int64_t(head) * head_dim;
        const int ia = neox ? pair : 2 * pair, ib = neox ? pair + half : 2 * pair + 1;
        const float c = cs[2 * pair], s = cs[2 * pair + 1];
        const float x0 = __half2float(xh[ia]), x1 = __half2float(xh[ib]);
        xh[ia] = __float2half_rn(__fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s)));
        xh[ib] = __float2half_rn(__fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c)));
    }
}

__global__ void __launch_bounds__(256) read_words_kernel(const uint4* __restrict__ p, uint32_t* out) {
    const size_t base = size_t(blockIdx.x) * kReadWordsPerBlock;
    uint32_t acc = 0;
#pragma unroll
    for (int k = 0; k < int(kReadWordsPerBlock / 256); ++k) {
        const uint4 w = p[base + size_t(k) * 256 + threadIdx.x];
        acc ^= w.x ^ w.y ^ w.z ^ w.w;
    }
    for (int o = 16; o > 0; o >>= 1) acc ^= __shfl_xor_sync(kFullMask, acc, o);
    if (threadIdx.x == 0) out[blockIdx.x] = acc;
}

// Blocks for an element-wise grid-stride loop over n values.
unsigned elementwise_blocks(int64_t n) {
    const int64_t b = (n + 255) / 256;
    return unsigned(b < 4096 ? (b > 0 ? b : 1) : 4096);
}

}  // namespace

void residual_norm(float* x, const float* o, const float* post_w, float* h, const float* norm_w, int64_t T, int64_t n,
                   float eps, cudaStream_t s, const q8_vec* xq) {
    if (T <= 0 || (!o && !h)) return;
    if (xq && (T != 1 || n % 32 || !h)) throw std::invalid_argument("residual_norm: quantized output for one token only");
    residual_norm_kernel<<<unsigned(T), kNormThreads, 0, s>>>(x, o, post_w, h, norm_w, int(n), eps,
                                                              xq ? xq->q : nullptr, xq ? xq->d : nullptr);
    CUDA_CHECK_LAUNCH("residual and RMS norm kernel (residual_norm)");
}

void qkv_finish(const qkv_args& a, int64_t T, cudaStream_t s) {
    if (T <= 0) return;
    const dim3 grid(unsigned(a.n_head + 2 * a.n_head_kv), unsigned(T));
    qkv_finish_kernel<<<grid, 32, 0, s>>>(a);
    CUDA_CHECK_LAUNCH("q/k/v bias, norm, rotation and cache store kernel (qkv_finish)");
}

void attention(const attn_args& a, int64_t T, cudaStream_t s) {
    if (T <= 0) return;
    if (a.xq.q && (T != 1 || a.hdv % 32)) throw std::invalid_argument("attention: quantized output for one token only");
    const dim3 grid(unsigned(a.n_head), unsigned(T));
    // few tokens (decoding): few blocks, so more warps share each one's keys
    if (T < 8) {
        attention_kernel<16><<<grid, 16 * 32, 0, s>>>(a);
    } else {
        attention_kernel<4><<<grid, 4 * 32, 0, s>>>(a);
    }
    CUDA_CHECK_LAUNCH("attention kernel (attention_kernel)");
}

void act_mul(int act, float* gate, const float* up, int64_t n, cudaStream_t s, const q8_vec* xq) {
    if (n <= 0) return;
    if (xq && n % 32) throw std::invalid_argument("act_mul: quantized output needs a multiple of 32 values");
    act_mul_kernel<<<elementwise_blocks(n), 256, 0, s>>>(act, gate, up, n, xq ? xq->q : nullptr, xq ? xq->d : nullptr);
    CUDA_CHECK_LAUNCH("gated activation kernel (act_mul)");
}

void softcap(float* x, int64_t n, float cap, cudaStream_t s) {
    if (n <= 0) return;
    softcap_kernel<<<elementwise_blocks(n), 256, 0, s>>>(x, n, cap);
    CUDA_CHECK_LAUNCH("logit softcap kernel (softcap)");
}

void rope_f16_rows(__half* k, int64_t n_rows, int64_t row_stride, int n_head, int head_dim, int n_rot, bool neox,
                   const float* cs, cudaStream_t s) {
    if (n_rows <= 0 || n_rot < 2) return;
    rope_f16_kernel<<<elementwise_blocks(n_rows * n_head * (n_rot / 2)), 256, 0, s>>>(k, n_rows, row_stride, n_head,
                                                                                      head_dim, n_rot, neox, cs);
    CUDA_CHECK_LAUNCH("cached key rotation kernel (rope_f16_rows)");
}

void read_words(const uint4* p, size_t n, uint32_t* out, cudaStream_t s) {
    const size_t blocks = n / kReadWordsPerBlock;
    if (blocks == 0) return;
    read_words_kernel<<<unsigned(blocks), 256, 0, s>>>(p, out);
    CUDA_CHECK_LAUNCH("memory read kernel (read_words)");
}

}  // namespace cuda
}  // namespace pyggml
