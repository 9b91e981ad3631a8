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
