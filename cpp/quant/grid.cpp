// grid.cpp: the grid view of the block formats (see grid.h).
//
// Per type: the level values, the per-group scale/offset a block encodes, and where
// each element's quant index lives in the block's bit fields. Element positions and
// the float arithmetic of the scales follow the dequantizers in quants_*.cpp exactly
// (the same products, in the same order), so scale * level + offset reproduces
// them bit for bit. Blocks are copied to a local struct first, so the input needs no
// alignment. Plain scalar code: this runs once per tensor, not per token.
#include "quant/grid.h"

#include <cstring>

#include "core/blocks.h"
#include "core/fp16.h"
#include "core/types.h"
#include "quant/kquant_scales.h"

namespace pyggml {
namespace {

// ---------------------------------------------------------------- bit-field helpers

// 32 elements in 16 bytes: element j < 16 is the low nibble of qs[j], element j + 16
// the high nibble (Q4_0, Q4_1, Q5_0/Q5_1 low bits, IQ4_NL, each IQ4_XS sub-block).
inline void unpack_nibbles32(const uint8_t* qs, uint8_t* idx) {
    for (int j = 0; j < 16; ++j) {
        idx[j] = qs[j] & 0xF;
        idx[j + 16] = qs[j] >> 4;
    }
}
inline void pack_nibbles32(uint8_t* qs, const uint8_t* idx) {
    for (int j = 0; j < 16; ++j) qs[j] = uint8_t((idx[j] & 0xF) | ((idx[j + 16] & 0xF) << 4));
}

// Bit e of a little-endian bit array.
inline int get_bit(const uint8_t* bits, int e) { return (bits[e / 8] >> (e % 8)) & 1; }
inline void set_bit(uint8_t* bits, int e, int v) {
    bits[e / 8] = uint8_t((bits[e / 8] & ~(1 << (e % 8))) | ((v & 1) << (e % 8)));
}

// Q2_K / Q3_K low 2 bits of element e (0..255): byte 32*(e/128) + e%32, bits 2*((e%128)/32).
inline int q2_byte(int e) { return 32 * (e / 128) + e % 32; }
inline int q2_shift(int e) { return 2 * ((e % 128) / 32); }

// Q4_K / Q5_K low 4 bits of element e: byte 32*(e/64) + e%32, high nibble when e%64 >= 32.
inline int q4k_byte(int e) { return 32 * (e / 64) + e % 32; }
inline int q4k_shift(int e) { return (e % 64) >= 32 ? 4 : 0; }

// ---------------------------------------------------------------- levels

void levels_q4_0(float* v) { for (int q = 0; q < 16; ++q) v[q] = float(q - 8); }
void levels_q5_0(float* v) { for (int q = 0; q < 32; ++q) v[q] = float(q - 16); }
void levels_q8_0(float* v) { for (int q = 0; q < 256; ++q) v[q] = float(q - 128); }
void levels_q3_K(float* v) { for (int q = 0; q < 8; ++q) v[q] = float(q - 4); }
void levels_q6_K(float* v) { for (int q = 0; q < 64; ++q) v[q] = float(q - 32); }
void levels_iq4(float* v) { for (int q = 0; q < 16; ++q) v[q] = float(kvalues_iq4nl[q]); }
template <int N>
void levels_unsigned(float* v) { for (int q = 0; q < N; ++q) v[q] = float(q); }

// ---------------------------------------------------------------- per-type blocks

// Q4_0: (q - 8) * d
void params_q4_0(const block_q4_0& b, float* s, float* o) { s[0] = fp16_to_fp32(b.d); o[0] = 0.0f; }
void unpack_q4_0(const block_q4_0& b, uint8_t* idx) { unpack_nibbles32(b.qs, idx); }
void pack_q4_0(block_q4_0& b, const uint8_t* idx) { pack_nibbles32(b.qs, idx); }

// Q4_1: q * d + m
void params_q4_1(const block_q4_1& b, float* s, float* o) { s[0] = fp16_to_fp32(b.d); o[0] = fp16_to_fp32(b.m); }
void unpack_q4_1(const block_q4_1& b, uint8_t* idx) { unpack_nibbles32(b.qs, idx); }
void pack_q4_1(block_q4_1& b, const uint8_t* idx) { pack_nibbles32(b.qs, idx); }

// Q5_0 / Q5_1: low nibbles as Q4_0, the 5th bit of element e is bit e of qh.
template <class B>
void unpack_q5(const B& b, uint8_t* idx) {
    unpack_nibbles32(b.qs, idx);
    for (int e = 0; e < 32; ++e) idx[e] = uint8_t(idx[e] | (get_bit(b.qh, e) << 4));
}
template <class B>
void pack_q5(B& b, const uint8_t* idx) {
    pack_nibbles32(b.qs, idx);
    for (int e = 0; e < 32; ++e) set_bit(b.qh, e, idx[e] >> 4);
}
void params_q5_0(const block_q5_0& b, float* s, float* o) { s[0] = fp16_to_fp32(b.d); o[0] = 0.0f; }
void params_q5_1(const block_q5_1& b, float* s, float* o) { s[0] = fp16_to_fp32(b.d); o[0] = fp16_to_fp32(b.m); }

// Q8_0: int8 * d, index = int8 + 128
void params_q8_0(const block_q8_0& b, float* s, float* o) { s[0] = fp16_to_fp32(b.d); o[0] = 0.0f; }
void unpack_q8_0(const block_q8_0& b, uint8_t* idx) {
    for (int e = 0; e < QK8_0; ++e) idx[e] = uint8_t(int(b.qs[e]) + 128);
}
void pack_q8_0(block_q8_0& b, const uint8_t* idx) {
    for (int e = 0; e < QK8_0; ++e) b.qs[e] = int8_t(int(idx[e]) - 128);
}

// Q2_K: (d * sc) * q - dmin * m, 16 groups of 16
void params_q2_K(const block_q2_K& b, float* s, float* o) {
    const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
    for (int g = 0; g < QK_K / 16; ++g) {
        s[g] = d * (b.scales[g] & 0xF);
        o[g] = -(dmin * (b.scales[g] >> 4));
    }
}
void unpack_q2_K(const block_q2_K& b, uint8_t* idx) { unpack_quants_q2_K(b.qs, idx); }
void pack_q2_K(block_q2_K& b, const uint8_t* idx) {
    std::memset(b.qs, 0, sizeof(b.qs));
    for (int e = 0; e < QK_K; ++e) b.qs[q2_byte(e)] |= uint8_t((idx[e] & 3) << q2_shift(e));
}

// Q3_K: (d * (sc - 32)) * (q - 4), q = low 2 bits | hmask bit << 2; 16 groups of 16.
// The hmask bit of element e is bit 4*(e/128) + (e%128)/32 of hmask[e%32].
inline int q3_hbit(int e) { return 4 * (e / 128) + (e % 128) / 32; }
void params_q3_K(const block_q3_K& b, float* s, float* o) {
    const float d = fp16_to_fp32(b.d);
    int8_t sc[QK_K / 16];
    unpack_scales_q3_K(b.scales, sc);
    for (int g = 0; g < QK_K / 16; ++g) {
        s[g] = d * sc[g];
        o[g] = 0.0f;
    }
}
void unpack_q3_K(const block_q3_K& b, uint8_t* idx) { unpack_quants_q3_K(b, idx); }
void pack_q3_K(block_q3_K& b, const uint8_t* idx) {
    std::memset(b.qs, 0, sizeof(b.qs));
    std::memset(b.hmask, 0, sizeof(b.hmask));
    for (int e = 0; e < QK_K; ++e) {
        b.qs[q2_byte(e)] |= uint8_t((idx[e] & 3) << q2_shift(e));
        b.hmask[e % 32] |= uint8_t(((idx[e] >> 2) & 1) << q3_hbit(e));
    }
}

// Q4_K / Q5_K: (d * sc) * q - dmin * m, 8 groups of 32
template <class B>
void params_q45_K(const B& b, float* s, float* o) {
    const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
    uint8_t sc[8], m[8];
    unpack_scales_mins_k4(b.scales, sc, m);
    for (int g = 0; g < 8; ++g) {
        s[g] = d * sc[g];
        o[g] = -(dmin * m[g]);
    }
}
void unpack_q4_K(const block_q4_K& b, uint8_t* idx) {
    for (int e = 0; e < QK_K; ++e) idx[e] = uint8_t((b.qs[q4k_byte(e)] >> q4k_shift(e)) & 0xF);
}
void pack_q4_K(block_q4_K& b, const uint8_t* idx) {
    std::memset(b.qs, 0, sizeof(b.qs));
    for (int e = 0; e < QK_K; ++e) b.qs[q4k_byte(e)] |= uint8_t((idx[e] & 0xF) << q4k_shift(e));
}
// Q5_K: the 5th bit of element e is bit e/32 of qh[e%32].
void unpack_q5_K(const block_q5_K& b, uint8_t* idx) {
    for (int e = 0; e < QK_K; ++e) {
        const int lo = (b.qs[q4k_byte(e)] >> q4k_shift(e)) & 0xF;
        const int hi = (b.qh[e % 32] >> (e / 32)) & 1;
        idx[e] = uint8_t(lo | (hi << 4));
    }
}
void pack_q5_K(block_q5_K& b, const uint8_t* idx) {
    std::memset(b.qs, 0, sizeof(b.qs));
    std::memset(b.qh, 0, sizeof(b.qh));
    for (int e = 0; e < QK_K; ++e) {
        b.qs[q4k_byte(e)] |= uint8_t((idx[e] & 0xF) << q4k_shift(e));
        b.qh[e % 32] |= uint8_t(((idx[e] >> 4) & 1) << (e / 32));
    }
}

// Q6_K: (d * sc) * (q - 32), 16 groups of 16. Element e = 128*n + 32*quad + l:
// low 4 bits in ql[64n + l + 32*(quad&1)] (high nibble when quad >= 2),
// high 2 bits at shift 2*quad of qh[32n + l].
inline int q6_ql_byte(int e) { return 64 * (e / 128) + e % 32 + 32 * (((e % 128) / 32) & 1); }
inline int q6_ql_shift(int e) { return (e % 128) / 32 >= 2 ? 4 : 0; }
inline int q6_qh_byte(int e) { return 32 * (e / 128) + e % 32; }
inline int q6_qh_shift(int e) { return 2 * ((e % 128) / 32); }
void params_q6_K(const block_q6_K& b, float* s, float* o) {
    const float d = fp16_to_fp32(b.d);
    for (int g = 0; g < QK_K / 16; ++g) {
        s[g] = d * b.scales[g];
        o[g] = 0.0f;
    }
}
void unpack_q6_K(const block_q6_K& b, uint8_t* idx) { unpack_quants_q6_K(b, idx); }
void pack_q6_K(block_q6_K& b, const uint8_t* idx) {
    std::memset(b.ql, 0, sizeof(b.ql));
    std::memset(b.qh, 0, sizeof(b.qh));
    for (int e = 0; e < QK_K; ++e) {
        b.ql[q6_ql_byte(e)] |= uint8_t((idx[e] & 0xF) << q6_ql_shift(e));
        b.qh[q6_qh_byte(e)] |= uint8_t(((idx[e] >> 4) & 3) << q6_qh_shift(e));
    }
}

// IQ4_NL: d * kvalues_iq4nl[q]
void params_iq4_nl(const block_iq4_nl& b, float* s, float* o) { s[0] = fp16_to_fp32(b.d); o[0] = 0.0f; }
void unpack_iq4_nl(const block_iq4_nl& b, uint8_t* idx) { unpack_nibbles32(b.qs, idx); }
void pack_iq4_nl(block_iq4_nl& b, const uint8_t* idx) { pack_nibbles32(b.qs, idx); }

// IQ4_XS: (d * (ls - 32)) * kvalues_iq4nl[q], 8 groups of 32, each 16 bytes of nibbles.
void params_iq4_xs(const block_iq4_xs& b, float* s, float* o) {
    const float d = fp16_to_fp32(b.d);
    for (int g = 0; g < QK_K / 32; ++g) {
        s[g] = d * scale_iq4_xs(b, g);
        o[g] = 0.0f;
    }
}
void unpack_iq4_xs(const block_iq4_xs& b, uint8_t* idx) {
    for (int g = 0; g < QK_K / 32; ++g) unpack_nibbles32(b.qs + 16 * g, idx + 32 * g);
}
void pack_iq4_xs(block_iq4_xs& b, const uint8_t* idx) {
    for (int g = 0; g < QK_K / 32; ++g) pack_nibbles32(b.qs + 16 * g, idx + 32 * g);
}

// ---------------------------------------------------------------- byte-level adapters

template <class B, void (*F)(const B&, float*, float*)>
void params_bytes(const uint8_t* p, float* s, float* o) {
    B b;
    std::memcpy(&b, p, sizeof(B));
    F(b, s, o);
}
template <class B, void (*F)(const B&, uint8_t*)>
void unpack_bytes(const uint8_t* p, uint8_t* idx) {
    B b;
    std::memcpy(&b, p, sizeof(B));
    F(b, idx);
}
template <class B, void (*F)(B&, const uint8_t*)>
void pack_bytes(uint8_t* p, const uint8_t* idx) {
    B b;
    std::memcpy(&b, p, sizeof(B));
    F(b, idx);
    std::memcpy(p, &b, sizeof(B));
}

#define GRID_ENTRY(NAME, TYPE, BLOCK, QK, GROUP, NLEV, LEVELS, P, U, K)                       \
    grid_format {                                                                             \
        NAME, TYPE, QK, sizeof(BLOCK), GROUP, NLEV, LEVELS, &params_bytes<BLOCK, P>,          \
            &unpack_bytes<BLOCK, U>, &pack_bytes<BLOCK, K>                                    \
    }

const grid_format kGridFormats[] = {
    GRID_ENTRY("Q4_0", GGML_TYPE_Q4_0, block_q4_0, QK4_0, 32, 16, levels_q4_0, params_q4_0, unpack_q4_0, pack_q4_0),
    GRID_ENTRY("Q4_1", GGML_TYPE_Q4_1, block_q4_1, QK4_1, 32, 16, levels_unsigned<16>, params_q4_1, unpack_q4_1, pack_q4_1),
    GRID_ENTRY("Q5_0", GGML_TYPE_Q5_0, block_q5_0, QK5_0, 32, 32, levels_q5_0, params_q5_0, unpack_q5<block_q5_0>, pack_q5<block_q5_0>),
    GRID_ENTRY("Q5_1", GGML_TYPE_Q5_1, block_q5_1, QK5_1, 32, 32, levels_unsigned<32>, params_q5_1, unpack_q5<block_q5_1>, pack_q5<block_q5_1>),
    GRID_ENTRY("Q8_0", GGML_TYPE_Q8_0, block_q8_0, QK8_0, 32, 256, levels_q8_0, params_q8_0, unpack_q8_0, pack_q8_0),
    GRID_ENTRY("Q2_K", GGML_TYPE_Q2_K, block_q2_K, QK_K, 16, 4, levels_unsigned<4>, params_q2_K, unpack_q2_K, pack_q2_K),
    GRID_ENTRY("Q3_K", GGML_TYPE_Q3_K, block_q3_K, QK_K, 16, 8, levels_q3_K, params_q3_K, unpack_q3_K, pack_q3_K),
    GRID_ENTRY("Q4_K", GGML_TYPE_Q4_K, block_q4_K, QK_K, 32, 16, levels_unsigned<16>, params_q45_K<block_q4_K>, unpack_q4_K, pack_q4_K),
    GRID_ENTRY("Q5_K", GGML_TYPE_Q5_K, block_q5_K, QK_K, 32, 32, levels_unsigned<32>, params_q45_K<block_q5_K>, unpack_q5_K, pack_q5_K),
    GRID_ENTRY("Q6_K", GGML_TYPE_Q6_K, block_q6_K, QK_K, 16, 64, levels_q6_K, params_q6_K, unpack_q6_K, pack_q6_K),
    GRID_ENTRY("IQ4_NL", GGML_TYPE_IQ4_NL, block_iq4_nl, QK4_NL, 32, 16, levels_iq4, params_iq4_nl, unpack_iq4_nl, pack_iq4_nl),
    GRID_ENTRY("IQ4_XS", GGML_TYPE_IQ4_XS, block_iq4_xs, QK_K, 32, 16, levels_iq4, params_iq4_xs, unpack_iq4_xs, pack_iq4_xs),
};

#undef GRID_ENTRY

}  // namespace

const grid_format* get_grid_format(int32_t type) {
    for (const grid_format& f : kGridFormats) {
        if (f.type == type) return &f;
    }
    return nullptr;
}

void grid_params_rows(const grid_format& f, const uint8_t* data, int64_t nrows, int64_t ncols,
                      float* scale, float* offset) {
    const int64_t nblocks = nrows * (ncols / f.block_size);
    const int64_t groups_per_block = f.block_size / f.group_size;
    for (int64_t i = 0; i < nblocks; ++i) {
        f.params(data + i * f.block_bytes, scale + i * groups_per_block, offset + i * groups_per_block);
    }
}

void grid_unpack_rows(const grid_format& f, const uint8_t* data, int64_t nrows, int64_t ncols,
                      uint8_t* idx) {
    const int64_t nblocks = nrows * (ncols / f.block_size);
    for (int64_t i = 0; i < nblocks; ++i) f.unpack(data + i * f.block_bytes, idx + i * f.block_size);
}

void grid_pack_rows(const grid_format& f, uint8_t* data, int64_t nrows, int64_t ncols,
                    const uint8_t* idx) {
    const int64_t nblocks = nrows * (ncols / f.block_size);
    for (int64_t i = 0; i < nblocks; ++i) f.pack(data + i * f.block_bytes, idx + i * f.block_size);
}

}  // namespace pyggml
