// gpu_layers.cu: the CUDA back end (gpu_layers.h): the device query, the GPU part of a
// model, and the single-kernel test entry points.
//
// One forward call copies the hidden states, the cos/sin tables and the position into
// pinned host buffers, enqueues everything on the model's stream (the copies in, every
// kernel of every layer of the run, the copy of the states or the logits out) and waits
// once at the end. A call of one token (decoding) replays that sequence as a CUDA graph,
// captured at the first such call for each (layers, head, states out) shape: the kernels
// read the position from device memory, so the same graph serves every position. The
// first call of a shape runs without a graph (so that its kernels are loaded before any
// capture); should a capture fail, the model goes on without graphs, saying so once on
// stderr. PYGGML_CUDA_GRAPHS=0 in the environment turns graphs off.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/gpu_layers.h"
#include "cuda/gpu_walk.h"
#include "cuda/kernels.cuh"
#include "kernels/repack.h"
#include "core/dispatch.h"

#ifndef PYGGML_CUDA_ARCHS
#define PYGGML_CUDA_ARCHS ""
#endif

namespace pyggml {

namespace {

using cuda::dev_matrix;

std::string mib(size_t bytes) {
    char s[64];
    std::snprintf(s, sizeof s, "%.1f MiB", double(bytes) / (1 << 20));
    return s;
}

// The lowest compute capability (as 75 for 7.5) among the build's architectures; 0 when
// the list names none by number ("native", "all").
int oldest_arch() {
    const std::string archs = PYGGML_CUDA_ARCHS;
    int best = 0;
    size_t i = 0;
    while (i < archs.size()) {
        size_t j = archs.find_first_of(",;", i);
        if (j == std::string::npos) j = archs.size();
        const std::string item = archs.substr(i, j - i);
        const int v = std::atoi(item.c_str());
        if (v > 0 && (best == 0 || v < best)) best = v;
        i = j + 1;
    }
    return best;
}

std::string describe(cudaError_t e) { return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e); }

// Device memory freed with the owner.
struct dev_buffer {
    void* p = nullptr;
    dev_buffer() = default;
    dev_buffer(size_t bytes, const char* what) {
        if (bytes) CUDA_CHECK(cudaMalloc(&p, bytes), what);
    }
    dev_buffer(const dev_buffer&) = delete;
    dev_buffer& operator=(const dev_buffer&) = delete;
    dev_buffer(dev_buffer&& o) noexcept : p(o.p) { o.p = nullptr; }
    dev_buffer& operator=(dev_buffer&& o) noexcept {
        std::swap(p, o.p);
        return *this;
    }
    ~dev_buffer() {
        if (p) cudaFree(p);
    }
    template <class T>
    T* as(size_t byte_offset = 0) const {
        return reinterpret_cast<T*>(static_cast<uint8_t*>(p) + byte_offset);
    }
};

// Pinned (page-locked) host memory: copies from and to it run asynchronously and can be
// captured in a graph.
struct pinned_buffer {
    void* p = nullptr;
    pinned_buffer() = default;
    pinned_buffer(const pinned_buffer&) = delete;
    pinned_buffer& operator=(const pinned_buffer&) = delete;
    void alloc(size_t bytes, const char* what) { CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), what); }
    ~pinned_buffer() {
        if (p) cudaFreeHost(p);
    }
};

// PYGGML_CUDA_MMVQ=0 (or off, false): one-token products multiply float32 activations
// (mul_mat_vec) instead of quantizing them to int8 for the integer kernels (matvec_q8.cu).
bool int8_matvec_enabled() {
    const char* v = std::getenv("PYGGML_CUDA_MMVQ");
    return !(v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "false") == 0));
}

bool graphs_enabled() {
    const char* v = std::getenv("PYGGML_CUDA_GRAPHS");
    return !(v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "false") == 0));
}

}  // namespace

bool cuda_compiled() { return true; }

cuda_device_info cuda_device(int device) {
    cuda_device_info i;
    i.compiled = true;
    i.device = device;
    i.archs = PYGGML_CUDA_ARCHS;
    cudaRuntimeGetVersion(&i.runtime_version);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (e == cudaErrorInsufficientDriver) {
            i.reason = "no CUDA driver, or one older than this build's CUDA runtime " +
                       std::to_string(i.runtime_version / 1000) + "." + std::to_string(i.runtime_version % 1000 / 10) +
                       " (" + describe(e) + ")";
        } else if (e == cudaErrorNoDevice) {
            i.reason = "no CUDA GPU found (" + describe(e) + ")";
        } else {
            i.reason = "the CUDA driver did not start (" + describe(e) + ")";
        }
        return i;
    }
    cudaDriverGetVersion(&i.driver_version);
    i.count = n;
    if (n == 0) {
        i.reason = "no CUDA GPU found";
        return i;
    }
    if (device < 0 || device >= n) {
        i.reason = "there is no CUDA device " + std::to_string(device) + " (" + std::to_string(n) + " found)";
        return i;
    }
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        i.reason = "reading the device's properties failed (" + describe(e) + ")";
        return i;
    }
    i.name = prop.name;
    i.cc_major = prop.major;
    i.cc_minor = prop.minor;
    i.n_sm = prop.multiProcessorCount;
    i.total_bytes = prop.totalGlobalMem;
    const int cc = prop.major * 10 + prop.minor, oldest = oldest_arch();
    if (oldest > 0 && cc < oldest) {
        i.reason = i.name + " has compute capability " + std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                   ", older than the oldest this build targets (" + std::to_string(oldest / 10) + "." +
                   std::to_string(oldest % 10) + ")";
        return i;
    }
    size_t free_b = 0, total_b = 0;
    e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaMemGetInfo(&free_b, &total_b);
    if (e != cudaSuccess) {
        cudaGetLastError();
        i.reason = i.name + " cannot be used (" + describe(e) + ")";
        return i;
    }
    i.free_bytes = free_b;
    i.total_bytes = total_b;
    i.available = true;
    return i;
}

// ---------------------------------------------------------------- gpu_layers

struct gpu_layers::impl {
    struct dev_layer {
        const float *attn_norm = nullptr, *bq = nullptr, *bk = nullptr, *bv = nullptr, *q_norm = nullptr,
                    *k_norm = nullptr, *post_attn_norm = nullptr, *ffn_norm = nullptr, *post_ffn_norm = nullptr;
        dev_matrix wq, wk, wv, wo, gate, up, down;
        __half* k = nullptr;  // (n_ctx, k_dim)
        __half* v = nullptr;  // (n_ctx, v_dim)
    };
    struct graph {
        int64_t l0, l1;
        bool head, want_x;
        cudaGraphExec_t exec;  // null until the second call of this shape
    };

    model_hparams hp;
    gpu_placement place;
    int64_t n_ctx = 0, n_batch = 0, n_sets = 0;
    std::vector<int64_t> layer_set;
    gpu_memory_plan plan;
    std::string device_name;
    int device = 0;
    cudaStream_t stream = nullptr;
    dev_buffer weights, kv, scratch;
    pinned_buffer pinned;
    float* pin_x = nullptr;       // (n_batch, n_embd)
    float* pin_rope = nullptr;    // (n_sets, n_batch, n_rot)
    int32_t* pin_pos = nullptr;   // 1
    float* pin_logits = nullptr;  // (n_vocab): one row of logits
    std::vector<dev_layer> layers;  // (n_layer); filled for the placed ones
    const float* output_norm = nullptr;
    dev_matrix output;
    float* buf[gpu_walk::n_buffers] = {};
    bool use_graphs = true;
    bool use_q8 = true;  // one-token products with int8 activations where the type allows
    std::vector<graph> graphs;

    ~impl() {
        if (stream) cudaStreamSynchronize(stream);
        for (graph& g : graphs) {
            if (g.exec) cudaGraphExecDestroy(g.exec);
        }
        if (stream) cudaStreamDestroy(stream);
        // the buffers free themselves
    }

    void enqueue(int64_t l0, int64_t l1, int64_t T, bool head, int64_t r0, bool want_x, float* host_logits);
    // The graph of a one-token call of this shape, captured at its second call; null at
    // the first (run it directly then).
    cudaGraphExec_t graph_for(int64_t l0, int64_t l1, bool head, bool want_x);
};

gpu_layers::gpu_layers(const model_hparams& hp, const model_weights& w, const gpu_placement& p, int64_t n_ctx,
                       int64_t n_batch)
    : p_(std::make_unique<impl>()) {
    impl& m = *p_;
    m.hp = hp;
    m.place = p;
    m.place.layers.resize(size_t(hp.n_layer), 0);
    m.n_ctx = n_ctx;
    m.n_batch = n_batch;
    m.plan = plan_gpu_memory(hp, w, m.place, n_ctx, n_batch);
    m.layer_set = rope_sets(hp, &m.n_sets);

    const cuda_device_info info = cuda_device(0);
    if (!info.available) throw std::runtime_error("no usable CUDA GPU: " + info.reason);
    m.device = info.device;
    m.device_name = info.name;
    CUDA_CHECK(cudaSetDevice(m.device), "selecting the GPU");
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b), "reading the GPU's free memory");
    if (m.plan.total() + kGpuReserveBytes > free_b) {
        throw std::runtime_error("the layers placed on the GPU need " + mib(m.plan.total()) + " (weights " +
                                 mib(m.plan.weights) + ", KV cache " + mib(m.plan.kv) + ", scratch " +
                                 mib(m.plan.scratch) + ") and " + mib(kGpuReserveBytes) + " kept free, but " +
                                 m.device_name + " has " + mib(free_b) + " free of " + mib(total_b) +
                                 ": place fewer layers on the GPU or use a shorter context");
    }
    CUDA_CHECK(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), "creating the model's CUDA stream");
    m.weights = dev_buffer(m.plan.weights, "allocating GPU memory for the weights");
    m.kv = dev_buffer(m.plan.kv, "allocating GPU memory for the KV cache");
    m.scratch = dev_buffer(m.plan.scratch, "allocating GPU memory for the activations");

    // weights: each piece uploaded once, as it lies in the file (matrices) or in the
    // model's float32 copies (norms, biases)
    m.layers.resize(size_t(hp.n_layer));
    size_t off = 0;
    auto upload = [&](const void* host, size_t bytes) {
        uint8_t* dst = m.weights.as<uint8_t>(off);
        CUDA_CHECK(cudaMemcpy(dst, host, bytes, cudaMemcpyHostToDevice), "copying weights to the GPU");
        off += gpu_walk::aligned(bytes);
        return dst;
    };
    gpu_walk::weights(
        hp, w, m.place,
        [&](int64_t il, int id, const float* data, int64_t n) {
            const float* d = reinterpret_cast<const float*>(upload(data, size_t(n) * 4));
            if (il < 0) {
                m.output_norm = d;
                return;
            }
            impl::dev_layer& L = m.layers[size_t(il)];
            switch (id) {
                case gpu_walk::attn_norm: L.attn_norm = d; break;
                case gpu_walk::bq: L.bq = d; break;
                case gpu_walk::bk: L.bk = d; break;
                case gpu_walk::bv: L.bv = d; break;
                case gpu_walk::q_norm: L.q_norm = d; break;
                case gpu_walk::k_norm: L.k_norm = d; break;
                case gpu_walk::post_attn_norm: L.post_attn_norm = d; break;
                case gpu_walk::ffn_norm: L.ffn_norm = d; break;
                case gpu_walk::post_ffn_norm: L.post_ffn_norm = d; break;
                default: throw std::logic_error("gpu_layers: unexpected vector piece");
            }
        },
        [&](int64_t il, int id, const weight_view& v) {
            dev_matrix d;
            d.type = v.type;
            d.n_rows = v.n_rows;
            d.n_cols = v.n_cols;
            d.row_bytes = v.row_bytes;
            d.data = upload(v.data, gpu_walk::matrix_bytes(v));
            if (il < 0) {
                m.output = d;
                return;
            }
            impl::dev_layer& L = m.layers[size_t(il)];
            switch (id) {
                case gpu_walk::wq: L.wq = d; break;
                case gpu_walk::wk: L.wk = d; break;
                case gpu_walk::wv: L.wv = d; break;
                case gpu_walk::wo: L.wo = d; break;
                case gpu_walk::ffn_gate: L.gate = d; break;
                case gpu_walk::ffn_up: L.up = d; break;
                case gpu_walk::ffn_down: L.down = d; break;
                default: throw std::logic_error("gpu_layers: unexpected matrix piece");
            }
        });
    if (off != m.plan.weights) throw std::logic_error("gpu_layers: the weights do not match their plan");
    // The CPU side never reads the placed matrices again: where they lie in the mapped
    // file, their pages leave the process's resident set (the token embedding stays: its
    // rows are looked up on the CPU, also when it doubles as the output matrix).
    gpu_walk::weights(
        hp, w, m.place, [](int64_t, int, const float*, int64_t) {},
        [&](int64_t, int, const weight_view& v) {
            if (v.data != w.token_embd.data) release_file_pages(v.data, gpu_walk::matrix_bytes(v));
        });

    // KV cache: layer by layer, K then V
    off = 0;
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        if (!m.place.layer(il)) continue;
        m.layers[size_t(il)].k = m.kv.as<__half>(off);
        off += gpu_walk::kv_k_bytes(hp, n_ctx);
        m.layers[size_t(il)].v = m.kv.as<__half>(off);
        off += gpu_walk::kv_v_bytes(hp, n_ctx);
    }
    if (off != m.plan.kv) throw std::logic_error("gpu_layers: the KV cache does not match its plan");

    off = 0;
    gpu_walk::scratch(hp, m.place, n_batch, m.n_sets, [&](int id, size_t bytes) {
        m.buf[id] = bytes ? m.scratch.as<float>(off) : nullptr;
        off += gpu_walk::aligned(bytes);
    });
    if (off != m.plan.scratch) throw std::logic_error("gpu_layers: the scratch does not match its plan");

    const size_t x_bytes = size_t(n_batch * hp.n_embd) * 4;
    const size_t rope_bytes = size_t(m.n_sets * n_batch * std::max(hp.n_rot, 1)) * 4;
    const size_t logits_bytes = m.place.output ? size_t(hp.n_vocab) * 4 : 0;
    m.pinned.alloc(gpu_walk::aligned(x_bytes) + gpu_walk::aligned(rope_bytes) + gpu_walk::kAlign + logits_bytes,
                   "allocating pinned host memory for the GPU copies");
    uint8_t* pin = static_cast<uint8_t*>(m.pinned.p);
    m.pin_x = reinterpret_cast<float*>(pin);
    m.pin_rope = reinterpret_cast<float*>(pin + gpu_walk::aligned(x_bytes));
    m.pin_pos = reinterpret_cast<int32_t*>(pin + gpu_walk::aligned(x_bytes) + gpu_walk::aligned(rope_bytes));
    m.pin_logits = logits_bytes ? reinterpret_cast<float*>(pin + gpu_walk::aligned(x_bytes) +
                                                           gpu_walk::aligned(rope_bytes) + gpu_walk::kAlign)
                                : nullptr;
    m.use_graphs = graphs_enabled();
    m.use_q8 = int8_matvec_enabled();
}

gpu_layers::~gpu_layers() = default;

bool gpu_layers::has_layer(int64_t il) const { return p_->place.layer(il); }
bool gpu_layers::has_output() const { return p_->place.output; }
int64_t gpu_layers::run_end(int64_t l0) const {
    int64_t l1 = l0;
    while (l1 < p_->hp.n_layer && p_->place.layer(l1)) ++l1;
    return l1;
}
const gpu_memory_plan& gpu_layers::memory() const { return p_->plan; }
const std::string& gpu_layers::device_name() const { return p_->device_name; }

void gpu_layers::impl::enqueue(int64_t l0, int64_t l1, int64_t T, bool head, int64_t r0, bool want_x,
                               float* host_logits) {
    using namespace cuda;
    const int64_t E = hp.n_embd, F = hp.n_ff;
    cudaStream_t s = stream;
    float* x = buf[gpu_walk::x];
    float* h = buf[gpu_walk::h];
    CUDA_CHECK(cudaMemcpyAsync(x, pin_x, size_t(T * E) * 4, cudaMemcpyHostToDevice, s),
               "copying the hidden states to the GPU");
    if (hp.n_rot > 0) {
        CUDA_CHECK(cudaMemcpyAsync(buf[gpu_walk::rope], pin_rope, size_t(n_sets * T * hp.n_rot) * 4,
                                   cudaMemcpyHostToDevice, s),
                   "copying the rotation tables to the GPU");
    }
    int32_t* pos = reinterpret_cast<int32_t*>(buf[gpu_walk::pos]);
    CUDA_CHECK(cudaMemcpyAsync(pos, pin_pos, sizeof(int32_t), cudaMemcpyHostToDevice, s),
               "copying the position to the GPU");

    // One token: every norm that feeds matrices also writes its output quantized to int8
    // (xq), for the integer matrix-vector kernels; the attention output and the gated
    // activation are quantized on their own. Products whose type those kernels do not take
    // multiply the float32 activations.
    const bool q8 = T == 1 && use_q8 && hp.n_embd % 32 == 0;
    const q8_vec xq = q8 ? q8_vec_at(buf[gpu_walk::xq], gpu_walk::q8_values(hp)) : q8_vec{};
    const q8_vec* xqp = q8 ? &xq : nullptr;
    auto takes_q8 = [&](const dev_matrix& w) { return q8 && matvec_q8_supports(w.type, w.n_cols); };
    // y_i = W_i in for matrices sharing their input (quantized in xq when q8): runs of one
    // type and width go in one launch
    auto products = [&](const dev_matrix* const* ws, float* const* ys, int n, const float* in) {
        for (int i = 0; i < n;) {
            if (!takes_q8(*ws[i])) {
                matmul(*ws[i], in, T, ys[i], s);
                ++i;
                continue;
            }
            int j = i + 1;
            while (j < n && ws[j]->type == ws[i]->type && ws[j]->n_cols == ws[i]->n_cols) ++j;
            matvec_q8_multi(ws + i, ys + i, j - i, xq, s);
            i = j;
        }
    };

    residual_norm(x, nullptr, nullptr, h, l0 < l1 ? layers[size_t(l0)].attn_norm : output_norm, T, E, hp.rms_eps, s,
                  xqp);
    for (int64_t il = l0; il < l1; ++il) {
        const dev_layer& L = layers[size_t(il)];
        {
            const dev_matrix* ws[3] = {&L.wq, &L.wk, &L.wv};
            float* ys[3] = {buf[gpu_walk::q], buf[gpu_walk::k], buf[gpu_walk::v]};
            products(ws, ys, 3, h);
        }

        qkv_args qa;
        qa.q = buf[gpu_walk::q];
        qa.k = buf[gpu_walk::k];
        qa.v = buf[gpu_walk::v];
        qa.bq = L.bq;
        qa.bk = L.bk;
        qa.bv = L.bv;
        qa.q_norm = L.q_norm;
        qa.k_norm = L.k_norm;
        qa.k_cache = L.k;
        qa.v_cache = L.v;
        qa.rope_cs = buf[gpu_walk::rope] + size_t(layer_set[size_t(il)] * T * hp.n_rot);
        qa.pos = pos;
        qa.n_head = int(hp.n_head);
        qa.n_head_kv = int(hp.n_head_kv);
        qa.hdk = int(hp.head_dim_k);
        qa.hdv = int(hp.head_dim_v);
        qa.n_rot = hp.n_rot;
        qa.neox = hp.rope_neox;
        qa.eps = hp.rms_eps;
        qa.attn_scale = hp.attn_scale;
        qkv_finish(qa, T, s);

        attn_args aa;
        aa.q = buf[gpu_walk::q];
        aa.k = L.k;
        aa.v = L.v;
        aa.out = buf[gpu_walk::att];
        aa.pos = pos;
        aa.n_head = int(hp.n_head);
        aa.n_head_kv = int(hp.n_head_kv);
        aa.hdk = int(hp.head_dim_k);
        aa.hdv = int(hp.head_dim_v);
        aa.window = hp.layer_swa[size_t(il)] && hp.n_swa > 0 ? int(hp.n_swa) : 0;
        aa.softcap = hp.attn_logit_softcap;
        const bool wo_q8 = takes_q8(L.wo);
        if (wo_q8 && hp.head_dim_v % 32 == 0) aa.xq = xq;  // the attention quantizes its output itself
        attention(aa, T, s);

        if (wo_q8) {
            if (!aa.xq.q) quantize_q8(buf[gpu_walk::att], L.wo.n_cols, xq, s);
            matvec_q8(L.wo, xq, buf[gpu_walk::o], s);
        } else {
            matmul(L.wo, buf[gpu_walk::att], T, buf[gpu_walk::o], s);
        }
        residual_norm(x, buf[gpu_walk::o], L.post_attn_norm, h, L.ffn_norm, T, E, hp.rms_eps, s, xqp);
        const int act = hp.act == ffn_activation::gelu_tanh ? 1 : 0;
        const bool down_q8 = takes_q8(L.down);
        if (q8 && matvec_q8_glu_supports(L.gate, L.up)) {
            matvec_q8_glu(act, L.gate, L.up, xq, buf[gpu_walk::gate], s);
            if (down_q8) quantize_q8(buf[gpu_walk::gate], F, xq, s);
        } else {
            const dev_matrix* ws[2] = {&L.gate, &L.up};
            float* ys[2] = {buf[gpu_walk::gate], buf[gpu_walk::up]};
            products(ws, ys, 2, h);
            act_mul(act, buf[gpu_walk::gate], buf[gpu_walk::up], T * F, s, down_q8 ? xqp : nullptr);
        }
        if (down_q8) {
            matvec_q8(L.down, xq, buf[gpu_walk::o], s);
        } else {
            matmul(L.down, buf[gpu_walk::gate], T, buf[gpu_walk::o], s);
        }
        // the next layer's normed input, or the head's
        const float* next = il + 1 < l1 ? layers[size_t(il + 1)].attn_norm : (head ? output_norm : nullptr);
        residual_norm(x, buf[gpu_walk::o], L.post_ffn_norm, next ? h : nullptr, next, T, E, hp.rms_eps, s,
                      next ? xqp : nullptr);
    }
    if (head) {
        const int64_t rows = gpu_walk::logits_rows(n_batch), V = hp.n_vocab;
        float* lg = buf[gpu_walk::logits];
        for (int64_t c0 = r0; c0 < T; c0 += rows) {
            const int64_t n = std::min(rows, T - c0);
            if (takes_q8(output)) {  // one token: h quantized by the final norm
                matvec_q8(output, xq, lg, s);
            } else {
                matmul(output, h + size_t(c0 * E), n, lg, s);
            }
            if (hp.final_logit_softcap > 0.0f) softcap(lg, n * V, hp.final_logit_softcap, s);
            if (host_logits) {
                CUDA_CHECK(cudaMemcpyAsync(host_logits + size_t((c0 - r0) * V), lg, size_t(n * V) * 4,
                                           cudaMemcpyDeviceToHost, s),
                           "copying logits from the GPU");
            } else {
                CUDA_CHECK(cudaMemcpyAsync(pin_logits, lg, size_t(V) * 4, cudaMemcpyDeviceToHost, s),
                           "copying logits from the GPU");
            }
        }
    }
    if (want_x) {
        CUDA_CHECK(cudaMemcpyAsync(pin_x, x, size_t(T * E) * 4, cudaMemcpyDeviceToHost, s),
                   "copying the hidden states from the GPU");
    }
}

cudaGraphExec_t gpu_layers::impl::graph_for(int64_t l0, int64_t l1, bool head, bool want_x) {
    graph* known = nullptr;
    for (graph& g : graphs) {
        if (g.l0 == l0 && g.l1 == l1 && g.head == head && g.want_x == want_x) known = &g;
    }
    if (!known) {
        graphs.push_back({l0, l1, head, want_x, nullptr});
        return nullptr;
    }
    if (known->exec) return known->exec;
    cudaGraph_t g = nullptr;
    CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "starting a CUDA graph capture");
    try {
        enqueue(l0, l1, 1, head, 0, want_x, nullptr);
    } catch (...) {
        cudaStreamEndCapture(stream, &g);
        if (g) cudaGraphDestroy(g);
        cudaGetLastError();
        throw;
    }
    CUDA_CHECK(cudaStreamEndCapture(stream, &g), "ending a CUDA graph capture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    CUDA_CHECK(e, "instantiating a CUDA graph");
    known->exec = exec;
    return exec;
}

void gpu_layers::forward(int64_t l0, int64_t l1, float* x, int64_t T, int64_t n_past, const float* rope_cs,
                         float* logits, int64_t r0, bool want_x) {
    impl& m = *p_;
    const model_hparams& hp = m.hp;
    if (l0 < 0 || l1 < l0 || l1 > hp.n_layer) throw std::out_of_range("gpu_layers::forward: bad layer range");
    for (int64_t il = l0; il < l1; ++il) {
        if (!m.place.layer(il)) throw std::logic_error("gpu_layers::forward: layer " + std::to_string(il) + " is not on the GPU");
    }
    if (T <= 0 || T > m.n_batch) throw std::out_of_range("gpu_layers::forward: T must be in [1, n_batch]");
    if (n_past < 0 || n_past + T > m.n_ctx) throw std::out_of_range("gpu_layers::forward: the context is full");
    const bool head = logits != nullptr;
    if (head && (!m.place.output || l1 != hp.n_layer || r0 < 0 || r0 >= T)) {
        throw std::logic_error("gpu_layers::forward: logits need the output head on the GPU after the last layer");
    }
    if (l0 == l1 && !head) return;  // nothing to run
    CUDA_CHECK(cudaSetDevice(m.device), "selecting the GPU");
    std::memcpy(m.pin_x, x, size_t(T * hp.n_embd) * 4);
    if (hp.n_rot > 0) std::memcpy(m.pin_rope, rope_cs, size_t(m.n_sets * T * hp.n_rot) * 4);
    *m.pin_pos = int32_t(n_past);
    const int64_t n_out = head ? T - r0 : 0;
    cudaGraphExec_t exec = nullptr;
    if (T == 1 && m.use_graphs) {
        try {
            exec = m.graph_for(l0, l1, head, want_x);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "pyggml: CUDA graphs off for this model: %s\n", e.what());
            m.use_graphs = false;
            cudaGetLastError();
        }
    }
    if (exec) {
        CUDA_CHECK(cudaGraphLaunch(exec, m.stream), "launching a CUDA graph");
    } else {
        m.enqueue(l0, l1, T, head, r0, want_x, n_out > 1 ? logits : nullptr);
    }
    CUDA_CHECK(cudaStreamSynchronize(m.stream), "running the layers on the GPU");
    if (n_out == 1) std::memcpy(logits, m.pin_logits, size_t(hp.n_vocab) * 4);
    if (want_x) std::memcpy(x, m.pin_x, size_t(T * hp.n_embd) * 4);
}

void gpu_layers::shift(int64_t dst, int64_t src, int64_t n, const float* cs) {
    impl& m = *p_;
    const model_hparams& hp = m.hp;
    if (n <= 0) return;
    if (dst < 0 || dst >= src || src + n > m.n_ctx) throw std::out_of_range("gpu_layers::shift: bad positions");
    CUDA_CHECK(cudaSetDevice(m.device), "selecting the GPU");
    const int64_t k_dim = hp.n_head_kv * hp.head_dim_k, v_dim = hp.n_head_kv * hp.head_dim_v;
    dev_buffer d_cs(size_t(hp.n_layer * std::max(hp.n_rot, 1)) * 4, "allocating GPU memory for the rotation");
    if (hp.n_rot > 0) {
        CUDA_CHECK(cudaMemcpy(d_cs.p, cs, size_t(hp.n_layer * hp.n_rot) * 4, cudaMemcpyHostToDevice),
                   "copying the rotation to the GPU");
    }
    // in chunks no longer than the distance moved, so that no copy overlaps itself
    const int64_t chunk = src - dst;
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        if (!m.place.layer(il)) continue;
        const impl::dev_layer& L = m.layers[size_t(il)];
        for (int64_t done = 0; done < n; done += chunk) {
            const int64_t c = std::min(chunk, n - done);
            CUDA_CHECK(cudaMemcpyAsync(L.k + (dst + done) * k_dim, L.k + (src + done) * k_dim, size_t(c * k_dim) * 2,
                                       cudaMemcpyDeviceToDevice, m.stream),
                       "moving cached keys on the GPU");
            CUDA_CHECK(cudaMemcpyAsync(L.v + (dst + done) * v_dim, L.v + (src + done) * v_dim, size_t(c * v_dim) * 2,
                                       cudaMemcpyDeviceToDevice, m.stream),
                       "moving cached values on the GPU");
        }
        cuda::rope_f16_rows(L.k + dst * k_dim, n, k_dim, int(hp.n_head_kv), int(hp.head_dim_k), hp.n_rot,
                            hp.rope_neox, d_cs.as<float>() + il * hp.n_rot, m.stream);
    }
    CUDA_CHECK(cudaStreamSynchronize(m.stream), "shifting the GPU's KV cache");
}

// ---------------------------------------------------------------- single kernels for the tests

namespace cuda_test {

namespace {

void need_gpu() {
    const cuda_device_info i = cuda_device(0);
    if (!i.available) throw std::runtime_error("no usable CUDA GPU: " + i.reason);
    CUDA_CHECK(cudaSetDevice(i.device), "selecting the GPU");
}

dev_buffer to_device(const void* host, size_t bytes) {
    dev_buffer d(bytes, "allocating GPU memory for a test");
    if (bytes) CUDA_CHECK(cudaMemcpy(d.p, host, bytes, cudaMemcpyHostToDevice), "copying test data to the GPU");
    return d;
}

void to_host(void* host, const dev_buffer& d, size_t bytes) {
    CUDA_CHECK(cudaDeviceSynchronize(), "running a test kernel");
    if (bytes) CUDA_CHECK(cudaMemcpy(host, d.p, bytes, cudaMemcpyDeviceToHost), "copying a test result from the GPU");
}

dev_matrix weight_on_device(int32_t type, const dev_buffer& d, int64_t n_rows, int64_t n_cols) {
    const type_traits* t = get_type_traits(type);
    if (!t || !gpu_supports_weight(type, n_cols)) throw std::invalid_argument("no GPU kernel for this type and row length");
    dev_matrix m;
    m.type = type;
    m.data = d.as<uint8_t>();
    m.n_rows = n_rows;
    m.n_cols = n_cols;
    m.row_bytes = row_size(*t, n_cols);
    return m;
}

size_t weight_bytes(int32_t type, int64_t n_rows, int64_t n_cols) {
    const type_traits* t = get_type_traits(type);
    if (!t) throw std::invalid_argument("unknown ggml type");
    return size_t(n_rows) * row_size(*t, n_cols);
}

}  // namespace

void dequantize(int32_t type, const void* w, int64_t n_rows, int64_t n_cols, float* y) {
    need_gpu();
    const dev_buffer dw = to_device(w, weight_bytes(type, n_rows, n_cols));
    const dev_buffer dy(size_t(n_rows * n_cols) * 4, "allocating GPU memory for a test");
    cuda::dequantize(weight_on_device(type, dw, n_rows, n_cols), dy.as<float>(), 0);
    to_host(y, dy, size_t(n_rows * n_cols) * 4);
}

void matmul(int32_t type, const void* w, int64_t n_rows, int64_t n_cols, const float* x, int64_t T, float* y,
            int mode) {
    need_gpu();
    const dev_buffer dw = to_device(w, weight_bytes(type, n_rows, n_cols));
    const dev_buffer dx = to_device(x, size_t(T * n_cols) * 4);
    const dev_buffer dy(size_t(T * n_rows) * 4, "allocating GPU memory for a test");
    const cuda::dev_matrix m = weight_on_device(type, dw, n_rows, n_cols);
    if (mode == 3) {
        if (T != 1) throw std::invalid_argument("the integer matrix-vector kernel takes one token");
        if (!cuda::matvec_q8_supports(type, n_cols)) {
            throw std::invalid_argument("no integer matrix-vector kernel for ggml type " + std::to_string(type));
        }
        const dev_buffer dq(cuda::q8_vec_bytes(n_cols), "allocating GPU memory for a test");
        const cuda::q8_vec xq = cuda::q8_vec_at(dq.p, n_cols);
        cuda::quantize_q8(dx.as<float>(), n_cols, xq, 0);
        cuda::matvec_q8(m, xq, dy.as<float>(), 0);
    } else {
        cuda::matmul(m, dx.as<float>(), T, dy.as<float>(), 0, mode);
    }
    to_host(y, dy, size_t(T * n_rows) * 4);
}

void matvec_q8_multi(int32_t type, const void* const* ws, const int64_t* n_rows, int n, int64_t n_cols,
                     const float* x, float* const* ys) {
    need_gpu();
    if (n < 1 || n > 3) throw std::invalid_argument("matvec_q8_multi: one to three matrices");
    if (!cuda::matvec_q8_supports(type, n_cols)) {
        throw std::invalid_argument("no integer matrix-vector kernel for ggml type " + std::to_string(type));
    }
    std::vector<dev_buffer> dw, dy;
    std::vector<cuda::dev_matrix> m;
    for (int i = 0; i < n; ++i) {
        dw.push_back(to_device(ws[i], weight_bytes(type, n_rows[i], n_cols)));
        dy.emplace_back(size_t(std::max<int64_t>(n_rows[i], 1)) * 4, "allocating GPU memory for a test");
    }
    for (int i = 0; i < n; ++i) m.push_back(weight_on_device(type, dw[size_t(i)], n_rows[i], n_cols));
    const cuda::dev_matrix* mp[3] = {};
    float* yp[3] = {};
    for (int i = 0; i < n; ++i) {
        mp[i] = &m[size_t(i)];
        yp[i] = dy[size_t(i)].as<float>();
    }
    const dev_buffer dx = to_device(x, size_t(n_cols) * 4);
    const dev_buffer dq(cuda::q8_vec_bytes(n_cols), "allocating GPU memory for a test");
    const cuda::q8_vec xq = cuda::q8_vec_at(dq.p, n_cols);
    cuda::quantize_q8(dx.as<float>(), n_cols, xq, 0);
    cuda::matvec_q8_multi(mp, yp, n, xq, 0);
    for (int i = 0; i < n; ++i) to_host(ys[i], dy[size_t(i)], size_t(n_rows[i]) * 4);
}

void matvec_q8_glu(int act, int32_t type, const void* gate, const void* up, int64_t n_rows, int64_t n_cols,
                   const float* x, float* y) {
    need_gpu();
    if (!cuda::matvec_q8_supports(type, n_cols)) {
        throw std::invalid_argument("no integer matrix-vector kernel for ggml type " + std::to_string(type));
    }
    const dev_buffer dg = to_device(gate, weight_bytes(type, n_rows, n_cols));
    const dev_buffer du = to_device(up, weight_bytes(type, n_rows, n_cols));
    const dev_buffer dx = to_device(x, size_t(n_cols) * 4);
    const dev_buffer dy(size_t(n_rows) * 4, "allocating GPU memory for a test");
    const dev_buffer dq(cuda::q8_vec_bytes(n_cols), "allocating GPU memory for a test");
    const cuda::q8_vec xq = cuda::q8_vec_at(dq.p, n_cols);
    cuda::quantize_q8(dx.as<float>(), n_cols, xq, 0);
    cuda::matvec_q8_glu(act, weight_on_device(type, dg, n_rows, n_cols), weight_on_device(type, du, n_rows, n_cols),
                        xq, dy.as<float>(), 0);
    to_host(y, dy, size_t(n_rows) * 4);
}

void quantize_q8(const float* x, int64_t n, int8_t* q, float* d) {
    need_gpu();
    if (n <= 0 || n % 32) throw std::invalid_argument("quantize_q8: the length must be a positive multiple of 32");
    const dev_buffer dx = to_device(x, size_t(n) * 4);
    const dev_buffer dq(cuda::q8_vec_bytes(n), "allocating GPU memory for a test");
    const cuda::q8_vec xq = cuda::q8_vec_at(dq.p, n);
    cuda::quantize_q8(dx.as<float>(), n, xq, 0);
    CUDA_CHECK(cudaMemcpy(q, xq.q, size_t(n), cudaMemcpyDeviceToHost), "copying a test result from the GPU");
    CUDA_CHECK(cudaMemcpy(d, xq.d, size_t(n / 32) * 4, cudaMemcpyDeviceToHost), "copying a test result from the GPU");
}

void residual_norm(float* x, const float* o, const float* post, const float* w, float* y, int64_t n_rows, int64_t n,
                   float eps, int8_t* q, float* d) {
    need_gpu();
    if (q && (n_rows != 1 || n % 32)) throw std::invalid_argument("residual_norm: quantized output of one row of 32s");
    const size_t bytes = size_t(n_rows * n) * 4;
    const dev_buffer dx = to_device(x, bytes);
    const dev_buffer d_o = o ? to_device(o, bytes) : dev_buffer();
    const dev_buffer dp = post ? to_device(post, size_t(n) * 4) : dev_buffer();
    const dev_buffer dw = to_device(w, size_t(n) * 4);
    const dev_buffer dy(bytes, "allocating GPU memory for a test");
    const dev_buffer dq(q ? cuda::q8_vec_bytes(n) : 0, "allocating GPU memory for a test");
    const cuda::q8_vec xq = q ? cuda::q8_vec_at(dq.p, n) : cuda::q8_vec{};
    cuda::residual_norm(dx.as<float>(), d_o.as<float>(), dp.as<float>(), dy.as<float>(), dw.as<float>(), n_rows, n, eps,
                        0, q ? &xq : nullptr);
    to_host(y, dy, bytes);
    to_host(x, dx, bytes);
    if (q) {
        CUDA_CHECK(cudaMemcpy(q, xq.q, size_t(n), cudaMemcpyDeviceToHost), "copying a test result from the GPU");
        CUDA_CHECK(cudaMemcpy(d, xq.d, size_t(n / 32) * 4, cudaMemcpyDeviceToHost), "copying a test result from the GPU");
    }
}

void act_mul(int act, float* gate, const float* up, int64_t n, int8_t* q, float* d) {
    need_gpu();
    if (q && n % 32) throw std::invalid_argument("act_mul: quantized output of a multiple of 32 values");
    const dev_buffer dg = to_device(gate, size_t(n) * 4);
    const dev_buffer du = to_device(up, size_t(n) * 4);
    const dev_buffer dq(q ? cuda::q8_vec_bytes(n) : 0, "allocating GPU memory for a test");
    const cuda::q8_vec xq = q ? cuda::q8_vec_at(dq.p, n) : cuda::q8_vec{};
    cuda::act_mul(act, dg.as<float>(), du.as<float>(), n, 0, q ? &xq : nullptr);
    to_host(gate, dg, size_t(n) * 4);
    if (q) {
        CUDA_CHECK(cudaMemcpy(q, xq.q, size_t(n), cudaMemcpyDeviceToHost), "copying a test result from the GPU");
        CUDA_CHECK(cudaMemcpy(d, xq.d, size_t(n / 32) * 4, cudaMemcpyDeviceToHost), "copying a test result from the GPU");
    }
}

void rope(float* x, int64_t T, int64_t n_head, int64_t head_dim, int32_t n_rot, bool neox, const float* cs) {
    need_gpu();
    if (head_dim > cuda::kMaxHeadDim || n_rot > head_dim || n_rot % 2) throw std::invalid_argument("rope: bad sizes");
    const size_t bytes = size_t(T * n_head * head_dim) * 4;
    const dev_buffer dx = to_device(x, bytes);
    const dev_buffer dcs = to_device(cs, size_t(T * n_rot) * 4);
    cuda::qkv_args a;  // q heads only: no k or v heads, no bias or norm, scale 1
    a.q = dx.as<float>();
    a.rope_cs = dcs.as<float>();
    a.n_head = int(n_head);
    a.n_head_kv = 0;
    a.hdk = int(head_dim);
    a.hdv = int(head_dim);
    a.n_rot = n_rot;
    a.neox = neox;
    a.attn_scale = 1.0f;
    cuda::qkv_finish(a, T, 0);
    to_host(x, dx, bytes);
}

void attention(const float* q, int64_t T, int64_t n_head, int64_t hdk, const uint16_t* k, const uint16_t* v,
               int64_t n_keys, int64_t n_head_kv, int64_t hdv, int64_t n_past, int64_t window, float softcap,
               float* out, int8_t* q8, float* d8) {
    need_gpu();
    if (q8 && (T != 1 || hdv % 32)) throw std::invalid_argument("attention: quantized output of one token, hdv of 32s");
    if (hdk % 8 || hdk > cuda::kMaxHeadDim || hdv > cuda::kMaxHeadDim || n_head % n_head_kv || n_past + T > n_keys) {
        throw std::invalid_argument("attention: bad sizes");
    }
    const dev_buffer dq = to_device(q, size_t(T * n_head * hdk) * 4);
    const dev_buffer dk = to_device(k, size_t(n_keys * n_head_kv * hdk) * 2);
    const dev_buffer dv = to_device(v, size_t(n_keys * n_head_kv * hdv) * 2);
    const int32_t pos = int32_t(n_past);
    const dev_buffer dpos = to_device(&pos, sizeof pos);
    const dev_buffer dout(size_t(T * n_head * hdv) * 4, "allocating GPU memory for a test");
    cuda::attn_args a;
    a.q = dq.as<float>();
    a.k = dk.as<__half>();
    a.v = dv.as<__half>();
    a.out = dout.as<float>();
    a.pos = dpos.as<int32_t>();
    a.n_head = int(n_head);
    a.n_head_kv = int(n_head_kv);
    a.hdk = int(hdk);
    a.hdv = int(hdv);
    a.window = int(window);
    a.softcap = softcap;
    const int64_t n_out = T * n_head * hdv;
    const dev_buffer d_q8(q8 ? cuda::q8_vec_bytes(n_out) : 0, "allocating GPU memory for a test");
    if (q8) a.xq = cuda::q8_vec_at(d_q8.p, n_out);
    cuda::attention(a, T, 0);
    to_host(out, dout, size_t(n_out) * 4);
    if (q8) {
        CUDA_CHECK(cudaMemcpy(q8, a.xq.q, size_t(n_out), cudaMemcpyDeviceToHost), "copying a test result from the GPU");
        CUDA_CHECK(cudaMemcpy(d8, a.xq.d, size_t(n_out / 32) * 4, cudaMemcpyDeviceToHost),
                   "copying a test result from the GPU");
    }
}

double read_bandwidth(size_t bytes, int reps) {
    need_gpu();
    const size_t block = cuda::kReadWordsPerBlock * 16;
    const size_t n_blocks = std::max<size_t>(1, bytes / block);
    const dev_buffer d(n_blocks * block, "allocating GPU memory for the bandwidth read");
    const dev_buffer out(n_blocks * 4, "allocating GPU memory for the bandwidth read");
    CUDA_CHECK(cudaMemset(d.p, 1, n_blocks * block), "filling the bandwidth buffer");
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0), "creating a CUDA event");
    CUDA_CHECK(cudaEventCreate(&e1), "creating a CUDA event");
    double best = 0.0;
    for (int r = 0; r < std::max(reps, 1) + 1; ++r) {  // the first run warms up
        CUDA_CHECK(cudaEventRecord(e0, 0), "recording a CUDA event");
        cuda::read_words(d.as<uint4>(), n_blocks * cuda::kReadWordsPerBlock, out.as<uint32_t>(), 0);
        CUDA_CHECK(cudaEventRecord(e1, 0), "recording a CUDA event");
        CUDA_CHECK(cudaEventSynchronize(e1), "timing the bandwidth read");
        float ms = 0.0f;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1), "timing the bandwidth read");
        if (r > 0 && ms > 0.0f) best = std::max(best, double(n_blocks * block) / (double(ms) * 1e-3) / 1e9);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return best;
}

double time_matmul(int32_t type, const void* w, int64_t n_rows, int64_t n_cols, int64_t T, int mode, int reps) {
    need_gpu();
    const size_t bytes = weight_bytes(type, n_rows, n_cols);
    // enough copies of the weights that each call reads them from memory, not from L2
    int device = 0, l2 = 0;
    CUDA_CHECK(cudaGetDevice(&device), "querying the GPU");
    CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device), "querying the GPU");
    const size_t stride = gpu_walk::aligned(bytes);
    const int copies = int(std::min<size_t>(1024, std::max<size_t>(1, (4 * size_t(l2) + stride - 1) / stride)));
    const dev_buffer dw(stride * size_t(copies), "allocating GPU memory for a test");
    for (int c = 0; c < copies; ++c) {
        CUDA_CHECK(cudaMemcpy(dw.as<uint8_t>(stride * size_t(c)), w, bytes, cudaMemcpyHostToDevice),
                   "copying a test input to the GPU");
    }
    const dev_buffer dx(size_t(T * n_cols) * 4, "allocating GPU memory for a test");
    const dev_buffer dy(size_t(T * n_rows) * 4, "allocating GPU memory for a test");
    const dev_buffer dq(cuda::q8_vec_bytes(n_cols), "allocating GPU memory for a test");
    const cuda::q8_vec xq = cuda::q8_vec_at(dq.p, n_cols);
    std::vector<float> ones(size_t(T * n_cols), 1.0f);
    CUDA_CHECK(cudaMemcpy(dx.p, ones.data(), ones.size() * 4, cudaMemcpyHostToDevice), "filling the activations");
    if (mode == 3 && (T != 1 || !cuda::matvec_q8_supports(type, n_cols))) {
        throw std::invalid_argument("the integer matrix-vector kernel takes one token of Q4_0, Q5_0, Q8_0, Q4_K, Q5_K or Q6_K");
    }
    auto call = [&](int c) {
        cuda::dev_matrix m = weight_on_device(type, dw, n_rows, n_cols);
        m.data = dw.as<uint8_t>(stride * size_t(c));
        if (mode == 3) {
            cuda::quantize_q8(dx.as<float>(), n_cols, xq, 0);
            cuda::matvec_q8(m, xq, dy.as<float>(), 0);
        } else {
            cuda::matmul(m, dx.as<float>(), T, dy.as<float>(), 0, mode);
        }
    };
    reps = std::max(reps, 1);
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0), "creating a CUDA event");
    CUDA_CHECK(cudaEventCreate(&e1), "creating a CUDA event");
    call(0);  // loads the kernel
    double best = 1e30;
    for (int r = 0; r < 3; ++r) {
        CUDA_CHECK(cudaEventRecord(e0, 0), "recording a CUDA event");
        for (int i = 0; i < reps; ++i) call((r * reps + i + 1) % copies);
        CUDA_CHECK(cudaEventRecord(e1, 0), "recording a CUDA event");
        CUDA_CHECK(cudaEventSynchronize(e1), "timing a matmul");
        float ms = 0.0f;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1), "timing a matmul");
        best = std::min(best, double(ms) * 1e-3 / reps);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return best;
}

}  // namespace cuda_test

}  // namespace pyggml
