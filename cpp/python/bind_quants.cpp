// bind_quants.cpp: Python bindings for the type table, quantize and dequantize.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "core/dispatch.h"
#include "python/bindings.h"
#include "python/checks.h"
#include "quant/rows.h"
#include "quant/validate.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

void check_row_length(const type_traits& t, int64_t n_per_row) {
    if (n_per_row <= 0 || n_per_row % t.blck_size != 0) {
        throw py::value_error(std::string(t.name) + ": row length " + std::to_string(n_per_row) +
                              " is not a positive multiple of the block size " +
                              std::to_string(t.blck_size));
    }
}

py::list type_table() {
    py::list out;
    for (int32_t id = 0; id < GGML_TYPE_COUNT; ++id) {
        const type_traits* t = get_type_traits(id);
        if (!t) continue;
        py::dict d;
        d["id"] = id;
        d["name"] = t->name;
        d["block_size"] = t->blck_size;
        d["type_size"] = t->type_size;
        d["is_quantized"] = t->is_quantized;
        d["can_dequantize"] = t->to_float != nullptr;
        d["can_quantize"] = t->quantize != nullptr;
        d["uses_imatrix"] = t->uses_imatrix;
        d["can_matmul"] = get_vec_dot_traits(id) != nullptr;  // a type weights may have
        out.append(d);
    }
    return out;
}

// src: (n_rows, n_per_row) float32, C-contiguous. Returns (n_rows, row_bytes) uint8.
py::array_t<uint8_t> quantize(int32_t type, py::array_t<float, py::array::c_style> src,
                              std::optional<py::array_t<float, py::array::c_style>> imatrix,
                              int n_threads, bool reference) {
    const type_traits& t = traits_or_throw(type, reference);
    if (!t.quantize) throw py::value_error(std::string(t.name) + " cannot be quantized");
    if (src.ndim() != 2) throw py::value_error("quantize expects a 2-D float32 array");
    const int64_t n_rows = src.shape(0), n_per_row = src.shape(1);
    check_row_length(t, n_per_row);
    const float* qw = nullptr;
    if (imatrix) {
        if (imatrix->ndim() != 1 || imatrix->shape(0) != n_per_row) {
            throw py::value_error("imatrix must be a 1-D float32 array of length " +
                                  std::to_string(n_per_row) + " (one weight per column)");
        }
        qw = imatrix->data();
    }
    const float* x = src.data();
    py::array_t<uint8_t> out({n_rows, int64_t(row_size(t, n_per_row))});
    uint8_t* y = out.mutable_data();
    {
        py::gil_scoped_release release;
        quantize_rows(t, x, y, n_rows, n_per_row, qw, n_threads);
    }
    return out;
}

// data: contiguous bytes of n_rows rows. Returns (n_rows, n_per_row) float32.
py::array_t<float> dequantize(int32_t type, py::buffer data, int64_t n_rows, int64_t n_per_row,
                              int n_threads, bool reference) {
    const type_traits& t = traits_or_throw(type, reference);
    if (!t.to_float) throw py::value_error(std::string(t.name) + " cannot be dequantized");
    check_row_length(t, n_per_row);
    if (n_rows < 0) throw py::value_error("negative row count");
    py::buffer_info info = data.request();
    if (info.ndim > 0 && info.strides.back() != info.itemsize) {
        throw py::value_error("dequantize expects contiguous bytes");
    }
    const size_t row_bytes = row_size(t, n_per_row);
    const size_t have = size_t(info.size) * size_t(info.itemsize);
    if (have != size_t(n_rows) * row_bytes) {
        throw py::value_error(std::string(t.name) + ": " + std::to_string(n_rows) + " rows of " +
                              std::to_string(n_per_row) + " need " +
                              std::to_string(size_t(n_rows) * row_bytes) + " bytes, got " +
                              std::to_string(have));
    }
    const uint8_t* x = static_cast<const uint8_t*>(info.ptr);
    py::array_t<float> out({n_rows, n_per_row});
    float* y = out.mutable_data();
    {
        py::gil_scoped_release release;
        dequantize_rows(t, x, y, n_rows, n_per_row, n_threads);
    }
    return out;
}

// The first non-finite value or block scale of a tensor's raw bytes: None, or
// (element or block index, field, value).
py::object check_tensor_data(int32_t type, py::array_t<uint8_t, py::array::c_style> data, int n_threads) {
    if (data.ndim() != 1) throw py::value_error("check_tensor_data expects a flat uint8 array");
    const void* ptr = data.data();
    const size_t n = size_t(data.size());
    data_problem p;
    {
        py::gil_scoped_release release;
        p = validate_tensor_data(type, ptr, n, n_threads);
    }
    if (p.index < 0) return py::none();
    return py::make_tuple(p.index, p.field, p.value);
}

}  // namespace

void pyggml::bind_quants(py::module_& m) {
    m.def("type_table", &type_table, "List of dicts describing every tensor type");
    m.def("check_tensor_data", &check_tensor_data, py::arg("type"), py::arg("data"), py::arg("n_threads") = 0,
          "First NaN or infinity among a tensor's values or block scales: None or (index, field, value); "
          "index counts elements for F32/F16/BF16 and blocks for quantized types");
    m.def("quantize", &quantize, py::arg("type"), py::arg("src"), py::arg("imatrix") = py::none(),
          py::arg("n_threads") = 0, py::arg("reference") = false,
          "Quantize rows; reference=True forces the scalar reference code (for tests)");
    m.def("dequantize", &dequantize, py::arg("type"), py::arg("data"), py::arg("n_rows"),
          py::arg("n_per_row"), py::arg("n_threads") = 0, py::arg("reference") = false,
          "Dequantize rows; reference=True forces the scalar reference code (for tests)");
}
