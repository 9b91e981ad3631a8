// bind_quant_grid.cpp: Python bindings for the grid view of the block formats
// (quant/grid.h): levels, per-group scale/offset, and unpacking/packing quant indices.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>

#include "core/dispatch.h"
#include "python/bindings.h"
#include "quant/grid.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

const char* kSupported = "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS";

const grid_format& grid_or_throw(int32_t type) {
    if (const grid_format* f = get_grid_format(type)) return *f;
    const type_traits* t = get_type_traits(type);
    const std::string name = t ? std::string(t->name) : "unknown type";
    throw py::value_error("grid: " + name + " (ggml type id " + std::to_string(type) +
                          ") has no quantization grid; supported: " + kSupported);
}

void check_shape(const grid_format& f, int64_t nrows, int64_t ncols) {
    if (nrows < 0) throw py::value_error(std::string(f.name) + ": negative row count " + std::to_string(nrows));
    if (ncols <= 0 || ncols % f.block_size != 0) {
        throw py::value_error(std::string(f.name) + ": row length " + std::to_string(ncols) +
                              " is not a positive multiple of the block size " +
                              std::to_string(f.block_size));
    }
}

// The contiguous bytes of `data`, checked to hold exactly nrows rows of ncols elements.
const uint8_t* checked_bytes(const grid_format& f, const py::buffer_info& info, int64_t nrows,
                             int64_t ncols) {
    check_shape(f, nrows, ncols);
    if (info.size > 0) {
        // C-contiguous: each stride equals the product of the later extents times itemsize.
        py::ssize_t expect = info.itemsize;
        for (py::ssize_t i = info.ndim - 1; i >= 0; --i) {
            if (info.shape[size_t(i)] > 1 && info.strides[size_t(i)] != expect) {
                throw py::value_error(std::string(f.name) + ": data must be contiguous bytes");
            }
            expect *= info.shape[size_t(i)];
        }
    }
    const size_t row_bytes = size_t(ncols / f.block_size) * f.block_bytes;
    const size_t have = size_t(info.size) * size_t(info.itemsize);
    // Compare by division first so that absurd row counts cannot overflow the product.
    const bool fits = size_t(nrows) <= have / row_bytes;
    const size_t need = fits ? size_t(nrows) * row_bytes : 0;
    if (!fits || have != need) {
        throw py::value_error(std::string(f.name) + ": " + std::to_string(nrows) + " rows of " +
                              std::to_string(ncols) + " need " +
                              (fits ? std::to_string(need) : std::string("more")) +
                              " bytes, got " + std::to_string(have));
    }
    return static_cast<const uint8_t*>(info.ptr);
}

py::array_t<float> levels(int32_t type) {
    const grid_format& f = grid_or_throw(type);
    py::array_t<float> out(f.n_levels);
    f.levels(out.mutable_data());
    return out;
}

int group_size(int32_t type) { return grid_or_throw(type).group_size; }

// Returns (scale, offset), each (nrows, ncols / group_size) float32.
py::tuple params(int32_t type, py::buffer data, int64_t nrows, int64_t ncols) {
    const grid_format& f = grid_or_throw(type);
    py::buffer_info info = data.request();
    const uint8_t* x = checked_bytes(f, info, nrows, ncols);
    const int64_t ngroups = ncols / f.group_size;
    py::array_t<float> scale({nrows, ngroups});
    py::array_t<float> offset({nrows, ngroups});
    float* s = scale.mutable_data();
    float* o = offset.mutable_data();
    {
        py::gil_scoped_release release;
        grid_params_rows(f, x, nrows, ncols, s, o);
    }
    return py::make_tuple(scale, offset);
}

// Returns (nrows, ncols) uint8 quant indices.
py::array_t<uint8_t> unpack(int32_t type, py::buffer data, int64_t nrows, int64_t ncols) {
    const grid_format& f = grid_or_throw(type);
    py::buffer_info info = data.request();
    const uint8_t* x = checked_bytes(f, info, nrows, ncols);
    py::array_t<uint8_t> out({nrows, ncols});
    uint8_t* idx = out.mutable_data();
    {
        py::gil_scoped_release release;
        grid_unpack_rows(f, x, nrows, ncols, idx);
    }
    return out;
}

// indices as a C-contiguous uint8 array of the same shape, every value checked to lie
// in [0, n_levels). Integer arrays of any width are accepted; anything else is refused.
py::array_t<uint8_t> checked_indices(const grid_format& f, const py::array& indices) {
    const char kind = indices.dtype().kind();
    if (kind != 'u' && kind != 'i') {
        throw py::value_error(std::string(f.name) + ": indices must be an integer array, got dtype " +
                              std::string(py::str(indices.dtype())));
    }
    if (indices.ndim() != 2) {
        throw py::value_error(std::string(f.name) + ": indices must be 2-D (nrows, ncols), got " +
                              std::to_string(indices.ndim()) + " dimensions");
    }
    const int64_t ncols = indices.shape(1);
    int64_t bad = -1, bad_value = 0;
    if (py::isinstance<py::array_t<uint8_t>>(indices)) {
        // uint8 (what grid_unpack returns): checked in place, no widening copy.
        auto out = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(indices);
        if (!out) throw py::error_already_set();
        const int64_t n = int64_t(out.size());
        const uint8_t* v = out.data();
        {
            py::gil_scoped_release release;
            for (int64_t i = 0; i < n; ++i) {
                if (v[i] >= f.n_levels) { bad = i; bad_value = v[i]; break; }
            }
        }
        if (bad < 0) return out;
    } else {
        auto wide = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(indices);
        if (!wide) throw py::error_already_set();
        const int64_t n = int64_t(wide.size());
        const int64_t* v = wide.data();
        py::array_t<uint8_t> out({indices.shape(0), indices.shape(1)});
        uint8_t* o = out.mutable_data();
        {
            py::gil_scoped_release release;
            for (int64_t i = 0; i < n; ++i) {
                if (v[i] < 0 || v[i] >= f.n_levels) { bad = i; bad_value = v[i]; break; }
                o[i] = uint8_t(v[i]);
            }
        }
        if (bad < 0) return out;
    }
    throw py::value_error(std::string(f.name) + ": index " + std::to_string(bad_value) + " at row " +
                          std::to_string(bad / ncols) + ", column " + std::to_string(bad % ncols) +
                          " is outside the grid [0, " + std::to_string(f.n_levels) + ")");
}

// A copy of data (nrows, row_bytes) with every quant index replaced by indices (nrows, ncols).
py::array_t<uint8_t> pack(int32_t type, py::buffer data, py::array indices) {
    const grid_format& f = grid_or_throw(type);
    py::array_t<uint8_t> idx = checked_indices(f, indices);
    const int64_t nrows = idx.shape(0), ncols = idx.shape(1);
    py::buffer_info info = data.request();
    const uint8_t* x = checked_bytes(f, info, nrows, ncols);
    const int64_t row_bytes = int64_t(ncols / f.block_size) * int64_t(f.block_bytes);
    py::array_t<uint8_t> out({nrows, row_bytes});
    uint8_t* y = out.mutable_data();
    const uint8_t* q = idx.data();
    {
        py::gil_scoped_release release;
        if (nrows > 0) std::memcpy(y, x, size_t(nrows) * size_t(row_bytes));
        grid_pack_rows(f, y, nrows, ncols, q);
    }
    return out;
}

}  // namespace

void pyggml::bind_quant_grid(py::module_& testing) {
    testing.def("grid_levels", &levels, py::arg("type"),
          "(n_levels,) float32 grid values: element = scale[g] * levels[q] + offset[g]");
    testing.def("grid_group_size", &group_size, py::arg("type"),
          "Elements sharing one scale and offset (16 or 32)");
    testing.def("grid_params", &params, py::arg("type"), py::arg("data"), py::arg("nrows"), py::arg("ncols"),
          "(scale, offset) float32, each (nrows, ncols // group_size), of quantized rows");
    testing.def("grid_unpack", &unpack, py::arg("type"), py::arg("data"), py::arg("nrows"), py::arg("ncols"),
          "(nrows, ncols) uint8 quant indices of quantized rows");
    testing.def("grid_pack", &pack, py::arg("type"), py::arg("data"), py::arg("indices"),
          "Copy of data (nrows, row_bytes) uint8 with its quant indices replaced by indices "
          "(nrows, ncols); scales and mins are kept");
}
