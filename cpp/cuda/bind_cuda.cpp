// bind_cuda.cpp: Python bindings of the CUDA back end (cuda/gpu_layers.h): what the build
// and the machine offer, and the single kernels for the tests. Built with or without CUDA
// (without it, cuda_info says so and the kernels raise RuntimeError).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "python/bindings.h"
#include "cuda/gpu_layers.h"
#include "core/dispatch.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

using f32_array = py::array_t<float, py::array::c_style | py::array::forcecast>;
using u8_array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;
using u16_array = py::array_t<uint16_t, py::array::c_style>;

py::dict info_py(int device) {
    cuda_device_info i;
    {
        py::gil_scoped_release release;  // the first call loads the driver
        i = cuda_device(device);
    }
    py::dict d;
    d["compiled"] = i.compiled;
    d["available"] = i.available;
    d["reason"] = i.reason;
    d["device"] = i.device;
    d["count"] = i.count;
    d["name"] = i.name;
    d["compute_capability"] = py::make_tuple(i.cc_major, i.cc_minor);
    d["multiprocessors"] = i.n_sm;
    d["total_bytes"] = i.total_bytes;
    d["free_bytes"] = i.free_bytes;
    d["driver_version"] = i.driver_version;
    d["runtime_version"] = i.runtime_version;
    d["architectures"] = i.archs;
    return d;
}

size_t weight_bytes(int32_t type, int64_t n_rows, int64_t n_cols) {
    const type_traits* t = get_type_traits(type);
    if (!t) throw py::value_error("unknown ggml type id " + std::to_string(type));
    if (!gpu_supports_weight(type, n_cols)) {
        throw py::value_error(std::string("the GPU has no kernel for ") + t->name + " rows of " + std::to_string(n_cols));
    }
    return size_t(n_rows) * row_size(*t, n_cols);
}

f32_array dequantize_py(int32_t type, u8_array w, int64_t n_rows, int64_t n_cols) {
    if (n_rows <= 0) throw py::value_error("n_rows must be positive");
    if (size_t(w.size()) != weight_bytes(type, n_rows, n_cols)) throw py::value_error("w has the wrong size");
    f32_array y({n_rows, n_cols});
    float* out = y.mutable_data();
    const uint8_t* in = w.data();
    py::gil_scoped_release release;
    cuda_test::dequantize(type, in, n_rows, n_cols, out);
    return y;
}

f32_array matmul_py(int32_t type, u8_array w, int64_t n_rows, int64_t n_cols, f32_array x, int mode) {
    if (n_rows <= 0) throw py::value_error("n_rows must be positive");
    if (size_t(w.size()) != weight_bytes(type, n_rows, n_cols)) throw py::value_error("w has the wrong size");
    if (x.ndim() != 2 || x.shape(1) != n_cols || x.shape(0) < 1) throw py::value_error("x must be (T, n_cols)");
    if (mode < 0 || mode > 3 || (mode == 1 && x.shape(0) > 8) || (mode == 3 && x.shape(0) != 1)) {
        throw py::value_error("mode: 0, 1 (T <= 8), 2 or 3 (T = 1)");
    }
    const int64_t T = x.shape(0);
    f32_array y({T, n_rows});
    float* out = y.mutable_data();
    const uint8_t* wp = w.data();
    const float* xp = x.data();
    py::gil_scoped_release release;
    cuda_test::matmul(type, wp, n_rows, n_cols, xp, T, out, mode);
    return y;
}

using i8_array = py::array_t<int8_t, py::array::c_style>;

// One token x (n_cols,) or (1, n_cols).
void check_token(const f32_array& x, int64_t n_cols) {
    if (x.size() != n_cols || n_cols <= 0 || n_cols % 32) throw py::value_error("x must hold n_cols values, a multiple of 32");
}

py::tuple quantize_q8_py(f32_array x) {
    const int64_t n = x.size();
    if (n <= 0 || n % 32) throw py::value_error("x must hold a positive multiple of 32 values");
    i8_array q(n);
    f32_array d(n / 32);
    cuda_test::quantize_q8(x.data(), n, q.mutable_data(), d.mutable_data());
    return py::make_tuple(q, d);
}

py::list matvec_q8_multi_py(int32_t type, py::list ws, std::vector<int64_t> n_rows, int64_t n_cols, f32_array x) {
    const int n = int(n_rows.size());
    if (n < 1 || n > 3 || py::len(ws) != size_t(n)) throw py::value_error("one to three matrices, with their row counts");
    check_token(x, n_cols);
    std::vector<u8_array> wa;
    std::vector<f32_array> ya;
    const void* wp[3] = {};
    float* yp[3] = {};
    for (int i = 0; i < n; ++i) {
        if (n_rows[size_t(i)] <= 0) throw py::value_error("n_rows must be positive");
        wa.push_back(ws[size_t(i)].cast<u8_array>());
        if (size_t(wa.back().size()) != weight_bytes(type, n_rows[size_t(i)], n_cols)) {
            throw py::value_error("a matrix has the wrong size");
        }
        ya.emplace_back(n_rows[size_t(i)]);
    }
    for (int i = 0; i < n; ++i) {
        wp[i] = wa[size_t(i)].data();
        yp[i] = ya[size_t(i)].mutable_data();
    }
    cuda_test::matvec_q8_multi(type, wp, n_rows.data(), n, n_cols, x.data(), yp);
    py::list out;
    for (auto& y : ya) out.append(y);
    return out;
}

f32_array matvec_q8_glu_py(const std::string& act, int32_t type, u8_array gate, u8_array up, int64_t n_rows,
                           int64_t n_cols, f32_array x) {
    if (act != "silu" && act != "gelu_tanh") throw py::value_error("act must be 'silu' or 'gelu_tanh'");
    if (n_rows <= 0) throw py::value_error("n_rows must be positive");
    const size_t bytes = weight_bytes(type, n_rows, n_cols);
    if (size_t(gate.size()) != bytes || size_t(up.size()) != bytes) throw py::value_error("gate or up has the wrong size");
    check_token(x, n_cols);
    f32_array y(n_rows);
    cuda_test::matvec_q8_glu(act == "silu" ? 0 : 1, type, gate.data(), up.data(), n_rows, n_cols, x.data(),
                             y.mutable_data());
    return y;
}

// Returns (x after the residual add, the normed output), and with quantized (one row, n a
// multiple of 32) also the output quantized to int8 (q, d) as the one-token products take it.
py::tuple residual_norm_py(f32_array x, py::object o, py::object post, f32_array w, float eps, bool quantized) {
    if (x.ndim() != 2 || x.shape(1) < 1) throw py::value_error("x must be (n_rows, n)");
    const int64_t n_rows = x.shape(0), n = x.shape(1);
    if (w.ndim() != 1 || w.shape(0) != n) throw py::value_error("w must be (n,)");
    f32_array xo({n_rows, n}), y({n_rows, n});
    std::copy(x.data(), x.data() + x.size(), xo.mutable_data());
    f32_array oa, pa;
    if (!o.is_none()) {
        oa = o.cast<f32_array>();
        if (oa.ndim() != 2 || oa.shape(0) != n_rows || oa.shape(1) != n) throw py::value_error("o must be like x");
    }
    if (!post.is_none()) {
        pa = post.cast<f32_array>();
        if (pa.ndim() != 1 || pa.shape(0) != n) throw py::value_error("post must be (n,)");
        if (o.is_none()) throw py::value_error("post needs o");
    }
    if (quantized && (n_rows != 1 || n % 32)) throw py::value_error("quantized: one row of a multiple of 32 values");
    i8_array q(quantized ? n : 0);
    f32_array d(quantized ? n / 32 : 0);
    cuda_test::residual_norm(xo.mutable_data(), o.is_none() ? nullptr : oa.data(), post.is_none() ? nullptr : pa.data(),
                             w.data(), y.mutable_data(), n_rows, n, eps, quantized ? q.mutable_data() : nullptr,
                             quantized ? d.mutable_data() : nullptr);
    if (quantized) return py::make_tuple(xo, y, q, d);
    return py::make_tuple(xo, y);
}

// act(gate) * up; with quantized (a multiple of 32 values) the tuple (that, q, d).
py::object act_mul_py(const std::string& act, f32_array gate, f32_array up, bool quantized) {
    if (act != "silu" && act != "gelu_tanh") throw py::value_error("act must be 'silu' or 'gelu_tanh'");
    if (gate.size() != up.size()) throw py::value_error("gate and up must have the same size");
    if (quantized && gate.size() % 32) throw py::value_error("quantized: a multiple of 32 values");
    f32_array y(std::vector<py::ssize_t>(gate.shape(), gate.shape() + gate.ndim()));
    std::copy(gate.data(), gate.data() + gate.size(), y.mutable_data());
    i8_array q(quantized ? gate.size() : 0);
    f32_array d(quantized ? gate.size() / 32 : 0);
    cuda_test::act_mul(act == "silu" ? 0 : 1, y.mutable_data(), up.data(), gate.size(),
                       quantized ? q.mutable_data() : nullptr, quantized ? d.mutable_data() : nullptr);
    if (quantized) return py::make_tuple(y, q, d);
    return std::move(y);
}

// x: (T, n_head, head_dim); cs: (T, n_rot).
f32_array rope_py(f32_array x, int32_t n_rot, bool neox, f32_array cs) {
    if (x.ndim() != 3) throw py::value_error("x must be (T, n_head, head_dim)");
    const int64_t T = x.shape(0), n_head = x.shape(1), hd = x.shape(2);
    if (n_rot < 0 || n_rot % 2 || n_rot > hd) throw py::value_error("n_rot must be even and <= head_dim");
    if (cs.ndim() != 2 || cs.shape(0) != T || cs.shape(1) != n_rot) throw py::value_error("cs must be (T, n_rot)");
    f32_array y({T, n_head, hd});
    std::copy(x.data(), x.data() + x.size(), y.mutable_data());
    cuda_test::rope(y.mutable_data(), T, n_head, hd, n_rot, neox, cs.data());
    return y;
}

// q: (T, n_head, hdk) float32, already scaled; k: (n_keys, n_head_kv, hdk) and v:
// (n_keys, n_head_kv, hdv) as float16 bits (numpy float16 viewed as uint16).
// With quantized (one token, hdv a multiple of 32): (out, q, d), out also quantized as the
// one-token products take it.
py::object attend_py(f32_array q, u16_array k, u16_array v, int64_t n_past, int64_t window, float softcap,
                     bool quantized) {
    if (q.ndim() != 3 || k.ndim() != 3 || v.ndim() != 3) throw py::value_error("q, k and v must be 3-d");
    const int64_t T = q.shape(0), n_head = q.shape(1), hdk = q.shape(2);
    const int64_t n_keys = k.shape(0), n_head_kv = k.shape(1), hdv = v.shape(2);
    if (k.shape(2) != hdk || v.shape(0) != n_keys || v.shape(1) != n_head_kv || n_head_kv < 1 || n_head % n_head_kv) {
        throw py::value_error("attend: inconsistent shapes");
    }
    if (n_past < 0 || n_past + T > n_keys || window < 0) throw py::value_error("attend: positions out of range");
    if (quantized && (T != 1 || hdv % 32)) throw py::value_error("quantized: one token, hdv a multiple of 32");
    f32_array out({T, n_head, hdv});
    const int64_t n_out = T * n_head * hdv;
    i8_array q8(quantized ? n_out : 0);
    f32_array d8(quantized ? n_out / 32 : 0);
    cuda_test::attention(q.data(), T, n_head, hdk, k.data(), v.data(), n_keys, n_head_kv, hdv, n_past, window, softcap,
                         out.mutable_data(), quantized ? q8.mutable_data() : nullptr,
                         quantized ? d8.mutable_data() : nullptr);
    if (quantized) return py::make_tuple(out, q8, d8);
    return std::move(out);
}

}  // namespace

void pyggml::bind_cuda(py::module_& m, py::module_& testing) {
    m.def("cuda_compiled", &cuda_compiled, "whether this build has the CUDA back end");
    m.def("cuda_reserve_bytes", [] { return kGpuReserveBytes; },
          "bytes of GPU memory a placement leaves free (the CUDA context, the allocator)");
    m.def(
        "cuda_available",
        [](int device) {
            py::gil_scoped_release release;
            return cuda_device(device).available;
        },
        py::arg("device") = 0, "whether a CUDA GPU can run layers (loads the CUDA driver on first use)");
    m.def("cuda_info", &info_py, py::arg("device") = 0,
          "the CUDA build and device: compiled, available, reason (when not), name, compute_capability, "
          "multiprocessors, total_bytes, free_bytes, driver_version, runtime_version, architectures");
    // single kernels, for the tests and the kernel table (scripts/gpu_kernel_times.py)
    testing.def("cuda_dequantize", &dequantize_py, py::arg("type"), py::arg("w"), py::arg("n_rows"),
                py::arg("n_cols"), "the GPU's dequantization of a GGUF-layout matrix, (n_rows, n_cols) float32");
    testing.def("cuda_matmul", &matmul_py, py::arg("type"), py::arg("w"), py::arg("n_rows"), py::arg("n_cols"),
                py::arg("x"), py::arg("mode") = 0,
                "x (T, n_cols) times a GGUF-layout matrix on the GPU, (T, n_rows); mode 0: as the model picks, "
                "1: the matrix-vector kernel, 2: the tiled kernel, 3: the integer matrix-vector kernel (Q4_0, "
                "Q5_0, Q8_0, Q4_K, Q5_K, Q6_K; one token, quantized to int8 first)");
    testing.def("cuda_quantize_q8", &quantize_q8_py, py::arg("x"),
                "x (a multiple of 32 values) quantized on the GPU as the one-token products take it: "
                "(int8 q, float32 d per 32 values)");
    testing.def("cuda_matvec_q8_multi", &matvec_q8_multi_py, py::arg("type"), py::arg("ws"), py::arg("n_rows"),
                py::arg("n_cols"), py::arg("x"),
                "one token x times one to three matrices of one type in one launch of the integer kernel");
    testing.def("cuda_matvec_q8_glu", &matvec_q8_glu_py, py::arg("act"), py::arg("type"), py::arg("gate"),
                py::arg("up"), py::arg("n_rows"), py::arg("n_cols"), py::arg("x"),
                "act(gate x) * (up x) for one token x with the integer kernel");
    testing.def("cuda_residual_norm", &residual_norm_py, py::arg("x"), py::arg("o"), py::arg("post"), py::arg("w"),
                py::arg("eps"), py::arg("quantized") = false,
                "(x + (post-normed) o, rms_norm(that) * w) per row on the GPU; quantized: also (q, d) of the output");
    testing.def("cuda_act_mul", &act_mul_py, py::arg("act"), py::arg("gate"), py::arg("up"),
                py::arg("quantized") = false, "act(gate) * up on the GPU; quantized: (that, q, d)");
    testing.def("cuda_rope", &rope_py, py::arg("x"), py::arg("n_rot"), py::arg("neox"), py::arg("cs"),
                "x (T, n_head, head_dim) rotated by the cos/sin rows cs (T, n_rot) on the GPU");
    testing.def("cuda_attend", &attend_py, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("n_past"),
                py::arg("window"), py::arg("softcap"), py::arg("quantized") = false,
                "causal attention on the GPU of q (T, n_head, hdk) at positions n_past.. over F16 k, v; "
                "quantized: (that, q, d) with the output as int8");
    m.def(
        "cuda_read_bandwidth",
        [](size_t bytes, int reps) {
            py::gil_scoped_release release;
            return cuda_test::read_bandwidth(bytes, reps);
        },
        py::arg("bytes") = size_t(1) << 30, py::arg("reps") = 5, "GB/s of a streaming read of device memory");
    testing.def(
        "cuda_time_matmul",
        [](int32_t type, u8_array w, int64_t n_rows, int64_t n_cols, int64_t T, int mode, int reps) {
            if (n_rows <= 0 || T <= 0) throw py::value_error("n_rows and T must be positive");
            if (size_t(w.size()) != weight_bytes(type, n_rows, n_cols)) throw py::value_error("w has the wrong size");
            if (mode < 0 || mode > 3 || (mode == 1 && T > 8) || (mode == 3 && T != 1)) {
                throw py::value_error("mode: 0, 1 (T <= 8), 2 or 3 (T = 1)");
            }
            const uint8_t* wp = w.data();
            py::gil_scoped_release release;
            return cuda_test::time_matmul(type, wp, n_rows, n_cols, T, mode, reps);
        },
        py::arg("type"), py::arg("w"), py::arg("n_rows"), py::arg("n_cols"), py::arg("T"), py::arg("mode") = 0,
        py::arg("reps") = 10, "seconds one GPU matmul of T tokens takes, data already on the device (tuning)");
}
