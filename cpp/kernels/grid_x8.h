// grid_x8.h: codebook rows (IQ1_S .. IQ3_S) decoded eight at a time for products with many
// tokens (block_grid_x8 in core/blocks.h), and the scalar reference kernel over them.
//
// matmul decodes each group of 8 rows once per tile (the type's decoder into
// block_grid_decoded, then interleaved) and passes all the tile's tokens over it: the grid
// lookups are shared by every token and the tiers' kernels (arch/x86/grid_x8_*.cpp) multiply
// 8 rows x several tokens with one VPDPBUSD per 4 columns, as the repacked layouts do.
//
// Every kernel over decoded rows gives the type's scalar reference dot product bit for bit:
// per super-block the exact integer sum isum = sum over 16s of (2 s + 1) * sum q * y, then
// acc = acc + (d_w * d_y) * (isum / PreDen), in super-block order, and at the end acc / PostDen
// (PreDen 8 for IQ1, whose values are decoded as 8 q plus the sign of the shift; PostDen the
// grid types' constant factor 1/8, 1/4 or 1). Both divisions are by powers of two: exact.
#pragma once

#include <cstddef>

#include "core/blocks.h"
#include "kernels/vec_dot.h"

namespace pyggml {

constexpr int GRID_X8_ROWS = 8;

// Bytes of one group of 8 decoded rows of n elements.
inline size_t grid_x8_group_size(int n) { return size_t(n / QK_K) * sizeof(block_grid_x8); }
// The same for a type's decode_x8 (vec_dot_traits), whichever form it decodes to.
inline size_t decoded_x8_group_size(const vec_dot_traits& k, int n) {
    return k.decoded_x8_size ? k.decoded_x8_size(n) : grid_x8_group_size(n);
}

// Decodes rows 0..7 (row_bytes apart, n elements each) of a codebook type with its decoder
// (vec_dot_traits::decode) into one group: out holds grid_x8_group_size(n) bytes.
void decode_rows_x8(decode_row_fn decode, const void* x, size_t row_bytes, int n, block_grid_x8* out);

// decode_rows_x8 with the decoder fixed: the reference vec_dot_traits::decode_x8.
template <decode_row_fn Decode>
void decode_rows_x8(const void* x, size_t row_bytes, void* group, int n) {
    decode_rows_x8(Decode, x, row_bytes, n, static_cast<block_grid_x8*>(group));
}

// The scalar reference kernel over groups (vec_dot_fn; nr a multiple of 8, bx the bytes
// between groups, y Q8_K) for PreDen / PostDen (see above): 1/1, 1/4, 1/8 or 8/1.
vec_dot_fn grid_x8_reference_kernel(int pre_den, int post_den);

}  // namespace pyggml
