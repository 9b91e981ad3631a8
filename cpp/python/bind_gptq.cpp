// bind_gptq.cpp: Python binding of GPTQ's column loop (quant/gptq.h), with every shape checked.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "python/bindings.h"
#include "quant/gptq.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

using farray = py::array_t<float, py::array::c_style>;
using barray = py::array_t<uint8_t, py::array::c_style>;

void check2(const py::array& a, int64_t rows, int64_t cols, const char* what) {
    if (a.ndim() != 2 || a.shape(0) != rows || a.shape(1) != cols) {
        throw py::value_error(std::string("gptq_columns: ") + what + " must be (" + std::to_string(rows) + ", " +
                              std::to_string(cols) + ")");
    }
}

void gptq_columns_py(farray w, farray u, farray err, barray idx, int64_t c0, int64_t c1, farray scale,
                     farray offset, farray levels, int n_threads) {
    if (w.ndim() != 2) throw py::value_error("gptq_columns: w must be 2-D");
    const int64_t rows = w.shape(0), cols = w.shape(1);
    if (c0 < 0 || c1 > cols || c0 >= c1) throw py::value_error("gptq_columns: need 0 <= c0 < c1 <= columns");
    check2(u, cols, cols, "u");
    check2(err, rows, cols, "err");
    check2(idx, rows, cols, "idx");
    check2(scale, rows, c1 - c0, "scale");
    check2(offset, rows, c1 - c0, "offset");
    if (levels.ndim() != 1 || levels.size() < 1 || levels.size() > 256) {
        throw py::value_error("gptq_columns: levels must hold 1 to 256 values");
    }
    float* pw = w.mutable_data();
    float* pe = err.mutable_data();
    uint8_t* pi = idx.mutable_data();
    py::gil_scoped_release release;
    gptq_columns(pw, u.data(), pe, pi, rows, cols, c0, c1, scale.data(), offset.data(), levels.data(),
                 int(levels.size()), n_threads);
}

}  // namespace

void pyggml::bind_gptq(py::module_& m) {
    // w, err and idx are written in place, so they must already be C-contiguous float32/uint8
    m.def("gptq_columns", &gptq_columns_py, py::arg("w").noconvert(), py::arg("u"), py::arg("err").noconvert(),
          py::arg("idx").noconvert(), py::arg("c0"),
          py::arg("c1"), py::arg("scale"), py::arg("offset"), py::arg("levels"), py::arg("n_threads") = 0,
          "GPTQ's column loop over columns [c0, c1) of the block w (rows, cols), in place: rounds each column "
          "onto scale * levels + offset (per row, per column), writes the level indices to idx and the "
          "scaled errors to err, and feeds each error forward to the later columns through u");
}
