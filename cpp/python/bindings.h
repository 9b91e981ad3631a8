// bindings.h: the pieces of the pyggml._core module, one bind_* per concern.
//
// The binding layer is thin: it validates every size and shape that comes from
// Python, then hands raw pointers to the C++ routines with the GIL released.
// Buffers cross without copies. Each bind_* puts what the pyggml package calls into the
// module (m) and the entry points that only the tests and the kernel benchmarks use
// (single kernels of one instruction set, grids, the column loop of GPTQ) into its
// `testing` submodule. pyggml/_core.pyi describes both.
#pragma once

#include <pybind11/pybind11.h>

namespace pyggml {

void bind_quants(pybind11::module_& m);                                 // bind_quants.cpp
void bind_matmul(pybind11::module_& m, pybind11::module_& testing);     // bind_matmul.cpp
void bind_tokenizer(pybind11::module_& m);                              // bind_tokenizer.cpp
void bind_model(pybind11::module_& m);                                  // bind_model.cpp
void bind_quant_grid(pybind11::module_& testing);                       // bind_quant_grid.cpp
void bind_gptq(pybind11::module_& m, pybind11::module_& testing);       // bind_gptq.cpp
void bind_ops(pybind11::module_& testing);                              // bind_ops.cpp
void bind_vq(pybind11::module_& m);                                     // bind_vq.cpp
void bind_weight_formats(pybind11::module_& m);                         // bind_weight_formats.cpp
void bind_gguf(pybind11::module_& m);                                   // bind_gguf.cpp
void bind_cuda(pybind11::module_& m, pybind11::module_& testing);       // cuda/bind_cuda.cpp

}  // namespace pyggml
