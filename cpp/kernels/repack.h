// repack.h: weights rearranged in memory at load time for faster dot kernels.
//
// Rows of Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, IQ4_XS and MXFP4 are regrouped 8 at a time
// (block_q4_Kx8, block_q5_Kx8, ..., block_mxfp4x8 in blocks.h): a
// pass over one group decodes the 8 rows' scales at once
// and broadcasts each 4 activation bytes to the 8 rows, so that an activation load
// serves 8 rows and the float work of a block (convert, scale, accumulate) is done for
// 8 rows in one vector. The file format does not change; a repacked buffer holds the
// same bytes as the plain tensor, rearranged: group g (rows 8g..8g+7) occupies the
// bytes of those rows, as one 8-row block per column block in column order, and the
// n_rows % 8 last rows stay plain. Only CPUs with a kernel for the layout (the x86 tiers;
// NEON with SDOT for all of them) repack;
// elsewhere weights keep the plain layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "core/blocks.h"
#include "kernels/vec_dot.h"
#include "kernels/weight_view.h"

namespace pyggml {

constexpr int REPACK_ROWS = 8;

// The nibble layouts (Q4_0, Q5_0, Q4_1, Q5_1), for the kernels written once for all four:
// whether the group has a min per row (Q4_1, Q5_1: they read the plain Q8_1 activations, d and
// s = d * the sum of the block's quants) or a fifth bit per quant (Q5_0, Q5_1), and the
// activations it reads (Q4_0, Q5_0: block_q8_0s, with the int16 quant sum).
template <class G>
inline constexpr bool has_min = std::is_same_v<G, block_q4_1x8> || std::is_same_v<G, block_q5_1x8>;
template <class G>
inline constexpr bool has_fifth_bit = std::is_same_v<G, block_q5_0x8> || std::is_same_v<G, block_q5_1x8>;
template <class G>
using nibble_act = std::conditional_t<has_min<G>, block_q8_1, block_q8_0s>;

// What a repacked layout needs besides its kernel: the weight type it regroups and the
// activations its kernels read (converted once per matmul by from_float, in blocks of
// act_block elements taking act_block_bytes).
struct repacked_layout {
    int32_t layout;             // weight_layout
    int32_t weight_type;        // ggml type id
    int64_t act_block;
    size_t act_block_bytes;
    from_float_fn from_float;   // the best this CPU has; same bytes on every CPU
};

// The layout's description; null for weight_layout_plain or an unknown id.
const repacked_layout* get_repacked_layout(int32_t layout);
// Bytes of one activation row of n_cols for the layout's kernels.
size_t repacked_act_row(const repacked_layout& l, int64_t n_cols);

// Rearranges n_rows plain rows of the layout's weight type, n_cols each (src,
// n_rows * row_bytes bytes) into dst (the same size). Rows [row0, row1) only, both
// multiples of 8 or row1 == n_rows, so that callers can split the work; dst receives
// exactly those rows' bytes.
void repack_rows(int32_t layout, const void* src, int64_t n_rows, int64_t n_cols, void* dst, int64_t row0,
                 int64_t row1);

// The dot kernels over a layout (core/dispatch.h: repacked_kernel(layout, isa)) have the
// signature and output of vec_dot_fn, with nr a multiple of 8 rows, bx the bytes between
// groups of 8 rows (8 * row_bytes) and y the layout's activations.

// After repacking: when [p, p + bytes) lies in a shared file mapping (the mapped GGUF
// file), unmaps its whole pages from this process (Linux MADV_DONTNEED, which for such
// a mapping keeps the data: the file stays in the page cache and a later touch maps it
// again), so that the file's copy leaves the resident set. Anything else (anonymous or
// private memory, other systems): nothing. Returns whether pages were released.
bool release_file_pages(const void* p, size_t bytes);
// Whether [p, p + bytes) lies in a shared mapping of a file (on Linux; elsewhere false).
bool in_file_mapping(const void* p, size_t bytes);

// A buffer for the weights a forward pass streams, on Linux in 2 MiB huge pages where
// the system grants them (aligned to 2 MiB and advised MADV_HUGEPAGE, which
// transparent_hugepage=madvise, the common default, requires): one TLB entry then covers
// 512 times the bytes of a 4 KiB page, and each matrix read walks far fewer page tables.
// Elsewhere plain memory.
struct weight_buffer_free {
    void operator()(uint8_t* p) const;
};
using weight_buffer = std::unique_ptr<uint8_t[], weight_buffer_free>;
weight_buffer alloc_weight_buffer(size_t bytes);
// Whether alloc_weight_buffer asks for huge pages here (Linux, transparent huge pages not
// "never"): only then is a copy of a plain matrix worth making, and only of one in the mapped
// file, whose pages leave the process once copied (a matrix held elsewhere, such as one the
// caller converted at load, would be resident twice).
bool weight_buffer_huge_pages();

// Whether matrices of `type`, n_rows x n_cols, can take layout l (8 rows or more; a
// plain tail of n_rows % 8 rows only where l's activations are the dot type's).
bool layout_fits(const repacked_layout& l, int32_t type, int64_t n_rows, int64_t n_cols);

// The layout the best kernels on this CPU want for w (weight_layout_plain: keep it).
int32_t preferred_layout(const weight_view& w);
// The layout that regroups `type` (weight_layout_plain: none), whatever the CPU.
int32_t repack_layout_of_type(int32_t type);
// The layout preferred_layout gives matrices of this type on this CPU.
int32_t preferred_layout_for_type(int32_t type);

}  // namespace pyggml
