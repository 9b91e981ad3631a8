// repack.h: weights rearranged in memory at load time for faster dot kernels.
//
// Q4_K rows are regrouped 8 at a time into block_q4_Kx8 (blocks.h): a pass over one
// group decodes the 8 rows' scales at once and loads each activation block once for
// the 8 rows, with one sequential weight stream. The file format does not change; a
// repacked buffer holds the same bytes as the plain tensor, rearranged: group g (rows
// 8g..8g+7) occupies the bytes of those rows, as n_cols / 256 block_q4_Kx8 in column
// order, and the n_rows % 8 last rows stay plain. Only CPUs with a kernel for the
// layout (AVX2) repack; elsewhere weights keep the plain layout.
#pragma once

#include <cstddef>
#include <cstdint>

#include "matmul.h"
#include "vec_dot.h"

namespace pyggml {

constexpr int REPACK_ROWS = 8;

// Rearranges n_rows plain Q4_K rows of n_cols (src, n_rows * row_bytes bytes) into dst
// (the same size). Rows [row0, row1) only, both multiples of 8 or row1 == n_rows, so
// that callers can split the work; dst receives exactly those rows' bytes.
void repack_q4_K_x8(const void* src, int64_t n_rows, int64_t n_cols, void* dst, int64_t row0, int64_t row1);

// The dot kernel for a layout (weight_view::layout) and instruction set; same signature
// and output as vec_dot_fn, with nr a multiple of 8 rows and bx the bytes between
// groups of 8 rows (8 * row_bytes). Null where that set has no kernel for the layout.
vec_dot_fn repacked_kernel(int32_t layout, cpu_isa isa);
vec_dot_fn vec_dot_q4_Kx8_ref();   // repack.cpp
vec_dot_fn vec_dot_q4_Kx8_avx2();  // x86/vec_dot_repack_avx2.cpp

// After repacking: when [p, p + bytes) lies in a shared file mapping (the mapped GGUF
// file), unmaps its whole pages from this process (Linux MADV_DONTNEED, which for such
// a mapping keeps the data: the file stays in the page cache and a later touch maps it
// again), so that the file's copy leaves the resident set. Anything else (anonymous or
// private memory, other systems): nothing. Returns whether pages were released.
bool release_file_pages(const void* p, size_t bytes);

// The layout the best kernels on this CPU want for w (weight_layout_plain: keep it).
int32_t preferred_layout(const weight_view& w);

}  // namespace pyggml
