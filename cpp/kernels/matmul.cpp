// matmul.cpp: y = W x on the thread pool with the dispatched dot kernels (vec_dot.h).
//
// 1. The activations are converted once to the weight type's dot type, rows split
//    over the threads, then a barrier. Several weights applied to the same input
//    (matmul_shared_input) share the conversion and one hand-out of tiles.
// 2. The output is cut into tiles of (row chunk) x (token chunk), handed out through
//    an atomic counter (matmul_jobs: the tiles of several products with inputs of their
//    own, e.g. the chosen experts of a mixture, in one hand-out). A token chunk's
//    activations are sized to stay in L2; inside a tile each weight row is decoded once per
//    VEC_DOT_MAX_NT tokens (a repacked layout's kernels: the tier's repacked_max_nt) and
//    stays in L1 while the chunk's tokens pass over it. Types whose decoding costs most
//    (the codebook types) decode each row once per tile into a plain form instead, eight
//    rows at a time where the tier has a kernel over such groups (kernels/grid_x8.h).
#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/dispatch.h"
#include "kernels/grid_x8.h"
#include "kernels/repack.h"
#include "quant/weight_formats.h"

namespace pyggml {

namespace {

constexpr size_t kActivationChunkBytes = 192 * 1024;  // per token chunk, well inside L2
constexpr size_t kMinTileWeightBytes = 32 * 1024;     // below this, scheduling dominates
// One token streams each weight byte once, a tile's rows as a few sequential streams
// (dot_groups): each tile start waits for memory afresh. So one token's tiles hold at
// least this many bytes where that still leaves every thread a tile: small matrices (q/k/v
// and o of Qwen2.5-1.5B, 0.2-1.3 MB) then take one tile per thread instead of several, each
// restarting its streams.
constexpr size_t kOneTokenTileBytes = 512 * 1024;

struct tiling {
    int64_t tokens_per_chunk, n_token_chunks;
    int64_t rows_per_chunk, n_row_chunks;
    // Row chunks from head_chunks on have tail_rows rows each (split_tail).
    int64_t head_chunks = INT64_MAX, tail_rows = 0;
    int64_t row0(int64_t c) const {
        return c < head_chunks ? c * rows_per_chunk : head_chunks * rows_per_chunk + (c - head_chunks) * tail_rows;
    }
    int64_t rows(int64_t c) const { return c < head_chunks ? rows_per_chunk : tail_rows; }
};

tiling plan_tiles(const weight_view& w, int64_t n_tokens, size_t act_row, int nth, int64_t row_align, int max_nt) {
    tiling p;
    int64_t tc = int64_t(kActivationChunkBytes / std::max<size_t>(act_row, 1));
    tc = std::max<int64_t>(max_nt, tc - tc % max_nt);
    p.tokens_per_chunk = std::min(n_tokens, tc);
    p.n_token_chunks = (n_tokens + p.tokens_per_chunk - 1) / p.tokens_per_chunk;
    // Enough row chunks for the threads to balance (8 per thread per token chunk),
    // each large enough to amortise the hand-out (one token: kOneTokenTileBytes).
    const int64_t min_rows = int64_t(kMinTileWeightBytes / std::max<size_t>(w.row_bytes, 1)) + 1;
    int64_t per_thread = 8;
    if (n_tokens == 1) {
        const double bytes = double(w.n_rows) * double(w.row_bytes);
        per_thread = std::clamp<int64_t>(int64_t(bytes / (double(nth) * kOneTokenTileBytes)), 1, 8);
    }
    int64_t rc = std::max<int64_t>(1, w.n_rows / (int64_t(nth) * per_thread));
    if (p.n_token_chunks == 1 || n_tokens <= max_nt) rc = std::max(rc, min_rows);
    rc = (rc + row_align - 1) / row_align * row_align;  // repacked groups stay whole
    p.rows_per_chunk = std::min(w.n_rows, rc);
    p.n_row_chunks = (w.n_rows + p.rows_per_chunk - 1) / p.rows_per_chunk;
    return p;
}

// The last tiles a dispatch hands out decide when it ends: whoever takes the last
// full-size tile leaves the other threads waiting for up to a tile's time. So the rows of
// the last nth row chunks of the dispatch's last weight are handed out in quarter-size
// tiles (eighths gain nothing more). One token chunk only.
void split_tail(tiling& p, int64_t n_rows, int nth, int64_t row_align) {
    if (p.n_token_chunks != 1 || nth < 2 || p.n_row_chunks <= nth) return;
    int64_t tail = (p.rows_per_chunk / 4 + row_align - 1) / row_align * row_align;
    tail = std::max(tail, 4 * row_align);  // the repacked kernels read 4 groups at once
    if (tail >= p.rows_per_chunk) return;
    const int64_t head = p.n_row_chunks - nth;
    p.head_chunks = head;
    p.tail_rows = tail;
    p.n_row_chunks = head + (n_rows - head * p.rows_per_chunk + tail - 1) / tail;
}

// One weight's share of a matmul: its kernels, its activation format and its tiles.
struct job_plan {
    const weight_view* w;
    const float* x;      // (n_tokens, n_cols)
    float* y;
    int64_t n_tokens;
    const vec_dot_traits* k;
    vec_dot_fn packed = nullptr;  // rows [0, n_grouped) in groups of REPACK_ROWS, the rest plain
    int packed_max_nt = VEC_DOT_MAX_NT;  // tokens per call of `packed`
    int packed_groups = 1;  // groups per call of `packed` (isa_kernels::repacked_layout_groups, repacked_groups)
    int64_t n_grouped = 0;
    bool grid_x8 = false;  // plain rows decoded 8 at a time for k->decoded_x8_dot (many tokens)
    int x8_groups = 1;     // groups of 8 decoded rows per call of k->decoded_x8_dot
    from_float_fn from_float = nullptr;  // null (and from_float_split null): float32 activations used as they are
    from_float_split_fn from_float_split = nullptr;  // set: the conversion, splitting off the outlier columns
    size_t act_row = 0;
    int format = -1;  // index into the converted activations
    tiling p;
    int64_t first_tile = 0;
};

// Tiles keep a repacked layout's groups and grid_x8's groups of rows whole.
int64_t row_align_of(const job_plan& j) {
    return j.packed ? REPACK_ROWS * j.packed_groups : j.grid_x8 ? GRID_X8_ROWS * j.x8_groups : 1;
}

job_plan plan_job(const weight_view& w, const float* x, float* y, int64_t n_tokens, int nth) {
    const type_traits* wt = get_type_traits(w.type);
    const vec_dot_traits* k = get_vec_dot_traits(w.type);
    if (!wt || !k) throw std::invalid_argument("matmul: no kernel for weight type " + std::to_string(w.type));
    const type_traits* dt = get_type_traits(k->vec_dot_type);
    if (w.n_cols <= 0 || w.n_cols > INT_MAX || w.n_cols % wt->blck_size || w.n_cols % dt->blck_size) {
        throw std::invalid_argument("matmul: n_cols is not a positive multiple of the block size");
    }
    job_plan j;
    j.w = &w;
    j.x = x;
    j.y = y;
    j.n_tokens = n_tokens;
    j.k = k;
    // Activations as the kernels read them: the dot type's, or a repacked layout's.
    j.from_float = k->vec_dot_type != GGML_TYPE_F32 ? k->from_float : nullptr;
    if (k->from_float_split) {
        j.from_float = nullptr;
        j.from_float_split = k->from_float_split;
    }
    j.act_row = row_size(*dt, w.n_cols);
    if (w.layout != weight_layout_plain) {
        const repacked_layout* l = get_repacked_layout(w.layout);
        j.packed = repacked_kernel(w.layout, best_cpu_isa());
        j.packed_max_nt = best_isa_kernels().repacked_max_nt;
        const int layout_groups = best_isa_kernels().repacked_layout_groups[w.layout];
        j.packed_groups = layout_groups ? layout_groups : best_isa_kernels().repacked_groups;
        if (!l || !j.packed) throw std::invalid_argument("matmul: no kernel for this weight layout on this CPU");
        if (!layout_fits(*l, w.type, w.n_rows, w.n_cols)) {
            throw std::invalid_argument("matmul: the weight's type or shape does not fit its layout");
        }
        j.n_grouped = w.n_rows - w.n_rows % REPACK_ROWS;
        j.from_float = l->from_float;
        j.act_row = repacked_act_row(*l, w.n_cols);
    }
    j.grid_x8 = !j.packed && k->decode && k->decode_x8 && k->decoded_x8_dot && n_tokens > VEC_DOT_MAX_NT &&
                w.n_rows >= GRID_X8_ROWS;
    if (j.grid_x8) j.x8_groups = best_isa_kernels().repacked_groups;
    const int max_nt = j.packed ? j.packed_max_nt : j.grid_x8 ? k->decoded_x8_max_nt : VEC_DOT_MAX_NT;
    j.p = plan_tiles(w, n_tokens, j.act_row, nth, row_align_of(j), max_nt);
    return j;
}

}  // namespace

void matmul(const weight_view& w, const float* x, float* y, int64_t n_tokens, thread_pool& pool) {
    const matmul_output out{&w, y};
    matmul_shared_input(&out, 1, x, n_tokens, pool);
}

void matmul_shared_input(const matmul_output* outs, int n_outs, const float* x, int64_t n_tokens,
                         thread_pool& pool) {
    std::vector<matmul_job> jobs;
    jobs.reserve(size_t(n_outs));
    for (int i = 0; i < n_outs; ++i) jobs.push_back({outs[i].w, x, outs[i].y, n_tokens});
    matmul_jobs(jobs.data(), n_outs, pool);
}

void matmul_jobs(const matmul_job* in, int n_jobs, thread_pool& pool) {
    std::vector<job_plan> jobs;
    jobs.reserve(size_t(n_jobs));
    for (int i = 0; i < n_jobs; ++i) {
        if (in[i].n_tokens > 0) jobs.push_back(plan_job(*in[i].w, in[i].x, in[i].y, in[i].n_tokens, pool.size()));
    }
    if (jobs.empty()) return;
    // One converted copy of each input per distinct activation format (converter and row size).
    struct format {
        from_float_fn from_float;
        from_float_split_fn from_float_split;
        float param;
        std::vector<int32_t> cols;  // from_float_split: the columns where any token's |x| >= param
        size_t act_row;
        int64_t n;
        const float* x;
        int64_t n_tokens;
        std::vector<char> data;  // (n_tokens, act_row)
    };
    std::vector<format> formats;
    int64_t n_tiles = 0;
    for (job_plan& j : jobs) {
        if (j.from_float || j.from_float_split) {
            const float param = j.from_float_split ? j.w->act_param : 0.0f;
            for (size_t f = 0; f < formats.size() && j.format < 0; ++f) {
                const format& o = formats[f];
                if (o.from_float == j.from_float && o.from_float_split == j.from_float_split && o.param == param &&
                    o.act_row == j.act_row && o.n == j.w->n_cols && o.x == j.x && o.n_tokens == j.n_tokens) {
                    j.format = int(f);
                }
            }
            if (j.format < 0) {
                j.format = int(formats.size());
                formats.push_back({j.from_float, j.from_float_split, param,
                                   j.from_float_split ? outlier_columns(j.x, j.n_tokens, j.w->n_cols, param)
                                                      : std::vector<int32_t>{},
                                   j.act_row, j.w->n_cols, j.x, j.n_tokens,
                                   std::vector<char>(size_t(j.n_tokens) * j.act_row)});
            }
        }
        if (&j == &jobs.back()) split_tail(j.p, j.w->n_rows, pool.size(), row_align_of(j));
        j.first_tile = n_tiles;
        if (j.w->n_rows > 0) n_tiles += j.p.n_token_chunks * j.p.n_row_chunks;
    }
    std::atomic<int64_t> next_tile{0};

    // Rows [r0, r1) of job j times tokens [t0, t1) with the kernel for groups of `rows` rows,
    // `groups` groups and max_nt tokens a call. A plain row that more than one call would
    // decode again is decoded once into `decoded` where the type has a decoder
    // (vec_dot_traits::decode).
    auto run_rows = [&](const job_plan& j, vec_dot_fn dot, int64_t rows, int64_t groups, int max_nt, int64_t r0,
                        int64_t r1, int64_t t0, int64_t t1, std::vector<char>& decoded) {
        const weight_view& w = *j.w;
        const int n = int(w.n_cols);
        const char* act = j.format >= 0 ? formats[size_t(j.format)].data.data() : reinterpret_cast<const char*>(j.x);
        const char* wdata = static_cast<const char*>(w.data);
        if (t1 - t0 == 1) {  // one token: all rows of the tile in one call (kernels may pair rows)
            dot(n, j.y + t0 * w.n_rows + r0, size_t(w.n_rows), wdata + r0 * w.row_bytes, rows * w.row_bytes,
                int(r1 - r0), act + t0 * j.act_row, j.act_row, 1);
            return;
        }
        const bool decode = dot == j.k->vec_dot && j.k->decode && t1 - t0 > max_nt;
        size_t decoded_bytes = 0;
        if (decode) {
            decoded_bytes = j.k->decoded_row_size(n);
            if (decoded.size() < decoded_bytes) decoded.resize(decoded_bytes);
        }
        for (int64_t r = r0; r < r1; r += rows * groups) {
            const int nr = int(std::min(rows * groups, r1 - r));
            const char* wrow = wdata + r * w.row_bytes;
            vec_dot_fn row_dot = dot;
            size_t row_stride = rows * w.row_bytes;
            if (decode) {
                j.k->decode(wrow, decoded.data(), n);
                wrow = decoded.data();
                row_dot = j.k->decoded_dot;
                row_stride = decoded_bytes;
            }
            for (int64_t t = t0; t < t1; t += max_nt) {
                const int nt = int(std::min<int64_t>(max_nt, t1 - t));
                row_dot(n, j.y + t * w.n_rows + r, size_t(w.n_rows), wrow, row_stride, nr, act + t * j.act_row,
                        j.act_row, nt);
            }
        }
    };

    // Rows [r0, r1) of a grid_x8 job times tokens [t0, t1): x8_groups whole groups of 8 rows at a
    // time decoded once into `decoded`, then all the tokens over them; the last r1 - r0 < 8 rows
    // as run_rows.
    auto run_rows_x8 = [&](const job_plan& j, int64_t r0, int64_t r1, int64_t t0, int64_t t1,
                           std::vector<char>& decoded) {
        const weight_view& w = *j.w;
        const int n = int(w.n_cols);
        const char* act = formats[size_t(j.format)].data.data();
        const size_t group_bytes = decoded_x8_group_size(*j.k, n);
        if (decoded.size() < j.x8_groups * group_bytes) decoded.resize(j.x8_groups * group_bytes);
        const int max_nt = j.k->decoded_x8_max_nt;
        int64_t r = r0;
        while (r + GRID_X8_ROWS <= r1) {
            const int ng = int(std::min<int64_t>(j.x8_groups, (r1 - r) / GRID_X8_ROWS));
            for (int g = 0; g < ng; ++g) {
                j.k->decode_x8(static_cast<const char*>(w.data) + (r + g * GRID_X8_ROWS) * w.row_bytes, w.row_bytes,
                               decoded.data() + g * group_bytes, n);
            }
            for (int64_t t = t0; t < t1; t += max_nt) {
                const int nt = int(std::min<int64_t>(max_nt, t1 - t));
                j.k->decoded_x8_dot(n, j.y + t * w.n_rows + r, size_t(w.n_rows), decoded.data(), group_bytes,
                                    ng * GRID_X8_ROWS, act + t * j.act_row, j.act_row, nt);
            }
            r += ng * GRID_X8_ROWS;
        }
        if (r < r1) run_rows(j, j.k->vec_dot, 1, 1, VEC_DOT_MAX_NT, r, r1, t0, t1, decoded);
    };

    pool.run([&](int ith, int nth) {
        if (!formats.empty()) {
            for (format& f : formats) {
                for (int64_t t = ith; t < f.n_tokens; t += nth) {
                    if (f.from_float_split) {
                        f.from_float_split(f.x + t * f.n, f.data.data() + t * f.act_row, f.n, f.cols.data(),
                                           int32_t(f.cols.size()));
                    } else {
                        f.from_float(f.x + t * f.n, f.data.data() + t * f.act_row, f.n);
                    }
                }
            }
            pool.barrier();
        }
        size_t ji = 0;  // tiles are handed out in order, so the job index only moves forward
        std::vector<char> decoded;  // (decoded_row_size(n_cols),) this thread's decoded weight row
        for (int64_t tile = next_tile.fetch_add(1); tile < n_tiles; tile = next_tile.fetch_add(1)) {
            while (ji + 1 < jobs.size() && tile >= jobs[ji + 1].first_tile) ++ji;
            const job_plan& j = jobs[ji];
            const tiling& p = j.p;
            const int64_t local = tile - j.first_tile;
            const int64_t t0 = (local / p.n_row_chunks) * p.tokens_per_chunk;
            const int64_t t1 = std::min(j.n_tokens, t0 + p.tokens_per_chunk);
            const int64_t r0 = p.row0(local % p.n_row_chunks);
            const int64_t r1 = std::min(j.w->n_rows, r0 + p.rows(local % p.n_row_chunks));
            const int64_t rg = std::min(r1, j.n_grouped);  // [r0, rg) repacked, [rg, r1) plain
            if (rg > r0) run_rows(j, j.packed, REPACK_ROWS, j.packed_groups, j.packed_max_nt, r0, rg, t0, t1, decoded);
            if (r1 > std::max(r0, rg)) {
                if (j.grid_x8 && t1 - t0 > VEC_DOT_MAX_NT) {
                    run_rows_x8(j, std::max(r0, rg), r1, t0, t1, decoded);
                } else {
                    run_rows(j, j.k->vec_dot, 1, 1, VEC_DOT_MAX_NT, std::max(r0, rg), r1, t0, t1, decoded);
                }
            }
        }
    });
}

}  // namespace pyggml
