// k.cpp: the k-quant super-block formats Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K.
//
// Quantizers follow ggml-quants.c operation for operation: quantize_row_qX_K_ref when no
// importance vector is given, quantize_row_qX_K_impl when one is, so the bytes are
// ggml's. The per-group scale searches and the final rounding come from a
// quant_search_ops table (the scalar references here, or arch/x86/search_avx2.cpp,
// which gives the same bytes), so sub-blocks are handed over in batches.
// Dequantizers are ggml's dequantize_row_qX_K with the same float expressions.
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "quant/quants.h"
#include "quant/search.h"

namespace pyggml {

namespace {

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Row size in bytes of n_per_row elements of a super-block type.
template <typename Block>
size_t k_row_bytes(int64_t n_per_row) { return size_t(n_per_row / QK_K) * sizeof(Block); }

// ggml's quantize_qX_K: the whole chunk through the _ref routine without an importance
// vector, row by row through the _impl routine with one.
template <typename Block, void (*Ref)(const float*, Block*, int64_t, const quant_search_ops&),
          void (*Impl)(const float*, Block*, int64_t, const float*, const quant_search_ops&)>
size_t quantize_k_rows(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                       int64_t n_per_row, const float* imatrix) {
    const size_t row_bytes = k_row_bytes<Block>(n_per_row);
    char* out = static_cast<char*>(dst);
    for (int64_t r = 0; r < nrow; ++r) {
        Block* y = reinterpret_cast<Block*>(out + r * row_bytes);
        if (imatrix) Impl(src + r * n_per_row, y, n_per_row, imatrix, ops);
        else Ref(src + r * n_per_row, y, n_per_row, ops);
    }
    return size_t(nrow) * row_bytes;
}

// ggml get_scale_min_k4: the j-th 6-bit scale and min of a Q4_K/Q5_K block.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = uint8_t((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

// Pack eight 6-bit scales and mins into the 12 bytes of a Q4_K/Q5_K block.
inline void pack_scale_min_k4(uint8_t* scales, int j, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        scales[j] = ls;
        scales[j + 4] = lm;
    } else {
        scales[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
        scales[j - 4] |= uint8_t((ls >> 4) << 6);
        scales[j - 0] |= uint8_t((lm >> 4) << 6);
    }
}

// Pack 256 2-bit levels into 64 bytes (Q2_K and the low bits of Q3_K).
inline void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < QK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                    (L[j + l + 96] << 6));
        }
    }
}

// Q2_K: with the block's scales fixed, requantize every level against them.
inline void q2_K_requantize(const float* x, const block_q2_K& y, uint8_t* L, const quant_search_ops& ops) {
    float d[QK_K / 16], dm[QK_K / 16];
    for (int j = 0; j < QK_K / 16; ++j) {
        d[j] = fp16_to_fp32(y.d) * (y.scales[j] & 0xF);
        dm[j] = fp16_to_fp32(y.dmin) * (y.scales[j] >> 4);
    }
    ops.requantize(QK_K / 16, 16, x, d, dm, 0, 3, 0, L);
}

// Q3_K: the j-th 6-bit scale (minus 32) from the packed 12 bytes.
inline int8_t q3_K_scale(const uint8_t* scales, int j) {
    int8_t sc = int8_t(j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4);
    sc = int8_t((sc | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
    return sc;
}

// Q3_K: store the 6-bit scale l (0..63) of sub-block j; scales must start zeroed.
inline void q3_K_pack_scale(uint8_t* scales, int j, int l) {
    if (j < 8) scales[j] = uint8_t(l & 0xF);
    else scales[j - 8] |= uint8_t((l & 0xF) << 4);
    l >>= 4;
    scales[j % 4 + 8] |= uint8_t(l << (2 * (j / 4)));
}

// Q3_K: requantize levels against the stored scales, then split off the high bits.
inline void q3_K_finish(const float* x, block_q3_K& y, int8_t* L, const quant_search_ops& ops) {
    float d[QK_K / 16];
    for (int j = 0; j < QK_K / 16; ++j) d[j] = fp16_to_fp32(y.d) * q3_K_scale(y.scales, j);
    ops.requantize(QK_K / 16, 16, x, d, nullptr, -4, 3, 4, reinterpret_cast<uint8_t*>(L));
    std::memset(y.hmask, 0, QK_K / 8);
    // The high bit (levels are 0..7) of the first 32 quants goes to bit 0, the next 32 to
    // bit 1, ...; without branches, which would be taken at random.
    for (int j = 0; j < QK_K; ++j) {
        y.hmask[j % (QK_K / 8)] = uint8_t(y.hmask[j % (QK_K / 8)] | ((L[j] >> 2) << (j / (QK_K / 8))));
        L[j] = int8_t(L[j] & 3);
    }
    pack_2bit(reinterpret_cast<const uint8_t*>(L), y.qs);
}

// Q4_K/Q5_K: requantize levels against the stored scales and mins.
template <typename Block>
inline void k4_requantize(const float* x, const Block& y, int nmax, uint8_t* L, const quant_search_ops& ops) {
    float d[QK_K / 32], dm[QK_K / 32];
    uint8_t sc, m;
    for (int j = 0; j < QK_K / 32; ++j) {
        get_scale_min_k4(j, y.scales, &sc, &m);
        d[j] = fp16_to_fp32(y.d) * sc;
        dm[j] = fp16_to_fp32(y.dmin) * m;
    }
    ops.requantize(QK_K / 32, 32, x, d, dm, 0, nmax, 0, L);
}

inline void q4_K_pack(const uint8_t* L, uint8_t* q) {
    for (int j = 0; j < QK_K; j += 64) {
        for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
        q += 32;
    }
}

inline void q5_K_pack(const uint8_t* L, block_q5_K& y) {
    // Levels are 0..31: bit 4 goes to qh (bits 2k and 2k+1 for the k-th 64), without
    // branches (they would be taken at random).
    uint8_t* qh = y.qh;
    uint8_t* ql = y.qs;
    std::memset(qh, 0, QK_K / 8);
    for (int n = 0, shift = 0; n < QK_K; n += 64, shift += 2) {
        for (int j = 0; j < 32; ++j) {
            const int l1 = L[n + j], l2 = L[n + j + 32];
            qh[j] = uint8_t(qh[j] | ((l1 >> 4) << shift) | ((l2 >> 4) << (shift + 1)));
            ql[j] = uint8_t((l1 & 15) | ((l2 & 15) << 4));
        }
        ql += 32;
    }
}

// Q4_K/Q5_K super-blocks are searched two at a time: 16 independent sub-blocks.
constexpr int kK4Batch = 2;

// Q4_K/Q5_K reference weights of one super-block: av_x + |x| per 32-element sub-block.
void k4_weights_ref(const float* x, float* weights) {
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[32 * j + l] = av_x + std::fabs(x[32 * j + l]);
    }
}

// Q4_K/Q5_K reference, after make_qkx2_quants: 6-bit scales and mins relative to their
// maxima, then the levels against them.
template <typename Block>
void k4_finish_ref(const float* x, Block& y, int nmax, const float* scales, const float* mins, uint8_t* L,
                   const quant_search_ops& ops) {
    float max_scale = 0, max_min = 0;  // the min is subtracted, so scales are positive
    for (int j = 0; j < QK_K / 32; ++j) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t ls = uint8_t(nearest_int(inv_scale * scales[j]));
        uint8_t lm = uint8_t(nearest_int(inv_min * mins[j]));
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        pack_scale_min_k4(y.scales, j, ls, lm);
    }
    y.d = fp32_to_fp16(max_scale / 63.f);
    y.dmin = fp32_to_fp16(max_min / 63.f);
    k4_requantize(x, y, nmax, L, ops);
}

// Q4_K/Q5_K importance weights of one super-block: qw * sqrt(sigma2 + x^2), and their
// sum per sub-block in sw.
void k4_weights_impl(const float* x, const float* qw, float* weights, float* sw) {
    float sum_x2 = 0;
    for (int l = 0; l < QK_K; ++l) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / QK_K;
    for (int j = 0; j < QK_K / 32; ++j) {
        float* w = weights + 32 * j;
        for (int l = 0; l < 32; ++l) w[l] = qw[32 * j + l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 32; ++l) sumw += w[l];
        sw[j] = sumw;
    }
}

// Q4_K/Q5_K with an importance vector, after make_qkx3_quants: make_qp_quants for the
// scales and mins, then the levels against them.
template <typename Block>
void k4_finish_impl(const float* x, Block& y, int nmax, const float* scales, const float* mins,
                    const float* sw, uint8_t* L, const quant_search_ops& ops) {
    uint8_t Ls[QK_K / 32], Lm[QK_K / 32];
    const float d_block = make_qp_quants(QK_K / 32, 63, scales, Ls, sw);
    const float m_block = make_qp_quants(QK_K / 32, 63, mins, Lm, sw);
    for (int j = 0; j < QK_K / 32; ++j) {
        const uint8_t ls = Ls[j] < 63 ? Ls[j] : 63;
        const uint8_t lm = Lm[j] < 63 ? Lm[j] : 63;
        pack_scale_min_k4(y.scales, j, ls, lm);
    }
    y.d = fp32_to_fp16(d_block);
    y.dmin = fp32_to_fp16(m_block);
    k4_requantize(x, y, nmax, L, ops);
}

inline void k4_pack(const uint8_t* L, block_q4_K& y) { q4_K_pack(L, y.qs); }
inline void k4_pack(const uint8_t* L, block_q5_K& y) { q5_K_pack(L, y); }

// A row of Q4_K/Q5_K: ggml's reference (qw null: make_qkx2_quants, rmin/rdelta/nstep)
// or importance form (make_qkx3_quants), with the sub-block searches batched.
template <typename Block>
void k4_quantize_row(const float* x, Block* y, int64_t n_per_row, int nmax, float rmin, float rdelta,
                     int nstep, const float* qw, const quant_search_ops& ops) {
    constexpr int nsub = QK_K / 32;
    uint8_t L[kK4Batch * QK_K];
    float weights[kK4Batch * QK_K], sw[kK4Batch * nsub];     // (batch, 8 sub-blocks, 32), (batch, 8)
    float scales[kK4Batch * nsub], mins[kK4Batch * nsub];  // (batch, 8)
    const int64_t nb = n_per_row / QK_K;
    for (int64_t i = 0; i < nb; i += kK4Batch, x += kK4Batch * QK_K) {
        const int nsb = int(nb - i < kK4Batch ? nb - i : kK4Batch);
        for (int s = 0; s < nsb; ++s) {
            if (qw) k4_weights_impl(x + s * QK_K, qw + QK_K * (i + s), weights + s * QK_K, sw + s * nsub);
            else k4_weights_ref(x + s * QK_K, weights + s * QK_K);
        }
        if (qw) ops.qkx3(nsb * nsub, 32, nmax, x, weights, L, scales, mins, -0.9f, 0.05f, 36, false);
        else ops.qkx2(nsb * nsub, 32, nmax, x, weights, L, scales, mins, rmin, rdelta, nstep, false);
        for (int s = 0; s < nsb; ++s) {
            const float* xs = x + s * QK_K;
            uint8_t* Ls = L + s * QK_K;
            if (qw) k4_finish_impl(xs, y[i + s], nmax, scales + s * nsub, mins + s * nsub, sw + s * nsub, Ls, ops);
            else k4_finish_ref(xs, y[i + s], nmax, scales + s * nsub, mins + s * nsub, Ls, ops);
            k4_pack(Ls, y[i + s]);
        }
    }
}

// ggml quantize_row_q2_K_impl
void quantize_row_q2_K_impl(const float* x, block_q2_K* y, int64_t n_per_row, const float* qw,
                            const quant_search_ops& ops) {
    uint8_t L[QK_K], Ls[QK_K / 16], Lm[QK_K / 16];
    float mins[QK_K / 16], scales[QK_K / 16], sw[QK_K / 16], weight[QK_K];  // weight: (16, 16)
    for (int64_t i = 0; i < n_per_row / QK_K; ++i, x += QK_K) {
        float sumx2 = 0;
        for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
        const float sigma2 = sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; ++j) {
            const float* w = qw + QK_K * i + 16 * j;
            float* wj = weight + 16 * j;
            for (int l = 0; l < 16; ++l) wj[l] = w[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
            sw[j] = 0;
            for (int l = 0; l < 16; ++l) sw[j] += wj[l];
        }
        ops.qkx3(QK_K / 16, 16, 3, x, weight, L, scales, mins, -0.9f, 0.05f, 36, false);
        float dm = make_qp_quants(QK_K / 16, 15, scales, Ls, sw);
        float mm = make_qp_quants(QK_K / 16, 15, mins, Lm, sw);
        y[i].d = fp32_to_fp16(dm);
        y[i].dmin = fp32_to_fp16(mm);
        for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = uint8_t(Ls[j] | (Lm[j] << 4));
        q2_K_requantize(x, y[i], L, ops);
        pack_2bit(L, y[i].qs);
    }
}

// ggml quantize_row_q3_K_impl
void quantize_row_q3_K_impl(const float* x, block_q3_K* y, int64_t n_per_row, const float* qw,
                            const quant_search_ops& ops) {
    int8_t L[QK_K], Ls[QK_K / 16];
    float scales[QK_K / 16], weight[QK_K], sw[QK_K / 16];  // weight: (16, 16)
    for (int64_t i = 0; i < n_per_row / QK_K; ++i, x += QK_K) {
        float sumx2 = 0;
        for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
        const float sigma2 = 2 * sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; ++j) {
            const float* w = qw + QK_K * i + 16 * j;
            float* wj = weight + 16 * j;
            for (int l = 0; l < 16; ++l) wj[l] = w[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 16; ++l) sumw += wj[l];
            sw[j] = sumw;
        }
        ops.qx1(QK_K / 16, 16, 4, x, L, scales, weight);
        std::memset(y[i].scales, 0, 12);
        const float d_block = make_qx_quants(QK_K / 16, 32, scales, Ls, 1, sw);
        for (int j = 0; j < QK_K / 16; ++j) q3_K_pack_scale(y[i].scales, j, Ls[j]);
        y[i].d = fp32_to_fp16(d_block);
        q3_K_finish(x, y[i], L, ops);
    }
}

// ggml quantize_row_q4_K_impl (with an importance vector)
void quantize_row_q4_K_impl(const float* x, block_q4_K* y, int64_t n_per_row, const float* qw,
                            const quant_search_ops& ops) {
    k4_quantize_row(x, y, n_per_row, 15, 0.f, 0.f, 0, qw, ops);
}

// ggml quantize_row_q5_K_impl (with an importance vector)
void quantize_row_q5_K_impl(const float* x, block_q5_K* y, int64_t n_per_row, const float* qw,
                            const quant_search_ops& ops) {
    k4_quantize_row(x, y, n_per_row, 31, 0.f, 0.f, 0, qw, ops);
}

// Q6_K: shared tail of the reference and importance quantizers, given the 16 sub-block
// scales from make_qx_quants; a block whose scales all vanish is stored as zeros.
void q6_K_finish(const float* x, block_q6_K& y, const float* scales, int8_t* L, const quant_search_ops& ops) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const float abs_scale = std::fabs(scales[ib]);
        if (abs_scale > max_abs_scale) {
            max_abs_scale = abs_scale;
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < kGroupMaxEps) {
        std::memset(&y, 0, sizeof(block_q6_K));
        y.d = fp32_to_fp16(0.f);
        return;
    }
    const float iscale = -128.f / max_scale;
    y.d = fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ++ib) {
        const int l = nearest_int(iscale * scales[ib]);
        y.scales[ib] = int8_t(l < 127 ? l : 127);
    }
    float d[QK_K / 16];
    for (int j = 0; j < QK_K / 16; ++j) d[j] = fp16_to_fp32(y.d) * y.scales[j];
    ops.requantize(QK_K / 16, 16, x, d, nullptr, -32, 31, 32, reinterpret_cast<uint8_t*>(L));
    uint8_t* ql = y.ql;
    uint8_t* qh = y.qh;
    for (int j = 0; j < QK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t q1 = L[j + l + 0] & 0xF;
            const uint8_t q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF;
            const uint8_t q4 = L[j + l + 96] & 0xF;
            ql[l + 0] = uint8_t(q1 | (q3 << 4));
            ql[l + 32] = uint8_t(q2 | (q4 << 4));
            qh[l] = uint8_t((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                            ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}

// ggml quantize_row_q6_K_impl (with an importance vector)
void quantize_row_q6_K_impl(const float* x, block_q6_K* y, int64_t n_per_row, const float* qw,
                            const quant_search_ops& ops) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n_per_row / QK_K; ++i, x += QK_K) {
        ops.qx1(QK_K / 16, 16, 32, x, L, scales, qw + QK_K * i);
        q6_K_finish(x, y[i], scales, L, ops);
    }
}

void quantize_row_q8_K_impl(const float* x, block_q8_K* y, int64_t n_per_row, const float*,
                            const quant_search_ops&) {
    quantize_row_q8_K_ref(x, y, n_per_row);
}

// The row quantizers without an importance vector, on a chosen search table.
void quantize_row_q2_K_ops(const float* x, block_q2_K* y, int64_t k, const quant_search_ops& ops) {
    uint8_t L[QK_K];
    float weights[QK_K], mins[QK_K / 16], scales[QK_K / 16];  // weights: (16, 16)
    const float q4scale = 15.f;
    for (int64_t i = 0; i < k / QK_K; ++i, x += QK_K) {
        for (int l = 0; l < QK_K; ++l) weights[l] = std::fabs(x[l]);
        ops.qkx2(QK_K / 16, 16, 3, x, weights, L, scales, mins, -0.5f, 0.1f, 15, true);
        float max_scale = 0, max_min = 0;  // the min is subtracted, so scales are positive
        for (int j = 0; j < QK_K / 16; ++j) {
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = uint8_t(nearest_int(iscale * scales[j]));
            y[i].d = fp32_to_fp16(max_scale / q4scale);
        } else {
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = 0;
            y[i].d = fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; ++j) {
                const int l = nearest_int(iscale * mins[j]);
                y[i].scales[j] = uint8_t(y[i].scales[j] | (l << 4));
            }
            y[i].dmin = fp32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = fp32_to_fp16(0.f);
        }
        q2_K_requantize(x, y[i], L, ops);
        pack_2bit(L, y[i].qs);
    }
}

void quantize_row_q3_K_ops(const float* x, block_q3_K* y, int64_t k, const quant_search_ops& ops) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < k / QK_K; ++i, x += QK_K) {
        ops.q3(QK_K / 16, 16, 4, x, L, scales);
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            const float scale = std::fabs(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        std::memset(y[i].scales, 0, 12);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) {
                int8_t l = int8_t(nearest_int(iscale * scales[j]));
                l = int8_t(clamp_int(l, -32, 31) + 32);
                q3_K_pack_scale(y[i].scales, j, l);
            }
            y[i].d = fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = fp32_to_fp16(0.f);
        }
        q3_K_finish(x, y[i], L, ops);
    }
}

void quantize_row_q4_K_ops(const float* x, block_q4_K* y, int64_t k, const quant_search_ops& ops) {
    k4_quantize_row(x, y, k, 15, -1.f, 0.1f, 20, nullptr, ops);
}

void quantize_row_q5_K_ops(const float* x, block_q5_K* y, int64_t k, const quant_search_ops& ops) {
    k4_quantize_row(x, y, k, 31, -0.5f, 0.1f, 15, nullptr, ops);
}

void quantize_row_q6_K_ops(const float* x, block_q6_K* y, int64_t k, const quant_search_ops& ops) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < k / QK_K; ++i, x += QK_K) {
        ops.qx1(QK_K / 16, 16, 32, x, L, scales, nullptr);
        q6_K_finish(x, y[i], scales, L, ops);
    }
}

void quantize_row_q8_K_ops(const float* x, block_q8_K* y, int64_t k, const quant_search_ops&) {
    quantize_row_q8_K_ref(x, y, k);
}

}  // namespace

// ---------------------------------------------------------------- reference quantizers

void quantize_row_q2_K_ref(const float* x, block_q2_K* y, int64_t k) {
    quantize_row_q2_K_ops(x, y, k, kSearchOpsRef);
}

void quantize_row_q3_K_ref(const float* x, block_q3_K* y, int64_t k) {
    quantize_row_q3_K_ops(x, y, k, kSearchOpsRef);
}

void quantize_row_q4_K_ref(const float* x, block_q4_K* y, int64_t k) {
    quantize_row_q4_K_ops(x, y, k, kSearchOpsRef);
}

void quantize_row_q5_K_ref(const float* x, block_q5_K* y, int64_t k) {
    quantize_row_q5_K_ops(x, y, k, kSearchOpsRef);
}

void quantize_row_q6_K_ref(const float* x, block_q6_K* y, int64_t k) {
    quantize_row_q6_K_ops(x, y, k, kSearchOpsRef);
}

// ggml quantize_row_q8_K_ref; an all-zero block also gets zero bsums (ggml leaves them).
void quantize_row_q8_K_ref(const float* x, block_q8_K* y, int64_t k) {
    for (int64_t i = 0; i < k / QK_K; ++i, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (!amax) {
            y[i].d = 0;
            std::memset(y[i].qs, 0, QK_K);
            std::memset(y[i].bsums, 0, sizeof(y[i].bsums));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; ++j) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = int8_t(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = int16_t(sum);
        }
        y[i].d = 1 / iscale;
    }
}

// ---------------------------------------------------------------- dequantizers

void dequantize_row_q2_K(const void* vx, float* y, int64_t k) {
    const block_q2_K* x = static_cast<const block_q2_K*>(vx);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const float min = fp16_to_fp32(x[i].dmin);
        const uint8_t* q = x[i].qs;
        int is = 0;
        for (int n = 0; n < QK_K; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; ++j) {
                for (int half = 0; half < 2; ++half) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    const uint8_t* qq = q + 16 * half;
                    for (int l = 0; l < 16; ++l) *y++ = dl * int8_t((qq[l] >> shift) & 3) - ml;
                }
                shift += 2;
            }
            q += 32;
        }
    }
}

void dequantize_row_q3_K(const void* vx, float* y, int64_t k) {
    const block_q3_K* x = static_cast<const block_q3_K*>(vx);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const float d_all = fp16_to_fp32(x[i].d);
        const uint8_t* q = x[i].qs;
        const uint8_t* hm = x[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int n = 0; n < QK_K; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; ++j) {
                for (int half = 0; half < 2; ++half) {
                    const float dl = d_all * q3_K_scale(x[i].scales, is++);
                    const uint8_t* qq = q + 16 * half;
                    const uint8_t* hh = hm + 16 * half;
                    for (int l = 0; l < 16; ++l) {
                        *y++ = dl * (int8_t((qq[l] >> shift) & 3) - ((hh[l] & m) ? 0 : 4));
                    }
                }
                shift += 2;
                m = uint8_t(m << 1);
            }
            q += 32;
        }
    }
}

void dequantize_row_q4_K(const void* vx, float* y, int64_t k) {
    const block_q4_K* x = static_cast<const block_q4_K*>(vx);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const uint8_t* q = x[i].qs;
        const float d = fp16_to_fp32(x[i].d);
        const float min = fp16_to_fp32(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        for (int j = 0; j < QK_K; j += 64) {
            get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
    }
}

void dequantize_row_q5_K(const void* vx, float* y, int64_t k) {
    const block_q5_K* x = static_cast<const block_q5_K*>(vx);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const uint8_t* ql = x[i].qs;
        const uint8_t* qh = x[i].qh;
        const float d = fp16_to_fp32(x[i].d);
        const float min = fp16_to_fp32(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < QK_K; j += 64) {
            get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            is += 2;
            u1 = uint8_t(u1 << 2);
            u2 = uint8_t(u2 << 2);
        }
    }
}

void dequantize_row_q6_K(const void* vx, float* y, int64_t k) {
    const block_q6_K* x = static_cast<const block_q6_K*>(vx);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const uint8_t* ql = x[i].ql;
        const uint8_t* qh = x[i].qh;
        const int8_t* sc = x[i].scales;
        for (int n = 0; n < QK_K; n += 128) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int8_t q1 = int8_t(((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                const int8_t q2 = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                const int8_t q3 = int8_t(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                const int8_t q4 = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

void dequantize_row_q8_K(const void* vx, float* y, int64_t k) {
    const block_q8_K* x = static_cast<const block_q8_K*>(vx);
    for (int64_t i = 0; i < k / QK_K; ++i) {
        for (int j = 0; j < QK_K; ++j) *y++ = x[i].d * x[i].qs[j];
    }
}

// ---------------------------------------------------------------- traits entries

size_t quantize_q2_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                         int64_t n_per_row, const float* imatrix) {
    return quantize_k_rows<block_q2_K, quantize_row_q2_K_ops, quantize_row_q2_K_impl>(ops, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q2_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q2_K_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q3_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                         int64_t n_per_row, const float* imatrix) {
    return quantize_k_rows<block_q3_K, quantize_row_q3_K_ops, quantize_row_q3_K_impl>(ops, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q3_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q3_K_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q4_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                         int64_t n_per_row, const float* imatrix) {
    return quantize_k_rows<block_q4_K, quantize_row_q4_K_ops, quantize_row_q4_K_impl>(ops, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q4_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q4_K_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q5_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                         int64_t n_per_row, const float* imatrix) {
    return quantize_k_rows<block_q5_K, quantize_row_q5_K_ops, quantize_row_q5_K_impl>(ops, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q5_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q5_K_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q6_K_with(const quant_search_ops& ops, const float* src, void* dst, int64_t nrow,
                         int64_t n_per_row, const float* imatrix) {
    return quantize_k_rows<block_q6_K, quantize_row_q6_K_ops, quantize_row_q6_K_impl>(ops, src, dst, nrow, n_per_row, imatrix);
}
size_t quantize_q6_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_q6_K_with(kSearchOpsRef, src, dst, nrow, n_per_row, imatrix);
}
// Q8_K is an activation format: no importance weighting.
size_t quantize_q8_K(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
    return quantize_k_rows<block_q8_K, quantize_row_q8_K_ops, quantize_row_q8_K_impl>(kSearchOpsRef, src, dst, nrow, n_per_row, nullptr);
}

}  // namespace pyggml
