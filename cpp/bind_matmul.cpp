// bind_matmul.cpp: Python bindings for the thread pool and y = W x.
#include <pybind11/numpy.h>

#include <memory>
#include <string>

#include "bindings.h"
#include "matmul.h"
#include "type_traits.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

// weight: (n_rows, row_bytes) uint8 of `type`; x: (n_tokens, n_cols) float32.
py::array_t<float> matmul_py(thread_pool& pool, int32_t type, py::array_t<uint8_t, py::array::c_style> weight,
                             int64_t n_cols, py::array_t<float, py::array::c_style> x) {
    const type_traits* t = get_type_traits(type);
    if (!t) throw py::value_error("unknown ggml type id " + std::to_string(type));
    if (n_cols <= 0 || n_cols % t->blck_size) throw py::value_error("n_cols is not a multiple of the block size");
    if (weight.ndim() != 2 || size_t(weight.shape(1)) != row_size(*t, n_cols)) {
        throw py::value_error("weight must be (n_rows, row_bytes) uint8 for " + std::string(t->name));
    }
    if (x.ndim() != 2 || x.shape(1) != n_cols) throw py::value_error("x must be (n_tokens, n_cols) float32");
    weight_view w{type, weight.data(), weight.shape(0), n_cols, size_t(weight.shape(1))};
    const int64_t n_tokens = x.shape(0);
    py::array_t<float> y({n_tokens, w.n_rows});
    float* yp = y.mutable_data();
    const float* xp = x.data();
    {
        py::gil_scoped_release release;
        matmul(w, xp, yp, n_tokens, pool);
    }
    return y;
}

}  // namespace

void pyggml::bind_matmul(py::module_& m) {
    py::class_<thread_pool>(m, "ThreadPool")
        .def(py::init<int>(), py::arg("n_threads") = 0)
        .def_property_readonly("n_threads", &thread_pool::size)
        .def_static("default_threads", &thread_pool::default_threads);
    m.def("matmul", &matmul_py, py::arg("pool"), py::arg("type"), py::arg("weight"), py::arg("n_cols"),
          py::arg("x"), "y = x @ W.T for a block-quantized W (n_rows, n_cols); returns (n_tokens, n_rows)");
}
