// bindings.cpp: the pyggml._core extension module (see bindings.h).
#include "bindings.h"

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyggml native core: block formats, kernels and the forward pass";
    pyggml::bind_quants(m);
    pyggml::bind_matmul(m);
    pyggml::bind_tokenizer(m);
    pyggml::bind_model(m);
    pyggml::bind_quant_grid(m);
    pyggml::bind_gptq(m);
    pyggml::bind_ops(m);
}
