// kernels.cuh: the host-side launchers of the CUDA kernels (matmul*.cu, ops.cu), used by
// gpu_layers.cu and the single-kernel test entry points.
//
// Every launcher enqueues on the given stream and checks the launch (CUDA_CHECK_LAUNCH,
// naming the kernel); none synchronises.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace pyggml {
namespace cuda {

// A weight matrix on the device in its GGUF layout: n_rows rows of row_bytes bytes.
struct dev_matrix {
    int32_t type = 0;
    const uint8_t* data = nullptr;
    int64_t n_rows = 0, n_cols = 0;
    size_t row_bytes = 0;
};

// Tokens up to which matmul uses the matrix-vector kernel (one warp per row), beyond
// which the tiled matrix multiply.
constexpr int64_t kMatVecMaxTokens = 8;

// y (T, n_rows) = x (T, n_cols) W^T, float32 activations against the dequantized weights.
// mode: 0 picks by T, 1 the matrix-vector kernel (T <= kMatVecMaxTokens), 2 the tiled one.
// x and y 16-byte aligned.
void matmul(const dev_matrix& w, const float* x, int64_t T, float* y, cudaStream_t s, int mode = 0);

// One token's activations quantized to int8 per 32 values (matvec_q8.cu): q (n int8,
// 16-byte aligned) and d (n / 32 float scales) in one buffer of q8_vec_bytes(n) bytes.
struct q8_vec {
    int8_t* q = nullptr;
    float* d = nullptr;
};
size_t q8_vec_bytes(int64_t n);
q8_vec q8_vec_at(void* p, int64_t n);  // p 16-byte aligned
// x (n values, n a multiple of 32) to int8: d = max |x| / 127, q = x / d rounded to nearest even.
void quantize_q8(const float* x, int64_t n, const q8_vec& out, cudaStream_t s);
// Whether the integer matrix-vector kernels take this type and width (Q4_0, Q5_0, Q8_0,
// Q4_K, Q5_K, Q6_K; whole blocks).
bool matvec_q8_supports(int32_t type, int64_t n_cols);
// y (n_rows) = W x with x quantized (quantize_q8): integer dot products (__dp4a).
void matvec_q8(const dev_matrix& w, const q8_vec& x, float* y, cudaStream_t s);
// The same for n (1 to 3) matrices of one type and width sharing x, in one launch.
void matvec_q8_multi(const dev_matrix* const* ws, float* const* ys, int n, const q8_vec& x, cudaStream_t s);
// y = act(gate x) * (up x) (act 0: SiLU, 1: GELU, as act_mul) in one launch, where gate and up
// have one type and shape that matvec_q8 takes.
bool matvec_q8_glu_supports(const dev_matrix& gate, const dev_matrix& up);
void matvec_q8_glu(int act, const dev_matrix& gate, const dev_matrix& up, const q8_vec& x, float* y, cudaStream_t s);

// The per-type launchers matmul dispatches to (matmul_f.cu, matmul_q.cu, matmul_k.cu).
template <int TYPE>
void matmul_type(const dev_matrix& w, const float* x, int64_t T, float* y, cudaStream_t s, int mode);
// y (n_rows, n_cols) = W as float32 (tests).
void dequantize(const dev_matrix& w, float* y, cudaStream_t s);
template <int TYPE>
void dequantize_type(const dev_matrix& w, float* y, cudaStream_t s);

// Per token t < T, rows of n: when o, x_t += (post_w ? rms_norm(o_t) * post_w : o_t); then
// when h, h_t = rms_norm(x_t) * norm_w (norm_w null: no scaling).
// With xq (one token only, T = 1, n a multiple of 32), h is also written quantized there
// (quantize_q8), for the integer matrix-vector kernels.
void residual_norm(float* x, const float* o, const float* post_w, float* h, const float* norm_w, int64_t T, int64_t n,
                   float eps, cudaStream_t s, const q8_vec* xq = nullptr);

// After the q, k and v matrices of a block: per token and head, the biases, the per-head
// q/k norms, the rotation, q times attn_scale (q in place), k and v rounded to F16 into
// the cache at position pos[0] + t.
struct qkv_args {
    float* q = nullptr;              // (T, n_head * hdk)
    const float* k = nullptr;        // (T, n_head_kv * hdk)
    const float* v = nullptr;        // (T, n_head_kv * hdv)
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr;  // or null
    const float *q_norm = nullptr, *k_norm = nullptr;          // (hdk) or null
    __half* k_cache = nullptr;       // this layer's (n_ctx, n_head_kv * hdk)
    __half* v_cache = nullptr;       // (n_ctx, n_head_kv * hdv)
    const float* rope_cs = nullptr;  // (T, n_rot) interleaved cos, sin of each pair
    const int32_t* pos = nullptr;    // device: the position of token 0
    int n_head = 0, n_head_kv = 0, hdk = 0, hdv = 0, n_rot = 0;
    bool neox = false;
    float eps = 0.0f, attn_scale = 1.0f;
};
void qkv_finish(const qkv_args& a, int64_t T, cudaStream_t s);

// Causal attention of each (token, head): query t sees cached positions
// [lo, pos[0] + t + 1), lo = window ? max(0, pos[0] + t + 1 - window) : 0.
struct attn_args {
    const float* q = nullptr;        // (T, n_head * hdk), scaled
    const __half* k = nullptr;       // this layer's cache, (n_ctx, n_head_kv * hdk)
    const __half* v = nullptr;       // (n_ctx, n_head_kv * hdv)
    float* out = nullptr;            // (T, n_head * hdv)
    const int32_t* pos = nullptr;
    int n_head = 0, n_head_kv = 0, hdk = 0, hdv = 0, window = 0;
    float softcap = 0.0f;            // 0: none
    q8_vec xq;                       // one token, hdv a multiple of 32: out also quantized here
};
// Head sizes: hdk a multiple of 8, hdk and hdv at most kMaxHeadDim.
constexpr int kMaxHeadDim = 256;
void attention(const attn_args& a, int64_t T, cudaStream_t s);

// gate = act(gate) * up over n values; act 0: SiLU, 1: GELU (tanh approximation).
// With xq (n a multiple of 32), the result is also written quantized there (quantize_q8).
void act_mul(int act, float* gate, const float* up, int64_t n, cudaStream_t s, const q8_vec* xq = nullptr);
// x = cap * tanh(x / cap) over n values.
void softcap(float* x, int64_t n, float cap, cudaStream_t s);
// Rotates the first n_rot dimensions of each head of n_rows F16 key rows (rows
// row_stride halves apart, n_head heads of head_dim) by one cos/sin row cs (n_rot).
void rope_f16_rows(__half* k, int64_t n_rows, int64_t row_stride, int n_head, int head_dim, int n_rot, bool neox,
                   const float* cs, cudaStream_t s);
// Reads n 16-byte words (n a multiple of kReadWordsPerBlock) and writes one xor of them
// per block of kReadWordsPerBlock words into out: the streaming read that measures the
// memory bandwidth.
constexpr size_t kReadWordsPerBlock = 4096;
void read_words(const uint4* p, size_t n, uint32_t* out, cudaStream_t s);

}  // namespace cuda
}  // namespace pyggml
