// gpu_layers.h: the CUDA back end, seen from plain C++ (no CUDA types here).
//
// A model can run some of its blocks, and its output head, on an NVIDIA GPU: gpu_layers
// uploads those blocks' weights once, in their GGUF block layout (no dequantized copies),
// holds their F16 KV cache on the GPU, and runs a contiguous run of them for a batch of
// tokens given the hidden states: the states cross the bus once into the run and once
// out of it (or the logits come out instead, when the run ends with the output head).
//
// Everything here compiles without CUDA: a build without it (PYGGML_CUDA=OFF, or no CUDA
// compiler found) links gpu_stub.cpp, whose cuda_device() says why there is no GPU and
// whose gpu_layers refuses to be built. A CUDA build loads the CUDA driver only on the
// first call that needs it (cuda_device, gpu_layers), never at import, so it imports and
// runs on the CPU on a machine without a GPU or driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuda/gpu_placement.h"
#include "model/model.h"

namespace pyggml {

// What this build and this machine offer.
struct cuda_device_info {
    bool compiled = false;    // the build has the CUDA back end
    bool available = false;   // a device is there and this build can run on it
    std::string reason;       // why not, when !available
    int device = 0;           // the device these facts are about
    int count = 0;            // devices the driver sees
    std::string name;
    int cc_major = 0, cc_minor = 0;  // compute capability
    int n_sm = 0;                    // multiprocessors
    size_t total_bytes = 0, free_bytes = 0;
    int driver_version = 0, runtime_version = 0;  // e.g. 13000 for 13.0
    std::string archs;        // the architectures the build compiled for (CMAKE_CUDA_ARCHITECTURES)
};

// Whether the build has the CUDA back end.
bool cuda_compiled();
// The state of a device. Loads the driver on first use; never throws (a missing driver or
// device is a reason, not an error).
cuda_device_info cuda_device(int device = 0);

// Whether the GPU kernels read weights of this ggml type, and rows of n_cols of it.
bool gpu_supports_type(int32_t type);
bool gpu_supports_weight(int32_t type, int64_t n_cols);

// Bytes the GPU part of a model takes, exactly as gpu_layers allocates them.
struct gpu_memory_plan {
    size_t weights = 0;  // the placed blocks' matrices (GGUF layout), norms and biases; the head's
    size_t kv = 0;       // the placed blocks' F16 KV cache for n_ctx positions
    size_t scratch = 0;  // activations of n_batch tokens, cos/sin tables, logits of up to 64 tokens
    size_t total() const { return weights + kv + scratch; }
};

// Also checks that the GPU has kernels for everything placed: throws std::invalid_argument
// naming the tensor or the size it cannot run.
gpu_memory_plan plan_gpu_memory(const model_hparams& hp, const model_weights& w, const gpu_placement& p,
                                int64_t n_ctx, int64_t n_batch);

// Bytes held back on the device beyond the plan (the CUDA context's own allocations,
// kernel launches, fragmentation) when checking that a plan fits.
constexpr size_t kGpuReserveBytes = size_t(256) << 20;

// The distinct rotations (rope base, scale) of a model's layers: layer_set[il] is the
// index of layer il's rotation, in order of first use (the CPU model's cos/sin tables are
// laid out the same way).
std::vector<int64_t> rope_sets(const model_hparams& hp, int64_t* n_sets);

class gpu_layers {
public:
    // Checks the plan against the device's free memory before allocating anything, then
    // uploads the placed blocks' weights from w (plain GGUF layouts: call before the CPU
    // side repacks them) and allocates their KV cache and the scratch for n_batch tokens.
    // Throws std::runtime_error when there is no usable GPU, when the plan does not fit
    // (the message gives the sizes), or on a CUDA error (naming the operation).
    gpu_layers(const model_hparams& hp, const model_weights& w, const gpu_placement& p, int64_t n_ctx,
               int64_t n_batch);
    ~gpu_layers();
    gpu_layers(const gpu_layers&) = delete;
    gpu_layers& operator=(const gpu_layers&) = delete;

    bool has_layer(int64_t il) const;
    bool has_output() const;
    // The end of the run of GPU layers that starts at l0: the first layer after l0 that is
    // not on the GPU, or n_layer.
    int64_t run_end(int64_t l0) const;
    const gpu_memory_plan& memory() const;
    const std::string& device_name() const;

    // Runs layers [l0, l1) (each on the GPU; l0 == l1 == n_layer: the head alone) on T
    // tokens at positions n_past.. (T <= n_batch). x: (T, n_embd) hidden states in.
    // rope_cs: (n_sets, T, n_rot) cos/sin, table rope_sets()[il] for layer il.
    // logits (only with the output on the GPU and l1 == n_layer): (T - r0, n_vocab), the
    // logits of tokens r0.., softcapped; null: no head. want_x: x is overwritten with the
    // hidden states after layer l1 - 1.
    void forward(int64_t l0, int64_t l1, float* x, int64_t T, int64_t n_past, const float* rope_cs, float* logits,
                 int64_t r0, bool want_x);

    // The cache side of llama_model::shift_context: moves positions [src, src + n) of every
    // GPU layer to [dst, dst + n) (dst < src) and rotates the moved keys of layer il by the
    // cos/sin row cs + il * n_rot (n_layer rows).
    void shift(int64_t dst, int64_t src, int64_t n, const float* cs);

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

// Single kernels on host data, for the tests (tests/test_cuda.py): each copies its inputs
// to the device, runs the kernel the model runs and copies the result back.
namespace cuda_test {
// y (n_rows, n_cols) = the weights w (n_rows rows of row_bytes) as float32.
void dequantize(int32_t type, const void* w, int64_t n_rows, int64_t n_cols, float* y);
// y (T, n_rows) = x (T, n_cols) W^T. mode: 0 as the model picks for several tokens (the
// float kernels), 1 the matrix-vector kernel (T <= 8), 2 the tiled matrix multiply, 3 the
// integer matrix-vector kernel (T = 1; x quantized to int8 first, as the model's one-token
// products do).
void matmul(int32_t type, const void* w, int64_t n_rows, int64_t n_cols, const float* x, int64_t T, float* y,
            int mode);
// The integer kernel on n (1 to 3) matrices of one type and width sharing one token x, in
// one launch (the model's q, k and v): ys[i] (n_rows[i]) = W_i x.
void matvec_q8_multi(int32_t type, const void* const* ws, const int64_t* n_rows, int n, int64_t n_cols,
                     const float* x, float* const* ys);
// y (n_rows) = act(gate x) * (up x) with the integer kernels (act 0: SiLU, 1: GELU).
void matvec_q8_glu(int act, int32_t type, const void* gate, const void* up, int64_t n_rows, int64_t n_cols,
                   const float* x, float* y);
// x (n, a multiple of 32) quantized as the one-token products take it: q (n), d (n / 32).
void quantize_q8(const float* x, int64_t n, int8_t* q, float* d);
// Per row of x (n_rows, n): [o: x += (post ? rms_norm(o) * post : o)]; y = rms_norm(x) * w.
// With q and d (one row, n a multiple of 32): y quantized too, as quantize_q8.
void residual_norm(float* x, const float* o, const float* post, const float* w, float* y, int64_t n_rows,
                   int64_t n, float eps, int8_t* q = nullptr, float* d = nullptr);
// gate = act(gate) * up; act 0: SiLU, 1: GELU (tanh). With q and d (n a multiple of 32):
// the result quantized too, as quantize_q8.
void act_mul(int act, float* gate, const float* up, int64_t n, int8_t* q = nullptr, float* d = nullptr);
// Rotates x (T, n_head, head_dim) in place by cs (T, n_rot) as the model rotates q.
void rope(float* x, int64_t T, int64_t n_head, int64_t head_dim, int32_t n_rot, bool neox, const float* cs);
// Attention of q (T, n_head, hdk), already scaled, over F16 keys k (n_keys, n_head_kv,
// hdk) and values v (n_keys, n_head_kv, hdv) as the cache holds them: token t sees keys
// [lo, n_past + t + 1), lo = window ? max(0, n_past + t + 1 - window) : 0. out (T, n_head, hdv).
void attention(const float* q, int64_t T, int64_t n_head, int64_t hdk, const uint16_t* k, const uint16_t* v,
               int64_t n_keys, int64_t n_head_kv, int64_t hdv, int64_t n_past, int64_t window, float softcap,
               float* out, int8_t* q8 = nullptr, float* d8 = nullptr);
// GB/s of a streaming read of `bytes` of device memory (the best of `reps`).
double read_bandwidth(size_t bytes, int reps);
// Seconds one matmul of T tokens takes with the weights and activations already on the
// device: `reps` calls back to back between two events, each on another copy of the
// weights (enough copies that they do not fit in the GPU's L2 cache), the mean of the best
// of three such runs. Mode 3 includes the quantization of x.
double time_matmul(int32_t type, const void* w, int64_t n_rows, int64_t n_cols, int64_t T, int mode, int reps);
}  // namespace cuda_test

}  // namespace pyggml
