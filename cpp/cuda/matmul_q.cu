// matmul_q.cu: the matrix kernels for the 32-value block types (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, IQ4_NL); see matmul.cuh.
#include "cuda/matmul.cuh"

namespace pyggml {
namespace cuda {
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q4_0)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q4_1)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q5_0)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q5_1)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_Q8_0)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_IQ4_NL)
}  // namespace cuda
}  // namespace pyggml
