// repack.cpp: the Q4_K 8-row layout (see repack.h): conversion from plain rows, the
// scalar reference dot kernel over it, and the choice of layout per weight.
#include "repack.h"

#include <cmath>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#endif

#include "blocks.h"
#include "fp16.h"
#include "kquant_scales.h"
#include "type_traits.h"

namespace pyggml {

namespace {

// Position of (row r, sub-block j) in the 32-byte scale vectors (see block_q4_Kx8).
inline int scale_slot(int r, int j) { return 16 * (r / 4) + 4 * (j % 4) + r % 4; }

void pack_group(const block_q4_K* const rows[REPACK_ROWS], block_q4_Kx8& out) {
    std::memset(out.hi, 0, sizeof(out.hi));
    for (int r = 0; r < REPACK_ROWS; ++r) {
        const block_q4_K& b = *rows[r];
        out.d[r] = b.d;
        out.dmin[r] = b.dmin;
        uint8_t sc[8], mn[8];
        unpack_scales_mins_k4(b.scales, sc, mn);
        for (int j = 0; j < 4; ++j) {
            const int slot = scale_slot(r, j);
            out.scales_lo[slot] = uint8_t((sc[j] & 15) | (sc[j + 4] & 15) << 4);
            out.mins_lo[slot] = uint8_t((mn[j] & 15) | (mn[j + 4] & 15) << 4);
            out.hi[slot] = uint8_t((sc[j] >> 4) | (sc[j + 4] >> 4) << 2 | (mn[j] >> 4) << 4 | (mn[j + 4] >> 4) << 6);
        }
        for (int q = 0; q < QK_K / 8; ++q) std::memcpy(out.qs + 32 * q + 4 * r, b.qs + 4 * q, 4);
    }
}

// The six-bit scales and mins of the 8 rows: sc[r][j], mn[r][j].
void unpack_group_scales(const block_q4_Kx8& g, uint8_t sc[8][8], uint8_t mn[8][8]) {
    for (int r = 0; r < REPACK_ROWS; ++r) {
        for (int j = 0; j < 4; ++j) {
            const int slot = scale_slot(r, j);
            const int hi = g.hi[slot];
            sc[r][j] = uint8_t((g.scales_lo[slot] & 15) | (hi & 3) << 4);
            sc[r][j + 4] = uint8_t((g.scales_lo[slot] >> 4) | ((hi >> 2) & 3) << 4);
            mn[r][j] = uint8_t((g.mins_lo[slot] & 15) | ((hi >> 4) & 3) << 4);
            mn[r][j + 4] = uint8_t((g.mins_lo[slot] >> 4) | ((hi >> 6) & 3) << 4);
        }
    }
}

// Scalar reference: per row and super-block, the exact integer sums, then
// acc = fma(d * yd, sum, acc); acc = fma(-(dmin * yd), min_sum, acc) in super-block
// order (the AVX2 kernel performs the same float operations, lane r = row r).
void dot_q4_Kx8_q8_K(int n, float* s, size_t bs, const void* x, size_t bx, int nr, const void* y, size_t by,
                     int nt) {
    const int nb = n / QK_K;
    for (int g = 0; g < nr / REPACK_ROWS; ++g) {
        const block_q4_Kx8* xg = reinterpret_cast<const block_q4_Kx8*>(static_cast<const char*>(x) + g * bx);
        for (int t = 0; t < nt; ++t) {
            const block_q8_K* yt = reinterpret_cast<const block_q8_K*>(static_cast<const char*>(y) + t * by);
            float acc[REPACK_ROWS] = {};
            for (int i = 0; i < nb; ++i) {
                uint8_t sc[8][8], mn[8][8];
                unpack_group_scales(xg[i], sc, mn);
                for (int r = 0; r < REPACK_ROWS; ++r) {
                    int isum = 0, isum_min = 0;
                    for (int e = 0; e < QK_K; ++e) {
                        // element e: 64-chunk k, quad u, byte b; high nibble for the second 32
                        const int k = e / 64, u = (e % 32) / 4, b = e % 4;
                        const uint8_t byte = xg[i].qs[32 * (8 * k + u) + 4 * r + b];
                        const int q = (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
                        isum += sc[r][e / 32] * q * yt[i].qs[e];
                    }
                    for (int j = 0; j < 8; ++j) isum_min += mn[r][j] * (yt[i].bsums[2 * j] + yt[i].bsums[2 * j + 1]);
                    const float d = fp16_to_fp32(xg[i].d[r]) * yt[i].d;
                    const float m = fp16_to_fp32(xg[i].dmin[r]) * yt[i].d;
                    acc[r] = std::fma(d, float(isum), acc[r]);
                    acc[r] = std::fma(-m, float(isum_min), acc[r]);
                }
            }
            for (int r = 0; r < REPACK_ROWS; ++r) s[t * bs + g * REPACK_ROWS + r] = acc[r];
        }
    }
}

}  // namespace

void repack_q4_K_x8(const void* src, int64_t n_rows, int64_t n_cols, void* dst, int64_t row0, int64_t row1) {
    const int64_t nb = n_cols / QK_K;
    const size_t row_bytes = size_t(nb) * sizeof(block_q4_K);
    const int64_t n_grouped = n_rows - n_rows % REPACK_ROWS;
    const char* in = static_cast<const char*>(src);
    char* out = static_cast<char*>(dst);
    for (int64_t r = row0; r < row1;) {
        if (r >= n_grouped) {  // the plain tail
            std::memcpy(out + r * row_bytes, in + r * row_bytes, size_t(row1 - r) * row_bytes);
            break;
        }
        block_q4_Kx8* g = reinterpret_cast<block_q4_Kx8*>(out + r * row_bytes);
        for (int64_t i = 0; i < nb; ++i) {
            const block_q4_K* rows[REPACK_ROWS];
            for (int k = 0; k < REPACK_ROWS; ++k) {
                rows[k] = reinterpret_cast<const block_q4_K*>(in + (r + k) * row_bytes) + i;
            }
            pack_group(rows, g[i]);
        }
        r += REPACK_ROWS;
    }
}

#if defined(__linux__)
namespace {

// Whether [begin, end) lies inside one shared mapping of a file (/proc/self/maps).
bool in_shared_file_mapping(uintptr_t begin, uintptr_t end) {
    FILE* f = std::fopen("/proc/self/maps", "r");
    if (!f) return false;
    char line[512];
    bool found = false;
    while (std::fgets(line, sizeof(line), f)) {
        uintptr_t lo = 0, hi = 0;
        char perms[8] = {};
        unsigned long long offset = 0, inode = 0;
        char dev[32] = {};
        if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %llx %31s %llu", &lo, &hi, perms, &offset, dev, &inode) != 6) {
            continue;
        }
        if (begin >= lo && end <= hi) {
            found = perms[3] == 's' && inode != 0;
            break;
        }
    }
    std::fclose(f);
    return found;
}

}  // namespace
#endif

bool release_file_pages(const void* p, size_t bytes) {
#if defined(__linux__)
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (uintptr_t(p) + page - 1) / page * page, end = (uintptr_t(p) + bytes) / page * page;
    if (end <= begin || !in_shared_file_mapping(begin, end)) return false;
    return madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) == 0;
#else
    (void)p;
    (void)bytes;
    return false;
#endif
}

vec_dot_fn vec_dot_q4_Kx8_ref() { return dot_q4_Kx8_q8_K; }

vec_dot_fn repacked_kernel(int32_t layout, cpu_isa isa) {
    if (layout != weight_layout_q4_Kx8) return nullptr;
    // the ISA must be usable here: get_vec_dot_traits knows what the CPU supports
    if (!get_vec_dot_traits(GGML_TYPE_Q4_K, isa)) return nullptr;
    switch (isa) {
        case cpu_isa::scalar: return vec_dot_q4_Kx8_ref();
#if defined(__x86_64__)
        case cpu_isa::avx2: return vec_dot_q4_Kx8_avx2();
#endif
        default: return nullptr;
    }
}

int32_t preferred_layout(const weight_view& w) {
    if (w.layout != weight_layout_plain || w.type != GGML_TYPE_Q4_K || w.n_rows < REPACK_ROWS) return w.layout;
    if (best_cpu_isa() != cpu_isa::avx2) return weight_layout_plain;
    return weight_layout_q4_Kx8;
}

}  // namespace pyggml
