// gptq.cpp: GPTQ of a matrix onto a grid, and its column loop (see gptq.h).
#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/rows.h"

namespace pyggml {

namespace {

// Index of the level nearest to x (levels ascending); ties go to the lower level.
int nearest_level(float x, const float* levels, int n_levels) {
    int lo = 0;
    for (int q = 1; q < n_levels; ++q) {
        if (x > 0.5f * (levels[q - 1] + levels[q])) lo = q;
        else break;
    }
    return lo;
}

void one_row(float* w, const float* u, float* err, uint8_t* idx, int64_t n_cols, int64_t c0, int64_t c1,
             const float* scale, const float* offset, const float* levels, int n_levels) {
    for (int64_t c = c0; c < c1; ++c) {
        const float s = scale[c - c0], o = offset[c - c0];
        int q;
        if (s == 0.0f) {  // every level decodes to the offset: take the one nearest zero
            q = nearest_level(0.0f, levels, n_levels);
        } else {
            q = nearest_level((w[c] - o) / s, levels, n_levels);
        }
        const float value = s * levels[q] + o;
        const float e = (w[c] - value) / u[c * n_cols + c];
        idx[c] = uint8_t(q);
        err[c] = e;
        const float* uc = u + c * n_cols;
        for (int64_t k = c + 1; k < n_cols; ++k) w[k] -= e * uc[k];
    }
}

}  // namespace

void gptq_columns(float* w, const float* u, float* err, uint8_t* idx, int64_t n_rows, int64_t n_cols, int64_t c0,
                  int64_t c1, const float* scale, const float* offset, const float* levels, int n_levels,
                  thread_pool& pool) {
    const int64_t n_sel = c1 - c0;
    parallel_for(pool, n_rows, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            one_row(w + r * n_cols, u, err + r * n_cols, idx + r * n_cols, n_cols, c0, c1, scale + r * n_sel,
                    offset + r * n_sel, levels, n_levels);
        }
    });
}

namespace {

// Columns [c0, c0 + n) of the (n_rows, n_cols) matrix src as a contiguous (n_rows, n) one.
void copy_columns(const float* src, int64_t n_rows, int64_t n_cols, int64_t c0, int64_t n, float* dst) {
    for (int64_t r = 0; r < n_rows; ++r) std::copy_n(src + r * n_cols + c0, n, dst + r * n);
}

}  // namespace

void gptq_quantize(const grid_format& f, const type_traits& t, const gptq_matrix& m,
                   const gptq_later_columns_fn& later_columns, uint8_t* out, thread_pool& pool) {
    const int64_t rows = m.n_rows, cols = m.n_cols, bs = f.block_size, g = f.group_size;
    if (rows < 0 || cols <= 0 || cols % bs) {
        throw std::invalid_argument(std::string(f.name) + ": row length " + std::to_string(cols) +
                                    " is not a positive multiple of " + std::to_string(bs));
    }
    if (m.block <= 0 || (m.block % bs && bs % m.block)) {
        throw std::invalid_argument("GPTQ block of " + std::to_string(m.block) + " columns: need a multiple or a divisor of " +
                                    std::string(f.name) + "'s block size " + std::to_string(bs));
    }
    const size_t row_bytes = size_t(cols / bs) * f.block_bytes;
    std::vector<float> levels(size_t(f.n_levels));
    f.levels(levels.data());
    std::vector<uint8_t> idx(size_t(rows * cols));  // (rows, cols) level indices, file order

    // One GGUF block (file columns [j, j + bs)) from values (rows, bs): its bytes go to out,
    // the scale and offset of each of its columns to col_scale, col_offset (rows, bs).
    std::vector<uint8_t> qb(size_t(rows) * f.block_bytes);
    std::vector<float> gs(size_t(rows * (bs / g))), go(gs.size());
    auto block_scales = [&](const float* values, int64_t j, float* col_scale, float* col_offset) {
        quantize_rows(t, values, qb.data(), rows, bs, m.importance ? m.importance + j : nullptr, pool);
        for (int64_t r = 0; r < rows; ++r) {
            std::copy_n(qb.data() + r * f.block_bytes, f.block_bytes, out + r * row_bytes + (j / bs) * f.block_bytes);
        }
        grid_params_rows(f, qb.data(), rows, bs, gs.data(), go.data());
        for (int64_t r = 0; r < rows; ++r) {
            for (int64_t c = 0; c < bs; ++c) {
                col_scale[r * bs + c] = gs[size_t(r * (bs / g) + c / g)];
                col_offset[r * bs + c] = go[size_t(r * (bs / g) + c / g)];
            }
        }
    };

    std::vector<float> values(size_t(rows * bs)), cur_s(values.size()), cur_o(values.size());
    // Act-order: every column's scale and offset (rows, cols) in file order, up front.
    std::vector<float> file_s, file_o;
    if (m.perm) {
        file_s.resize(size_t(rows * cols));
        file_o.resize(file_s.size());
        for (int64_t j = 0; j < cols; j += bs) {
            copy_columns(m.w_file, rows, cols, j, bs, values.data());
            block_scales(values.data(), j, cur_s.data(), cur_o.data());
            for (int64_t r = 0; r < rows; ++r) {
                std::copy_n(cur_s.data() + r * bs, bs, file_s.data() + r * cols + j);
                std::copy_n(cur_o.data() + r * bs, bs, file_o.data() + r * cols + j);
            }
        }
    }

    const int64_t block = m.block;
    std::vector<float> w1(size_t(rows * block)), u1(size_t(block * block)), err1(w1.size());
    std::vector<float> cs(w1.size()), co(w1.size());
    std::vector<uint8_t> idx1(w1.size());
    for (int64_t i1 = 0; i1 < cols; i1 += block) {
        const int64_t i2 = std::min(i1 + block, cols), nb = i2 - i1;
        copy_columns(m.w, rows, cols, i1, nb, w1.data());
        for (int64_t c = 0; c < nb; ++c) std::copy_n(m.u + (i1 + c) * cols + i1, nb, u1.data() + c * nb);
        if (m.perm) {
            for (int64_t r = 0; r < rows; ++r) {
                for (int64_t c = 0; c < nb; ++c) {
                    cs[size_t(r * nb + c)] = file_s[size_t(r * cols + m.perm[i1 + c])];
                    co[size_t(r * nb + c)] = file_o[size_t(r * cols + m.perm[i1 + c])];
                }
            }
            gptq_columns(w1.data(), u1.data(), err1.data(), idx1.data(), rows, nb, 0, nb, cs.data(), co.data(),
                         levels.data(), f.n_levels, pool);
            for (int64_t r = 0; r < rows; ++r) {
                for (int64_t c = 0; c < nb; ++c) idx[size_t(r * cols + m.perm[i1 + c])] = idx1[size_t(r * nb + c)];
            }
        } else {
            // the block's columns in runs that share one GGUF block's scales
            for (int64_t a = 0; a < nb; a += std::min(bs, nb)) {
                const int64_t j = i1 + a, span = std::min(bs, nb - a);
                if (j % bs == 0) {  // a new GGUF block: its scales from its current weights
                    const int64_t here = std::min(bs, nb - a);  // in this block; the rest as the lazy updates left it
                    for (int64_t r = 0; r < rows; ++r) {
                        std::copy_n(w1.data() + r * nb + a, here, values.data() + r * bs);
                        std::copy_n(m.w + r * cols + i2, bs - here, values.data() + r * bs + here);
                    }
                    block_scales(values.data(), j, cur_s.data(), cur_o.data());
                }
                const int64_t off = j % bs;
                for (int64_t r = 0; r < rows; ++r) {
                    std::copy_n(cur_s.data() + r * bs + off, span, cs.data() + r * span);
                    std::copy_n(cur_o.data() + r * bs + off, span, co.data() + r * span);
                }
                gptq_columns(w1.data(), u1.data(), err1.data(), idx1.data(), rows, nb, a, a + span, cs.data(),
                             co.data(), levels.data(), f.n_levels, pool);
            }
            for (int64_t r = 0; r < rows; ++r) std::copy_n(idx1.data() + r * nb, nb, idx.data() + r * cols + i1);
        }
        if (i2 < cols) later_columns(i1, i2, err1.data());
    }
    grid_pack_rows(f, out, rows, cols, idx.data());
}

}  // namespace pyggml
