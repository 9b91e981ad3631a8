// grid_x8.cpp: the interleaving of decoded codebook rows into groups of 8 (grid_x8.h) and
// the scalar reference kernel over the groups.
#include "kernels/grid_x8.h"

#include <cstring>
#include <stdexcept>

namespace pyggml {

namespace {

// Row r's decoded super-block into its place in the group.
void put_row(const block_grid_decoded& row, int r, block_grid_x8& g) {
    g.d[r] = row.d;
    for (int p = 0; p < QK_K / 32; ++p) {
        g.scales[p][r][0] = row.scales[2 * p];
        g.scales[p][r][1] = row.scales[2 * p + 1];
    }
    uint8_t biased[QK_K];
    for (int e = 0; e < QK_K; ++e) biased[e] = uint8_t(row.qs[e] + 64);
    for (int k = 0; k < QK_K / 4; ++k) std::memcpy(g.qs + 32 * k + 4 * r, biased + 4 * k, 4);
}

template <int PreDen, int PostDen>
void dot_grid_x8(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by, int nt) {
    for (int grp = 0; grp < nr / GRID_X8_ROWS; ++grp) {
        const block_grid_x8* xg = reinterpret_cast<const block_grid_x8*>(static_cast<const char*>(x) + grp * bx);
        for (int t = 0; t < nt; ++t) {
            const block_q8_K* yt = reinterpret_cast<const block_q8_K*>(static_cast<const char*>(y) + t * by);
            float acc[GRID_X8_ROWS] = {};
            for (int i = 0; i < n / QK_K; ++i) {
                for (int r = 0; r < GRID_X8_ROWS; ++r) {
                    int isum = 0;
                    for (int h = 0; h < QK_K / 16; ++h) {
                        int sub = 0;
                        for (int e = 16 * h; e < 16 * h + 16; ++e) {
                            sub += (int(xg[i].qs[32 * (e / 4) + 4 * r + e % 4]) - 64) * yt[i].qs[e];
                        }
                        isum += xg[i].scales[h / 2][r][h % 2] * sub;
                    }
                    acc[r] = acc[r] + (xg[i].d[r] * yt[i].d) * (float(isum) * (1.0f / float(PreDen)));
                }
            }
            for (int r = 0; r < GRID_X8_ROWS; ++r) s[t * bs + grp * GRID_X8_ROWS + r] = acc[r] * (1.0f / float(PostDen));
        }
    }
}

}  // namespace

void decode_rows_x8(decode_row_fn decode, const void* x, size_t row_bytes, int n, block_grid_x8* out) {
    const int nb = n / QK_K;
    const size_t block_bytes = row_bytes / size_t(nb);
    block_grid_decoded row;
    for (int r = 0; r < GRID_X8_ROWS; ++r) {
        const char* xr = static_cast<const char*>(x) + r * row_bytes;
        for (int i = 0; i < nb; ++i) {
            decode(xr + i * block_bytes, &row, QK_K);
            put_row(row, r, out[i]);
        }
    }
}

vec_dot_fn grid_x8_reference_kernel(int pre_den, int post_den) {
    if (pre_den == 1 && post_den == 1) return dot_grid_x8<1, 1>;
    if (pre_den == 1 && post_den == 4) return dot_grid_x8<1, 4>;
    if (pre_den == 1 && post_den == 8) return dot_grid_x8<1, 8>;
    if (pre_den == 8 && post_den == 1) return dot_grid_x8<8, 1>;
    throw std::invalid_argument("grid_x8_reference_kernel: no kernel for these factors");
}

}  // namespace pyggml
