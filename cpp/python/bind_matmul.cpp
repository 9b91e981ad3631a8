// bind_matmul.cpp: Python bindings for the thread pool, y = W x, the dot kernels
// (per instruction set, so tests can compare SIMD with scalar) and a memory read.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/dispatch.h"
#include "kernels/grid_x8.h"
#include "kernels/matmul.h"
#include "kernels/memory_read.h"
#include "kernels/repack.h"
#include "python/bindings.h"
#include "python/checks.h"
#include "quant/weight_formats.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

const vec_dot_traits& kernels_or_throw(int32_t type, cpu_isa isa) {
    const vec_dot_traits* k = get_vec_dot_traits(type, isa);
    if (!k) {
        throw py::value_error("no " + std::string(cpu_isa_name(isa)) + " dot kernel for type " +
                              traits_or_throw(type).name + " on this machine");
    }
    return *k;
}

void check_n_cols(const type_traits& t, int64_t n_cols) {
    if (n_cols <= 0 || n_cols > (int64_t(1) << 30) || n_cols % t.blck_size) {
        throw py::value_error(std::string(t.name) + ": n_cols " + std::to_string(n_cols) +
                              " is not a positive multiple of the block size");
    }
}

// The checked view of weight: (n_rows, row_bytes) uint8 of `type` in `layout`.
weight_view weight_view_or_throw(int32_t type, const py::array_t<uint8_t, py::array::c_style>& weight, int64_t n_cols,
                                 int32_t layout) {
    const type_traits& t = traits_or_throw(type);
    check_n_cols(t, n_cols);
    const vec_dot_traits& k = kernels_or_throw(type, best_cpu_isa());
    check_n_cols(traits_or_throw(k.vec_dot_type), n_cols);
    if (weight.ndim() != 2 || size_t(weight.shape(1)) != row_size(t, n_cols)) {
        throw py::value_error("weight must be (n_rows, row_bytes) uint8 for " + std::string(t.name));
    }
    weight_view w{type, weight.data(), weight.shape(0), n_cols, size_t(weight.shape(1))};
    if (layout != weight_layout_plain) {
        const repacked_layout* l = get_repacked_layout(layout);
        if (!l || !layout_fits(*l, type, w.n_rows, n_cols)) {
            throw py::value_error("layout " + std::to_string(layout) + " does not fit a " + t.name + " matrix of " +
                                  std::to_string(w.n_rows) + " x " + std::to_string(n_cols));
        }
        if (!repacked_kernel(layout, best_cpu_isa())) {
            throw py::value_error("no kernel for layout " + std::to_string(layout) + " on this machine");
        }
        w.layout = layout;
    }
    return w;
}

// weight: (n_rows, row_bytes) uint8 of `type`; x: (n_tokens, n_cols) float32.
py::array_t<float> matmul_py(thread_pool& pool, int32_t type, py::array_t<uint8_t, py::array::c_style> weight,
                             int64_t n_cols, py::array_t<float, py::array::c_style> x, int32_t layout,
                             float act_param) {
    weight_view w = weight_view_or_throw(type, weight, n_cols, layout);
    w.act_param = act_param;
    if (x.ndim() != 2 || x.shape(1) != n_cols) throw py::value_error("x must be (n_tokens, n_cols) float32");
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

// weights: (type, weight, layout) triples with n_cols columns each, all applied to x in one
// dispatch; returns their outputs in order.
py::list matmul_shared_input_py(thread_pool& pool, const std::vector<std::tuple<int32_t, py::array_t<uint8_t, py::array::c_style>, int32_t>>& weights,
                                int64_t n_cols, py::array_t<float, py::array::c_style> x) {
    if (x.ndim() != 2 || x.shape(1) != n_cols) throw py::value_error("x must be (n_tokens, n_cols) float32");
    const int64_t n_tokens = x.shape(0);
    std::vector<weight_view> views;
    std::vector<py::array_t<float>> ys;
    for (const auto& [type, weight, layout] : weights) {
        views.push_back(weight_view_or_throw(type, weight, n_cols, layout));
        ys.emplace_back(std::vector<py::ssize_t>{n_tokens, py::ssize_t(views.back().n_rows)});
    }
    std::vector<matmul_output> outs;
    for (size_t i = 0; i < views.size(); ++i) outs.push_back({&views[i], ys[i].mutable_data()});
    const float* xp = x.data();
    {
        py::gil_scoped_release release;
        matmul_shared_input(outs.data(), int(outs.size()), xp, n_tokens, pool);
    }
    py::list out;
    for (auto& y : ys) out.append(y);
    return out;
}

// jobs: [(type, weight, layout, x)], each x (n_tokens_i, n_cols) float32, possibly 0 tokens:
// [x_i @ W_i.T] from one matmul_jobs dispatch.
py::list matmul_jobs_py(thread_pool& pool,
                        const std::vector<std::tuple<int32_t, py::array_t<uint8_t, py::array::c_style>, int32_t,
                                                     py::array_t<float, py::array::c_style>>>& jobs,
                        int64_t n_cols) {
    std::vector<weight_view> views;
    std::vector<py::array_t<float>> ys;
    views.reserve(jobs.size());
    for (const auto& [type, weight, layout, x] : jobs) {
        if (x.ndim() != 2 || x.shape(1) != n_cols) throw py::value_error("each x must be (n_tokens, n_cols) float32");
        views.push_back(weight_view_or_throw(type, weight, n_cols, layout));
        ys.emplace_back(std::vector<py::ssize_t>{x.shape(0), py::ssize_t(views.back().n_rows)});
    }
    std::vector<matmul_job> js;
    for (size_t i = 0; i < views.size(); ++i) {
        js.push_back({&views[i], std::get<3>(jobs[i]).data(), ys[i].mutable_data(), std::get<3>(jobs[i]).shape(0)});
    }
    {
        py::gil_scoped_release release;
        matmul_jobs(js.data(), int(js.size()), pool);
    }
    py::list out;
    for (auto& y : ys) out.append(y);
    return out;
}

// x: (n_tokens, n_cols) float32 -> (n_tokens, dot-type row bytes) uint8, as matmul converts them.
py::array_t<uint8_t> quantize_activations(int32_t type, py::array_t<float, py::array::c_style> x,
                                          const std::string& isa, float act_param) {
    const vec_dot_traits& k = kernels_or_throw(type, isa_or_throw(isa));
    const type_traits& dt = traits_or_throw(k.vec_dot_type);
    if (x.ndim() != 2) throw py::value_error("x must be (n_tokens, n_cols) float32");
    const int64_t n_tokens = x.shape(0), n_cols = x.shape(1);
    check_n_cols(dt, n_cols);
    const size_t row = row_size(dt, n_cols);
    py::array_t<uint8_t> out({n_tokens, int64_t(row)});
    const std::vector<int32_t> cols =
        k.from_float_split ? outlier_columns(x.data(), n_tokens, n_cols, act_param) : std::vector<int32_t>{};
    for (int64_t t = 0; t < n_tokens; ++t) {
        if (k.from_float_split) {
            k.from_float_split(x.data() + t * n_cols, out.mutable_data() + t * row, n_cols, cols.data(),
                               int32_t(cols.size()));
        } else {
            k.from_float(x.data() + t * n_cols, out.mutable_data() + t * row, n_cols);
        }
    }
    return out;
}

// One kernel of one instruction set over every (row, token): weight (n_rows, row_bytes),
// act (n_tokens, dot-type row bytes). Tokens go to the kernel VEC_DOT_MAX_NT at a time.
py::array_t<float> vec_dot_py(int32_t type, const std::string& isa_name,
                              py::array_t<uint8_t, py::array::c_style> weight,
                              py::array_t<uint8_t, py::array::c_style> act, int64_t n_cols,
                              int64_t rows_per_call) {
    if (rows_per_call < 1) throw py::value_error("rows_per_call must be >= 1");
    const type_traits& t = traits_or_throw(type);
    const vec_dot_traits& k = kernels_or_throw(type, isa_or_throw(isa_name));
    const type_traits& dt = traits_or_throw(k.vec_dot_type);
    check_n_cols(t, n_cols);
    check_n_cols(dt, n_cols);
    if (weight.ndim() != 2 || size_t(weight.shape(1)) != row_size(t, n_cols)) {
        throw py::value_error("weight must be (n_rows, row_bytes) uint8 for " + std::string(t.name));
    }
    const size_t act_row = row_size(dt, n_cols);
    if (act.ndim() != 2 || size_t(act.shape(1)) != act_row) {
        throw py::value_error("act must be (n_tokens, row_bytes) uint8 of " + std::string(dt.name));
    }
    const int64_t n_rows = weight.shape(0), n_tokens = act.shape(0);
    const size_t row_bytes = size_t(weight.shape(1));
    py::array_t<float> y({n_tokens, n_rows});
    float* yp = y.mutable_data();
    const uint8_t* wp = weight.data();
    const uint8_t* ap = act.data();
    {
        py::gil_scoped_release release;
        // rows in groups of rows_per_call, tokens VEC_DOT_MAX_NT at a time
        for (int64_t r = 0; r < n_rows; r += rows_per_call) {
            const int nr = int(std::min<int64_t>(rows_per_call, n_rows - r));
            for (int64_t tok = 0; tok < n_tokens; tok += VEC_DOT_MAX_NT) {
                const int nt = int(std::min<int64_t>(VEC_DOT_MAX_NT, n_tokens - tok));
                k.vec_dot(int(n_cols), yp + tok * n_rows + r, size_t(n_rows), wp + r * row_bytes, row_bytes, nr,
                          ap + tok * act_row, act_row, nt);
            }
        }
    }
    return y;
}

// The tier's decoder of `type` (vec_dot_traits::decode) or a ValueError.
const vec_dot_traits& decoder_or_throw(int32_t type, const std::string& isa_name) {
    const vec_dot_traits& k = kernels_or_throw(type, isa_or_throw(isa_name));
    if (!k.decode) {
        throw py::value_error("no " + isa_name + " decoder for " + std::string(traits_or_throw(type).name));
    }
    return k;
}

// weight: (n_rows, row_bytes) of a codebook type -> (n_rows, decoded bytes) block_grid_decoded.
py::array_t<uint8_t> decode_rows_py(int32_t type, const std::string& isa_name,
                                    py::array_t<uint8_t, py::array::c_style> weight, int64_t n_cols) {
    const vec_dot_traits& k = decoder_or_throw(type, isa_name);
    const type_traits& t = traits_or_throw(type);
    check_n_cols(t, n_cols);
    if (weight.ndim() != 2 || size_t(weight.shape(1)) != row_size(t, n_cols)) {
        throw py::value_error("weight must be (n_rows, row_bytes) uint8 for " + std::string(t.name));
    }
    const int64_t n_rows = weight.shape(0);
    const size_t out_row = k.decoded_row_size(int(n_cols));
    py::array_t<uint8_t> out({n_rows, py::ssize_t(out_row)});
    for (int64_t r = 0; r < n_rows; ++r) {
        k.decode(weight.data() + r * weight.shape(1), out.mutable_data() + r * out_row, int(n_cols));
    }
    return out;
}

// weight: (8 g, row_bytes) of a codebook type -> (g, group bytes): the tier's decode_x8 groups.
py::array_t<uint8_t> decode_rows_x8_py(int32_t type, const std::string& isa_name,
                                       py::array_t<uint8_t, py::array::c_style> weight, int64_t n_cols) {
    const vec_dot_traits& k = decoder_or_throw(type, isa_name);
    if (!k.decode_x8) throw py::value_error("no " + isa_name + " decoder of 8 rows");
    const type_traits& t = traits_or_throw(type);
    check_n_cols(t, n_cols);
    if (weight.ndim() != 2 || size_t(weight.shape(1)) != row_size(t, n_cols) || weight.shape(0) % GRID_X8_ROWS) {
        throw py::value_error("weight must be (8 g, row_bytes) uint8 for " + std::string(t.name));
    }
    const int64_t n_groups = weight.shape(0) / GRID_X8_ROWS;
    const size_t group_bytes = decoded_x8_group_size(k, int(n_cols));
    py::array_t<uint8_t> out({n_groups, py::ssize_t(group_bytes)});
    for (int64_t g = 0; g < n_groups; ++g) {
        k.decode_x8(weight.data() + g * GRID_X8_ROWS * weight.shape(1), size_t(weight.shape(1)),
                    out.mutable_data() + g * group_bytes, int(n_cols));
    }
    return out;
}

// The products over decoded rows as matmul forms them: one row at a time (decoded_dot), or
// (x8) whole groups of 8 rows through decoded_x8_dot and the rest one at a time; tokens
// per call: the kernel's most, or tokens_per_call.
py::array_t<float> vec_dot_decoded_py(int32_t type, const std::string& isa_name,
                                      py::array_t<uint8_t, py::array::c_style> weight,
                                      py::array_t<uint8_t, py::array::c_style> act, int64_t n_cols, bool x8,
                                      int tokens_per_call) {
    const vec_dot_traits& k = decoder_or_throw(type, isa_name);
    if (x8 && (!k.decoded_x8_dot || !k.decode_x8)) throw py::value_error("no " + isa_name + " kernel over groups of 8 decoded rows");
    const int max_nt = x8 ? k.decoded_x8_max_nt : VEC_DOT_MAX_NT;
    if (tokens_per_call < 0 || tokens_per_call > max_nt) {
        throw py::value_error("tokens_per_call must be in [0, " + std::to_string(max_nt) + "]");
    }
    const int step = tokens_per_call ? tokens_per_call : max_nt;
    const type_traits& t = traits_or_throw(type);
    const type_traits& dt = traits_or_throw(k.vec_dot_type);
    check_n_cols(t, n_cols);
    check_n_cols(dt, n_cols);
    const size_t row_bytes = row_size(t, n_cols), act_row = row_size(dt, n_cols);
    if (weight.ndim() != 2 || size_t(weight.shape(1)) != row_bytes) {
        throw py::value_error("weight must be (n_rows, row_bytes) uint8 for " + std::string(t.name));
    }
    if (act.ndim() != 2 || size_t(act.shape(1)) != act_row) {
        throw py::value_error("act must be (n_tokens, row_bytes) uint8 of " + std::string(dt.name));
    }
    const int n = int(n_cols);
    const int64_t n_rows = weight.shape(0), n_tokens = act.shape(0);
    py::array_t<float> y({n_tokens, n_rows});
    float* yp = y.mutable_data();
    const uint8_t* wp = weight.data();
    const uint8_t* ap = act.data();
    {
        py::gil_scoped_release release;
        // x8: every whole group decoded, then one call per token chunk over all of them (the
        // kernels take several groups a call; the AVX-512 ones two at a time)
        const size_t group_bytes = decoded_x8_group_size(k, n);
        const int64_t n_groups = x8 ? n_rows / GRID_X8_ROWS : 0;
        std::vector<char> buf(std::max(size_t(n_groups) * group_bytes, k.decoded_row_size(n)));
        for (int64_t g = 0; g < n_groups; ++g) {
            k.decode_x8(wp + g * GRID_X8_ROWS * row_bytes, row_bytes, buf.data() + g * group_bytes, n);
        }
        for (int64_t tok = 0; n_groups && tok < n_tokens; tok += step) {
            const int nt = int(std::min<int64_t>(step, n_tokens - tok));
            k.decoded_x8_dot(n, yp + tok * n_rows, size_t(n_rows), buf.data(), group_bytes, int(n_groups * GRID_X8_ROWS),
                             ap + tok * act_row, act_row, nt);
        }
        int64_t r = n_groups * GRID_X8_ROWS;
        for (; r < n_rows; ++r) {
            k.decode(wp + r * row_bytes, buf.data(), n);
            for (int64_t tok = 0; tok < n_tokens; tok += VEC_DOT_MAX_NT) {
                const int nt = int(std::min<int64_t>(VEC_DOT_MAX_NT, n_tokens - tok));
                k.decoded_dot(n, yp + tok * n_rows + r, size_t(n_rows), buf.data(), 0, 1, ap + tok * act_row, act_row, nt);
            }
        }
    }
    return y;
}

const repacked_layout& layout_of_type_or_throw(int32_t type) {
    const repacked_layout* l = get_repacked_layout(repack_layout_of_type(type));
    if (!l) throw py::value_error("no repacked layout for " + std::string(traits_or_throw(type).name));
    return *l;
}

// weight: (n_rows, row_bytes) uint8 of `type` -> the same shape, rows regrouped by 8 (kernels/repack.h).
py::array_t<uint8_t> repack_py(py::array_t<uint8_t, py::array::c_style> weight, int32_t type, int64_t n_cols) {
    const repacked_layout& l = layout_of_type_or_throw(type);
    const type_traits& t = traits_or_throw(type);
    check_n_cols(t, n_cols);
    if (weight.ndim() != 2 || size_t(weight.shape(1)) != row_size(t, n_cols)) {
        throw py::value_error("weight must be (n_rows, row_bytes) uint8 of " + std::string(t.name));
    }
    const int64_t n_rows = weight.shape(0);
    if (!layout_fits(l, type, n_rows, n_cols)) {
        throw py::value_error(std::string(t.name) + ": " + std::to_string(n_rows) + " x " + std::to_string(n_cols) +
                              " rows cannot be repacked (8 rows or more; a multiple of 8 for this type)");
    }
    py::array_t<uint8_t> out({n_rows, int64_t(weight.shape(1))});
    repack_rows(l.layout, weight.data(), n_rows, n_cols, out.mutable_data(), 0, n_rows);
    return out;
}

// x: (n_tokens, n_cols) float32 -> the activations the repacked kernels of `type` read.
py::array_t<uint8_t> repacked_activations_py(int32_t type, py::array_t<float, py::array::c_style> x) {
    const repacked_layout& l = layout_of_type_or_throw(type);
    if (x.ndim() != 2 || x.shape(1) <= 0 || x.shape(1) % l.act_block) {
        throw py::value_error("x must be (n_tokens, n_cols) float32 with n_cols a multiple of " +
                              std::to_string(l.act_block));
    }
    const int64_t n_tokens = x.shape(0), n_cols = x.shape(1);
    const size_t row = repacked_act_row(l, n_cols);
    py::array_t<uint8_t> out({n_tokens, int64_t(row)});
    for (int64_t t = 0; t < n_tokens; ++t) l.from_float(x.data() + t * n_cols, out.mutable_data() + t * row, n_cols);
    return out;
}

// The repacked kernel of one instruction set on every row group and token: packed
// (n_rows, row_bytes) with n_rows a multiple of 8, act (n_tokens, activation row bytes)
// from repacked_activations, tokens_per_call at a time (0: as many as the tier's kernels take,
// repacked_max_nt); returns (n_tokens, n_rows) float32.
py::array_t<float> vec_dot_repacked_py(const std::string& isa_name, int32_t type,
                                       py::array_t<uint8_t, py::array::c_style> packed,
                                       py::array_t<uint8_t, py::array::c_style> act, int64_t n_cols,
                                       int tokens_per_call) {
    const repacked_layout& l = layout_of_type_or_throw(type);
    const type_traits& t = traits_or_throw(type);
    const cpu_isa isa = isa_or_throw(isa_name);
    const vec_dot_fn dot = repacked_kernel(l.layout, isa);
    if (!dot) throw py::value_error("no " + isa_name + " kernel for repacked " + t.name + " on this machine");
    const int max_nt = get_isa_kernels(isa)->repacked_max_nt;
    if (tokens_per_call < 0 || tokens_per_call > max_nt) {
        throw py::value_error("tokens_per_call must be in [0, " + std::to_string(max_nt) + "] for " + isa_name);
    }
    const int step = tokens_per_call ? tokens_per_call : max_nt;
    check_n_cols(t, n_cols);
    if (n_cols % l.act_block) throw py::value_error("n_cols must be a multiple of " + std::to_string(l.act_block));
    const size_t row_bytes = row_size(t, n_cols);
    const size_t act_row = repacked_act_row(l, n_cols);
    if (packed.ndim() != 2 || size_t(packed.shape(1)) != row_bytes || packed.shape(0) % REPACK_ROWS) {
        throw py::value_error("packed must be (8k, row_bytes) uint8 of repacked " + std::string(t.name));
    }
    if (act.ndim() != 2 || size_t(act.shape(1)) != act_row) {
        throw py::value_error("act must be (n_tokens, " + std::to_string(act_row) + ") from repacked_activations");
    }
    const int64_t n_rows = packed.shape(0), n_tokens = act.shape(0);
    py::array_t<float> y({n_tokens, n_rows});
    float* yp = y.mutable_data();
    {
        py::gil_scoped_release release;
        for (int64_t tok = 0; tok < n_tokens; tok += step) {
            const int nt = int(std::min<int64_t>(step, n_tokens - tok));
            dot(int(n_cols), yp + tok * n_rows, size_t(n_rows), packed.data(), REPACK_ROWS * row_bytes, int(n_rows),
                act.data() + tok * act_row, act_row, nt);
        }
    }
    return y;
}

py::dict features_dict(const cpu_features& f) {
    py::dict d;
    d["avx2"] = f.avx2;
    d["fma"] = f.fma;
    d["f16c"] = f.f16c;
    d["bmi2"] = f.bmi2;
    d["neon"] = f.neon;
    d["dotprod"] = f.dotprod;
    d["fp16"] = f.fp16;
    d["i8mm"] = f.i8mm;
    d["avx_vnni"] = f.avx_vnni;
    d["avx512"] = f.avx512;
    d["avx512_vnni"] = f.avx512_vnni;
    d["avx512_bf16"] = f.avx512_bf16;
    return d;
}

py::dict cpu_features_py() { return features_dict(get_cpu_features()); }

// A name's value in a test's stand-in for macOS's sysctl (0 where it is missing, as the probes read it).
int sysctl_value(const std::map<std::string, int>& sysctl, const char* name) {
    const auto it = sysctl.find(name);
    return it != sysctl.end() ? it->second : 0;
}

py::dict cpu_tier_py() {
    const cpu_tier_choice& c = get_cpu_tier_choice();
    py::dict d;
    d["tier"] = cpu_isa_name(c.best);
    d["highest"] = cpu_isa_name(c.highest);
    py::list available;
    for (cpu_isa isa : kCpuIsas) {
        if (get_isa_kernels(isa)) available.append(cpu_isa_name(isa));
    }
    d["available"] = available;
    d["requested"] = c.requested.empty() ? py::object(py::none()) : py::object(py::str(c.requested));
    d["request_known"] = c.request_known;
    d["variable"] = kCpuTierVariable;
    return d;
}

uint64_t memory_read_py(thread_pool& pool, py::array_t<uint8_t, py::array::c_style> data, int streams) {
    const void* p = data.data();
    const size_t n = size_t(data.nbytes());
    py::gil_scoped_release release;
    return memory_read(p, n, pool, streams);
}

}  // namespace

void pyggml::bind_matmul(py::module_& m, py::module_& testing) {
    py::class_<thread_pool>(m, "ThreadPool")
        .def(py::init<int>(), py::arg("n_threads") = 0)
        .def_property_readonly("n_threads", &thread_pool::size)
        .def_static("default_threads", &thread_pool::default_threads);
    testing.def("matmul", &matmul_py, py::arg("pool"), py::arg("type"), py::arg("weight"), py::arg("n_cols"),
          py::arg("x"), py::arg("layout") = 0, py::arg("act_param") = 0.0f,
          "y = x @ W.T for a block-quantized W (n_rows, n_cols); returns (n_tokens, n_rows). layout: W was "
          "rearranged by repack (repacked_layout(type)); act_param: the weight's activation parameter "
          "(llm.int8's outlier threshold)");
    testing.def("matmul_shared_input", &matmul_shared_input_py, py::arg("pool"), py::arg("weights"), py::arg("n_cols"),
          py::arg("x"),
          "[x @ W.T for (type, W, layout) in weights], all in one dispatch (x converted once per activation format)");
    testing.def("matmul_jobs", &matmul_jobs_py, py::arg("pool"), py::arg("jobs"), py::arg("n_cols"),
          "[x @ W.T for (type, W, layout, x) in jobs], each with its own input, all in one dispatch");
    testing.def("repack", &repack_py, py::arg("weight"), py::arg("type"), py::arg("n_cols"),
          "rows (n_rows, row_bytes) of a type with a repacked layout (Q4_K, Q6_K, Q4_0, Q5_0, Q8_0), regrouped 8 at a time "
          "for the repacked kernels (same shape)");
    testing.def("repacked_layout", [](int32_t type) { return preferred_layout_for_type(type); }, py::arg("type"),
          "the layout id models give matrices of `type` on this CPU (0: the file layout)");
    testing.def("repack_preferred", [] { return preferred_layout_for_type(GGML_TYPE_Q4_K) != weight_layout_plain; },
          "whether this CPU has kernels for repacked weights (models repack Q4_K, Q6_K, Q4_0, Q5_0 and Q8_0 weights then)");
    testing.def("weight_buffer_huge_pages", &weight_buffer_huge_pages,
          "whether models hold their matrices in a buffer advised to take huge pages (Linux with transparent huge "
          "pages not 'never'); plain matrices are then copied into it too");
    testing.def("repacked_activations", &repacked_activations_py, py::arg("type"), py::arg("x"),
          "float32 (n_tokens, n_cols) -> the activations the repacked kernels of `type` read");
    testing.def("vec_dot_repacked", &vec_dot_repacked_py, py::arg("isa"), py::arg("type"), py::arg("packed"),
          py::arg("act"), py::arg("n_cols"), py::arg("tokens_per_call") = 0,
          "repacked kernel of one instruction set for weights of `type`, tokens_per_call tokens a call (0: the "
          "most the tier's kernels take): returns (n_tokens, n_rows) float32");
    testing.def("decode_rows", &decode_rows_py, py::arg("type"), py::arg("isa"), py::arg("weight"), py::arg("n_cols"),
          "a codebook type's rows decoded by one instruction set's decoder (block_grid_decoded bytes per row)");
    testing.def("decode_rows_x8", &decode_rows_x8_py, py::arg("type"), py::arg("isa"), py::arg("weight"),
          py::arg("n_cols"), "groups of 8 codebook rows decoded by one instruction set (block_grid_x8 bytes per group)");
    testing.def("vec_dot_decoded", &vec_dot_decoded_py, py::arg("type"), py::arg("isa"), py::arg("weight"),
          py::arg("act"), py::arg("n_cols"), py::arg("x8") = false, py::arg("tokens_per_call") = 0,
          "one instruction set's kernels over decoded codebook rows, one row at a time or (x8) in groups of 8 "
          "as matmul forms them: returns (n_tokens, n_rows) float32");
    testing.def("decoded_x8_max_tokens", [](int32_t type, const std::string& isa) {
              const vec_dot_traits* k = get_vec_dot_traits(type, isa_or_throw(isa));
              return k && k->decoded_x8_dot ? k->decoded_x8_max_nt : 0;
          }, py::arg("type"), py::arg("isa"),
          "the most tokens one call of the tier's kernel over 8 decoded rows takes (0: none for the type)");
    testing.def("repacked_max_tokens", [](const std::string& isa) { return get_isa_kernels(isa_or_throw(isa))
                                                                           ? get_isa_kernels(isa_or_throw(isa))->repacked_max_nt
                                                                           : 0; },
          py::arg("isa"), "the most tokens one call of the tier's repacked kernels takes (0: tier not available)");
    m.def("cpu_isa", [] { return std::string(cpu_isa_name(best_cpu_isa())); },
          "the instruction-set tier the kernels dispatch to: 'avx512', 'avxvnni', 'avx2', 'i8mm', 'dotprod', 'neon' or 'scalar'");
    m.def("cpu_tier", &cpu_tier_py,
          "how the kernel tier was chosen: tier (in use), highest (the best this CPU runs), available (every tier "
          "this CPU runs), requested (PYGGML_CPU_TIER or None), request_known, variable");
    testing.def("cpu_features", &cpu_features_py, "the CPU features probed at start-up");
    testing.def("darwin_default_threads", [](const std::map<std::string, int>& sysctl) {
              return darwin_default_threads([&](const char* name) { return sysctl_value(sysctl, name); });
          }, py::arg("sysctl"), "the thread count macOS's default takes from these sysctl values (0: none known)");
    testing.def("os_saves_zmm", &os_saves_zmm, py::arg("xcr0"), py::arg("lazy_avx512"),
          "whether the AVX-512 tier may run with this XCR0 (lazy_avx512: macOS's on-first-use state)");
    testing.def("count_physical_cores", &count_physical_cores, py::arg("cpuinfo"), py::arg("only") = "",
          "the default thread count Linux's /proc/cpuinfo text gives (only: the CPU list of the cores to count)");
    testing.def("darwin_arm64_features", [](const std::map<std::string, int>& sysctl) {
              return features_dict(darwin_arm64_features([&](const char* name) { return sysctl_value(sysctl, name); }));
          }, py::arg("sysctl"), "the features macOS's probe reads from these sysctl values (name -> int; a missing "
          "name reads as absent)");
    testing.def("vec_dot_type", [](int32_t type) { return kernels_or_throw(type, cpu_isa::scalar).vec_dot_type; },
          py::arg("type"), "ggml type id the activations are converted to for weights of `type`");
    testing.def("has_vec_dot_isa", [](int32_t type, const std::string& isa) {
              return get_vec_dot_traits(type, isa_or_throw(isa)) != nullptr;
          }, py::arg("type"), py::arg("isa"));
    testing.def("quantize_activations", &quantize_activations, py::arg("type"), py::arg("x"), py::arg("isa") = "scalar",
          py::arg("act_param") = 0.0f,
          "float32 (n_tokens, n_cols) -> the dot type's bytes for weights of `type`, converted by `isa` "
          "(act_param: llm.int8's outlier threshold, its outlier columns chosen over all of x's tokens)");
    testing.def("vec_dot", &vec_dot_py, py::arg("type"), py::arg("isa"), py::arg("weight"), py::arg("act"),
          py::arg("n_cols"), py::arg("rows_per_call") = 1,
          "dot kernel of one instruction set, called on rows_per_call weight rows and up to 4 tokens at a "
          "time: returns (n_tokens, n_rows) float32");
    m.def("memory_read", &memory_read_py, py::arg("pool"), py::arg("data"), py::arg("streams") = 1,
          "stream-read a uint8 buffer on the pool, each thread's part as `streams` sequential streams side by "
          "side; returns a checksum");
}
