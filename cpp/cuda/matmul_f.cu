// matmul_f.cu: the matrix kernels for float weights (F32, F16, BF16); see matmul.cuh.
#include "cuda/matmul.cuh"

namespace pyggml {
namespace cuda {
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_F32)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_F16)
PYGGML_CUDA_INSTANTIATE(GGML_TYPE_BF16)
}  // namespace cuda
}  // namespace pyggml
