// gpu_stub.cpp: the CUDA back end of a build without CUDA (PYGGML_CUDA=OFF, or no CUDA
// compiler found): no device, and a clear error for anything that would need one.
#include <stdexcept>

#include "cuda/gpu_layers.h"

namespace pyggml {

namespace {

const char* kNoCuda = "this pyggml was built without CUDA (rebuild with a CUDA toolkit: CMAKE_ARGS=\"-DPYGGML_CUDA=ON\" pip install .)";

[[noreturn]] void no_cuda() { throw std::runtime_error(kNoCuda); }

}  // namespace

bool cuda_compiled() { return false; }

cuda_device_info cuda_device(int device) {
    cuda_device_info i;
    i.device = device;
    i.reason = kNoCuda;
    return i;
}

struct gpu_layers::impl {};

gpu_layers::gpu_layers(const model_hparams&, const model_weights&, const gpu_placement&, int64_t, int64_t) { no_cuda(); }
gpu_layers::~gpu_layers() = default;
bool gpu_layers::has_layer(int64_t) const { return false; }
bool gpu_layers::has_output() const { return false; }
int64_t gpu_layers::run_end(int64_t l0) const { return l0; }
const gpu_memory_plan& gpu_layers::memory() const { no_cuda(); }
const std::string& gpu_layers::device_name() const { no_cuda(); }
void gpu_layers::forward(int64_t, int64_t, float*, int64_t, int64_t, const float*, float*, int64_t, bool) { no_cuda(); }
void gpu_layers::shift(int64_t, int64_t, int64_t, const float*) { no_cuda(); }

namespace cuda_test {
void dequantize(int32_t, const void*, int64_t, int64_t, float*) { no_cuda(); }
void matmul(int32_t, const void*, int64_t, int64_t, const float*, int64_t, float*, int) { no_cuda(); }
void matvec_q8_multi(int32_t, const void* const*, const int64_t*, int, int64_t, const float*, float* const*) {
    no_cuda();
}
void matvec_q8_glu(int, int32_t, const void*, const void*, int64_t, int64_t, const float*, float*) { no_cuda(); }
void quantize_q8(const float*, int64_t, int8_t*, float*) { no_cuda(); }
void residual_norm(float*, const float*, const float*, const float*, float*, int64_t, int64_t, float, int8_t*, float*) {
    no_cuda();
}
void act_mul(int, float*, const float*, int64_t, int8_t*, float*) { no_cuda(); }
void rope(float*, int64_t, int64_t, int64_t, int32_t, bool, const float*) { no_cuda(); }
void attention(const float*, int64_t, int64_t, int64_t, const uint16_t*, const uint16_t*, int64_t, int64_t, int64_t,
               int64_t, int64_t, float, float*, int8_t*, float*) {
    no_cuda();
}
double read_bandwidth(size_t, int) { no_cuda(); }
double time_matmul(int32_t, const void*, int64_t, int64_t, int64_t, int, int) { no_cuda(); }
}  // namespace cuda_test

}  // namespace pyggml
