// bind_vq.cpp: Python bindings of the vector quantizers' loops (quant/vq.h), with every
// shape checked; pyggml/vq.py is the user-facing API.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <tuple>

#include "python/bindings.h"
#include "python/checks.h"
#include "quant/vq.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

using farray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using barray = py::array_t<uint8_t, py::array::c_style>;
using larray = py::array_t<int64_t, py::array::c_style>;

[[noreturn]] void fail(const char* fn, const std::string& what) { throw py::value_error(std::string(fn) + ": " + what); }

std::string shape_of(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

// a must be (rows, cols); rows < 0: any number of rows. Returns the rows.
int64_t check2(const py::array& a, int64_t rows, int64_t cols, const char* fn, const char* what) {
    if (a.ndim() != 2 || (rows >= 0 && a.shape(0) != rows) || a.shape(1) != cols) {
        fail(fn, std::string(what) + " must be (" + (rows >= 0 ? std::to_string(rows) : std::string("n")) + ", " +
                     std::to_string(cols) + "), got " + shape_of(a));
    }
    return a.shape(0);
}

void check_vec(const py::array& a, int64_t dim, const char* fn, const char* what) {
    if (a.ndim() != 1 || a.shape(0) != dim) fail(fn, std::string(what) + " must be (" + std::to_string(dim) + ",)");
}

void check_bits(int bits, const char* fn) {
    if (bits != 8 && bits != 4) fail(fn, "bits must be 8 or 4, got " + std::to_string(bits));
}

void check_k(int64_t k, const char* fn) {
    if (k < 1) fail(fn, "k must be at least 1, got " + std::to_string(k));
}

// (dim,) min, step; codes from x (n, dim)
barray sq_encode_py(farray x, farray vmin, farray step, int bits, int n_threads) {
    const char* fn = "sq_encode";
    check_bits(bits, fn);
    check_vec(vmin, vmin.size(), fn, "vmin");
    const int64_t dim = vmin.shape(0);
    check_vec(step, dim, fn, "step");
    const int64_t n = check2(x, -1, dim, fn, "x");
    barray codes({n, sq_code_size(dim, bits)});
    uint8_t* out = codes.mutable_data();
    py::gil_scoped_release release;
    sq_encode(x.data(), n, dim, bits, vmin.data(), step.data(), out, n_threads);
    return codes;
}

farray sq_decode_py(barray codes, farray vmin, farray step, int bits, int n_threads) {
    const char* fn = "sq_decode";
    check_bits(bits, fn);
    check_vec(vmin, vmin.size(), fn, "vmin");
    const int64_t dim = vmin.shape(0);
    check_vec(step, dim, fn, "step");
    const int64_t n = check2(codes, -1, sq_code_size(dim, bits), fn, "codes");
    farray out({n, dim});
    float* dst = out.mutable_data();
    py::gil_scoped_release release;
    sq_decode(codes.data(), n, dim, bits, vmin.data(), step.data(), dst, n_threads);
    return out;
}

std::tuple<farray, larray> sq_search_py(barray codes, farray queries, int64_t k, farray vmin, farray step, int bits,
                                        int n_threads, const std::string& isa_name) {
    const char* fn = "sq_search";
    const cpu_isa isa = isa_or_throw(isa_name);
    check_bits(bits, fn);
    check_k(k, fn);
    check_vec(vmin, vmin.size(), fn, "vmin");
    const int64_t dim = vmin.shape(0);
    check_vec(step, dim, fn, "step");
    const int64_t n = check2(codes, -1, sq_code_size(dim, bits), fn, "codes");
    const int64_t nq = check2(queries, -1, dim, fn, "queries");
    farray distances({nq, k});
    larray ids({nq, k});
    float* pd = distances.mutable_data();
    int64_t* pi = ids.mutable_data();
    py::gil_scoped_release release;
    sq_search(codes.data(), n, dim, bits, vmin.data(), step.data(), queries.data(), nq, k, pd, pi, n_threads, isa);
    return {distances, ids};
}

std::tuple<larray, farray> vq_assign_py(farray x, farray centroids, int n_threads) {
    const char* fn = "vq_assign";
    if (centroids.ndim() != 2 || centroids.shape(0) < 1) fail(fn, "centroids must be (k, dim) with k >= 1");
    const int64_t dim = centroids.shape(1), kc = centroids.shape(0);
    const int64_t n = check2(x, -1, dim, fn, "x");
    larray assign(n);
    farray dist(n);
    int64_t* pa = assign.mutable_data();
    float* pd = dist.mutable_data();
    py::gil_scoped_release release;
    vq_assign(x.data(), n, dim, centroids.data(), kc, pa, pd, n_threads);
    return {assign, dist};
}

// centroids (m, ksub, dsub)
void check_pq(const farray& centroids, const char* fn) {
    if (centroids.ndim() != 3) fail(fn, "centroids must be (m, ksub, dsub), got " + shape_of(centroids));
    if (centroids.shape(0) < 1 || centroids.shape(2) < 1) fail(fn, "centroids must have m >= 1 and dsub >= 1");
    if (centroids.shape(1) < 1 || centroids.shape(1) > 256) fail(fn, "ksub must be 1 to 256");
}

barray pq_encode_py(farray x, farray centroids, int n_threads) {
    const char* fn = "pq_encode";
    check_pq(centroids, fn);
    const int64_t m = centroids.shape(0), ksub = centroids.shape(1), dsub = centroids.shape(2);
    const int64_t n = check2(x, -1, m * dsub, fn, "x");
    barray codes({n, m});
    uint8_t* out = codes.mutable_data();
    py::gil_scoped_release release;
    pq_encode(x.data(), n, m, ksub, dsub, centroids.data(), out, n_threads);
    return codes;
}

std::tuple<farray, larray> pq_search_py(barray codes, farray queries, int64_t k, farray centroids, int n_threads) {
    const char* fn = "pq_search";
    check_k(k, fn);
    check_pq(centroids, fn);
    const int64_t m = centroids.shape(0), ksub = centroids.shape(1), dsub = centroids.shape(2);
    const int64_t n = check2(codes, -1, m, fn, "codes");
    const int64_t nq = check2(queries, -1, m * dsub, fn, "queries");
    // codes index the tables: one out of range would read past them
    const uint8_t* pc = codes.data();
    if (ksub < 256) {
        for (int64_t i = 0; i < n * m; ++i)
            if (pc[i] >= ksub) fail(fn, "code " + std::to_string(pc[i]) + " at vector " + std::to_string(i / m) +
                                            " is not below ksub " + std::to_string(ksub));
    }
    farray distances({nq, k});
    larray ids({nq, k});
    float* pd = distances.mutable_data();
    int64_t* pi = ids.mutable_data();
    py::gil_scoped_release release;
    pq_search(pc, n, m, ksub, dsub, centroids.data(), queries.data(), nq, k, pd, pi, n_threads);
    return {distances, ids};
}

}  // namespace

void pyggml::bind_vq(py::module_& m) {
    // codes must already be C-contiguous uint8 (noconvert): a silent cast of other integers would
    // wrap out-of-range values
    m.def("sq_encode", &sq_encode_py, py::arg("x"), py::arg("vmin"), py::arg("step"), py::arg("bits"),
          py::arg("n_threads") = 0,
          "Scalar quantizer codes (n, code size) of x (n, dim): per component the level "
          "round((x - vmin) / step) clamped to [0, 2**bits - 1]; bits 4 packs two per byte, even component low");
    m.def("sq_decode", &sq_decode_py, py::arg("codes").noconvert(), py::arg("vmin"), py::arg("step"), py::arg("bits"),
          py::arg("n_threads") = 0, "Decoded vectors (n, dim) of scalar quantizer codes: vmin + level * step");
    m.def("sq_search", &sq_search_py, py::arg("codes").noconvert(), py::arg("queries"), py::arg("k"), py::arg("vmin"),
          py::arg("step"), py::arg("bits"), py::arg("n_threads") = 0, py::arg("isa") = "best",
          "(distances, ids), each (nq, k): the k decoded vectors nearest each query in squared L2, ascending "
          "(ties: smaller id; id -1 at +inf past n); isa: the tier whose distance kernel runs (scalar: the "
          "reference)");
    m.def("vq_assign", &vq_assign_py, py::arg("x"), py::arg("centroids"), py::arg("n_threads") = 0,
          "(assign, dist), each (n,): the nearest of centroids (k, dim) to each row of x (n, dim) and its "
          "squared distance (ties: smaller index)");
    m.def("pq_encode", &pq_encode_py, py::arg("x"), py::arg("centroids"), py::arg("n_threads") = 0,
          "Product quantizer codes (n, m) of x (n, m * dsub): per sub-space the nearest of centroids (m, ksub, dsub)");
    m.def("pq_search", &pq_search_py, py::arg("codes").noconvert(), py::arg("queries"), py::arg("k"),
          py::arg("centroids"), py::arg("n_threads") = 0,
          "(distances, ids), each (nq, k): asymmetric distance search of product quantizer codes (n, m), "
          "per query a table (m, ksub) of squared distances to the centroids (m, ksub, dsub)");
}
