// bind_gptq.cpp: Python bindings of GPTQ (quant/gptq.h), with every shape checked: the
// whole-matrix driver, and its column loop for the tests (_core.testing).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "python/bindings.h"
#include "python/checks.h"
#include "quant/gptq.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

using farray = py::array_t<float, py::array::c_style>;
using barray = py::array_t<uint8_t, py::array::c_style>;
using iarray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

void check2(const py::array& a, int64_t rows, int64_t cols, const char* fn, const char* what) {
    if (a.ndim() != 2 || a.shape(0) != rows || a.shape(1) != cols) {
        throw py::value_error(std::string(fn) + ": " + what + " must be (" + std::to_string(rows) + ", " +
                              std::to_string(cols) + ")");
    }
}

void gptq_columns_py(farray w, farray u, farray err, barray idx, int64_t c0, int64_t c1, farray scale,
                     farray offset, farray levels, int n_threads) {
    const char* fn = "gptq_columns";
    if (w.ndim() != 2) throw py::value_error("gptq_columns: w must be 2-D");
    const int64_t rows = w.shape(0), cols = w.shape(1);
    if (c0 < 0 || c1 > cols || c0 >= c1) throw py::value_error("gptq_columns: need 0 <= c0 < c1 <= columns");
    check2(u, cols, cols, fn, "u");
    check2(err, rows, cols, fn, "err");
    check2(idx, rows, cols, fn, "idx");
    check2(scale, rows, c1 - c0, fn, "scale");
    check2(offset, rows, c1 - c0, fn, "offset");
    if (levels.ndim() != 1 || levels.size() < 1 || levels.size() > 256) {
        throw py::value_error("gptq_columns: levels must hold 1 to 256 values");
    }
    float* pw = w.mutable_data();
    float* pe = err.mutable_data();
    uint8_t* pi = idx.mutable_data();
    py::gil_scoped_release release;
    thread_pool pool(n_threads);
    gptq_columns(pw, u.data(), pe, pi, rows, cols, c0, c1, scale.data(), offset.data(), levels.data(),
                 int(levels.size()), pool);
}

const grid_format& grid_or_throw(int32_t type) {
    const grid_format* f = get_grid_format(type);
    if (!f) throw py::value_error("gptq_quantize: " + std::string(traits_or_throw(type).name) + " has no grid");
    return *f;
}

// w: (rows, cols) float32, rewritten in place; see gptq_matrix for the rest.
barray gptq_quantize_py(int32_t type, farray w, farray u, py::function later_columns, std::optional<farray> w_file,
                        std::optional<iarray> perm, std::optional<farray> importance, int64_t block, int n_threads) {
    const char* fn = "gptq_quantize";
    const grid_format& f = grid_or_throw(type);
    const type_traits& t = traits_or_throw(type);
    if (w.ndim() != 2) throw py::value_error("gptq_quantize: w must be 2-D");
    gptq_matrix m;
    m.n_rows = w.shape(0);
    m.n_cols = w.shape(1);
    const int64_t cols = m.n_cols;
    if (cols <= 0 || cols % f.block_size) {
        throw py::value_error(std::string(f.name) + ": row length " + std::to_string(cols) +
                              " is not a multiple of " + std::to_string(f.block_size));
    }
    check2(u, cols, cols, fn, "u");
    if (perm.has_value() != w_file.has_value()) throw py::value_error("gptq_quantize: perm and w_file go together");
    if (perm) {
        if (perm->ndim() != 1 || perm->shape(0) != cols) throw py::value_error("gptq_quantize: perm must be (cols,)");
        std::vector<bool> seen(size_t(cols), false);
        for (int64_t c = 0; c < cols; ++c) {
            const int64_t p = perm->data()[c];
            if (p < 0 || p >= cols || seen[size_t(p)]) throw py::value_error("gptq_quantize: perm is not a permutation");
            seen[size_t(p)] = true;
        }
        check2(*w_file, m.n_rows, cols, fn, "w_file");
        m.perm = perm->data();
        m.w_file = w_file->data();
    }
    if (importance) {
        if (importance->ndim() != 1 || importance->shape(0) != cols) {
            throw py::value_error("gptq_quantize: importance must be (cols,)");
        }
        m.importance = importance->data();
    }
    m.w = w.mutable_data();
    m.u = u.data();
    m.block = block;
    const int64_t rows = m.n_rows;
    barray out({rows, int64_t(row_size(t, cols))});
    uint8_t* dst = out.mutable_data();
    // The lazy update runs in Python (its BLAS); err is lent for the call only.
    auto later = [&](int64_t c0, int64_t c1, const float* err) {
        py::gil_scoped_acquire gil;
        py::array_t<float> view({rows, c1 - c0}, {(c1 - c0) * int64_t(sizeof(float)), int64_t(sizeof(float))}, err,
                                py::capsule(err, [](void*) {}));
        view.attr("setflags")(py::arg("write") = false);
        later_columns(c0, c1, view);
    };
    py::gil_scoped_release release;
    thread_pool pool(n_threads);
    gptq_quantize(f, t, m, later, dst, pool);
    return out;
}

}  // namespace

void pyggml::bind_gptq(py::module_& m, py::module_& testing) {
    // w is rewritten in place and later_columns updates the same array, so it must already be
    // C-contiguous float32
    m.def("gptq_quantize", &gptq_quantize_py, py::arg("type"), py::arg("w").noconvert(), py::arg("u"),
          py::arg("later_columns"), py::arg("w_file") = py::none(), py::arg("perm") = py::none(),
          py::arg("importance") = py::none(), py::arg("block") = 128, py::arg("n_threads") = 0,
          "GPTQ of w (rows, cols), columns in visiting order, onto the grid of `type`: returns the tensor's "
          "bytes (rows, row_bytes) in file column order. u: (cols, cols) upper Cholesky factor of the damped "
          "inverse Hessian in the same order. After each block of `block` columns [c0, c1), "
          "later_columns(c0, c1, err) must apply w[:, c1:] -= err @ u[c0:c1, c1:]. Act-order: perm (the file "
          "column of each visited column) with w_file (rows, cols) in file order, whose blocks give the scales. "
          "importance (cols,) in file order steers the scales as an imatrix does");
    // w, err and idx are written in place, so they must already be C-contiguous float32/uint8
    testing.def("gptq_columns", &gptq_columns_py, py::arg("w").noconvert(), py::arg("u"), py::arg("err").noconvert(),
                py::arg("idx").noconvert(), py::arg("c0"), py::arg("c1"), py::arg("scale"), py::arg("offset"),
                py::arg("levels"), py::arg("n_threads") = 0,
                "GPTQ's column loop over columns [c0, c1) of the block w (rows, cols), in place: rounds each column "
                "onto scale * levels + offset (per row, per column), writes the level indices to idx and the "
                "scaled errors to err, and feeds each error forward to the later columns through u");
}
