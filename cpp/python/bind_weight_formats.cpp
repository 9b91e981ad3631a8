// bind_weight_formats.cpp: Python bindings of the load-time weight formats (quant/weight_formats.h):
// their type table, the whole-tensor quantizers pyggml.runtime.weight_format calls, and the
// release of a converted source's file pages.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "core/dispatch.h"
#include "kernels/repack.h"
#include "python/bindings.h"
#include "python/checks.h"
#include "quant/weight_formats.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

py::list runtime_type_table() {
    py::list out;
    for (int32_t id = PYGGML_TYPE_FIRST_RUNTIME; id < PYGGML_TYPE_TABLE_SIZE; ++id) {
        const type_traits* t = get_type_traits(id);
        if (!t) continue;
        py::dict d;
        d["id"] = id;
        d["name"] = t->name;
        d["block_size"] = t->blck_size;
        d["can_matmul"] = get_vec_dot_traits(id) != nullptr;
        out.append(d);
    }
    return out;
}

// src: (n_rows, n) float32 -> (n_rows, row bytes) uint8 of `type`.
py::array_t<uint8_t> quantize_weight(int32_t type, py::array_t<float, py::array::c_style> src, bool per_tensor) {
    if (type < PYGGML_TYPE_FIRST_RUNTIME || type == PYGGML_TYPE_A8_ROW || type == PYGGML_TYPE_A8_OUTLIER) {
        throw py::value_error("not a load-time weight format: type id " + std::to_string(type));
    }
    const type_traits& t = traits_or_throw(type);
    if (src.ndim() != 2) throw py::value_error("quantize_weight expects a 2-D float32 array");
    const int64_t n_rows = src.shape(0), n = src.shape(1);
    if (n <= 0 || n % t.blck_size) {
        throw py::value_error(std::string(t.name) + ": row length " + std::to_string(n) +
                              " is not a positive multiple of " + std::to_string(t.blck_size));
    }
    py::array_t<uint8_t> out({n_rows, int64_t(row_size(t, n))});
    const float* x = src.data();
    uint8_t* y = out.mutable_data();
    const bool bnb4 = type >= PYGGML_TYPE_NF4 && type <= PYGGML_TYPE_FP4_DQ;
    {
        py::gil_scoped_release release;
        if (bnb4) {
            quantize_tensor_bnb4(type, x, y, n_rows, n);
        } else {
            quantize_tensor_int8(type, x, y, n_rows, n, per_tensor);
        }
    }
    return out;
}

// kernels/repack.h's release_file_pages over a buffer's bytes (a numpy view of the mapped file).
bool release_pages(const py::buffer& b) {
    const py::buffer_info info = b.request();
    const size_t bytes = size_t(info.size) * size_t(info.itemsize);
    py::gil_scoped_release release;
    return release_file_pages(info.ptr, bytes);
}

}  // namespace

void pyggml::bind_weight_formats(py::module_& m) {
    m.def("runtime_type_table", &runtime_type_table,
          "The load-time weight formats and their activation types: [{id, name, block_size, can_matmul}]");
    m.def("quantize_weight", &quantize_weight, py::arg("type"), py::arg("src"), py::arg("per_tensor") = false,
          "A float32 matrix (n_rows, n) in a load-time weight format (per_tensor: the int8 row formats take "
          "the tensor's scale); returns (n_rows, row bytes) uint8");
    m.def("release_file_pages", &release_pages, py::arg("buffer"),
          "When the buffer lies in a shared file mapping (a mapped GGUF file), unmap its whole pages from this "
          "process (Linux MADV_DONTNEED: the data stays readable, from the page cache or the file, on the next "
          "touch), so they leave the resident set; anything else is left alone. Returns whether pages were "
          "released");
    m.def("dynamic_map", [] {
        py::array_t<float> out(256);
        std::memcpy(out.mutable_data(), dynamic_map_256(), 256 * sizeof(float));
        return out;
    }, "bitsandbytes' signed dynamic 8-bit map (sorted), the code of double-quantized block scales");
}
