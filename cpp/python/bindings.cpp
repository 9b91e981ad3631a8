// bindings.cpp: the pyggml._core extension module and its testing submodule (see bindings.h).
#include "python/bindings.h"

#include <exception>

#include "core/errors.h"

namespace py = pybind11;

namespace {

// Raises pyggml.errors.<name> (imported when first needed: the package imports _core
// first), or RuntimeError when the package cannot be imported.
void raise_pyggml_error(const char* name, const char* what) {
    try {
        py::object cls = py::module_::import("pyggml.errors").attr(name);
        PyErr_SetString(cls.ptr(), what);
    } catch (py::error_already_set&) {
        PyErr_SetString(PyExc_RuntimeError, what);
    }
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyggml native core: block formats, kernels and the forward pass";
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const pyggml::resource_error& e) {
            raise_pyggml_error("ResourceError", e.what());
        } catch (const pyggml::nonfinite_error& e) {
            raise_pyggml_error("NonFiniteError", e.what());
        }
    });
    py::module_ testing = m.def_submodule(
        "testing", "entry points for the tests and the kernel benchmarks (single kernels, grids, GPTQ's column "
                   "loop); the pyggml package does not use them");
    pyggml::bind_quants(m);
    pyggml::bind_gguf(m);
    pyggml::bind_matmul(m, testing);
    pyggml::bind_tokenizer(m);
    pyggml::bind_model(m);
    pyggml::bind_quant_grid(testing);
    pyggml::bind_gptq(m, testing);
    pyggml::bind_ops(testing);
    pyggml::bind_vq(m);
    pyggml::bind_weight_formats(m);
    pyggml::bind_cuda(m, testing);
}
