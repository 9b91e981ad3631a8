// vec_dot_iq_avx2.cpp: AVX2 twins of kernels/vec_dot_iq.cpp (IQ2_XXS .. IQ1_M x Q8_K), and
// the decoders and kernels over decoded rows (block_grid_decoded) that matmul uses for many
// tokens. Every kernel gives the scalar reference's floats bit for bit: the integer lanes of a
// super-block are summed to its exact isum, then the float operations are the reference's, in
// its order (kernels/grid_x8.h).
//
// Per 32 elements the grid points are gathered into one vector of magnitudes (IQ2/IQ3:
// unsigned, <= 62): the IQ3 types' eight 4-byte points with one vpgatherdd, the 8-byte points
// of IQ2 and IQ1 with scalar loads (four-lane gathers measured slower on AMD Zen 4, eight-lane
// ones faster; four-lane gathers as fast as scalar loads on an Intel Xeon not affected by
// gather data sampling). The sign bytes become +-1 bytes (a table or a shuffle); vpsignb
// applies them to the activations and vpmaddubsw/vpmaddwd form (2 s + 1) * pair sums in int32
// lanes (|pair| <= 2 * 62 * 127, times 31: far inside int32). IQ1's grid values are -1, 0, 1:
// vpsignb takes them directly, and its +-1/8 shift sums the activations of each 8.
//
// The one-token kernels (one to four tokens) of all but IQ3_S first prepare each super-block
// with a few vector operations: its 32 grid indices (stored, then read back with scalar
// loads), its sign bytes (IQ1_M: shift signs; IQ1_S: none) and its scale words; per 32
// elements only the grid loads and a vpshufb each for signs and scales remain. The decoders
// keep the per-32 chunk functions.
#include "arch/x86/avx2_dot_helpers.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "quant/iq_grids.h"

namespace pyggml {

namespace {

// Per token t < NT <= 4 (lane t): the super-block's exact isum (the sum of sumi[t]'s 8 lanes)
// goes into acc as the reference adds it: acc + (dx * d_y) * (isum * pre).
template <int NT>
inline void add_superblock(const __m256i* sumi, float dx, const block_q8_K* const* y, int i, float pre, __m128& acc) {
    if constexpr (NT == 1) {  // one token (matvec): the shortest way, in lane 0
        __m128i r = _mm_add_epi32(_mm256_castsi256_si128(sumi[0]), _mm256_extracti128_si256(sumi[0], 1));
        r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
        r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 1));
        const __m128 v = _mm_mul_ss(_mm_cvtepi32_ps(r), _mm_set_ss(pre));
        acc = _mm_add_ss(acc, _mm_mul_ss(_mm_set_ss(dx * y[0][i].d), v));
        return;
    }
    const __m256i z = _mm256_setzero_si256();
    __m256i ab = sumi[0], cd = z;
    if constexpr (NT > 1) ab = _mm256_hadd_epi32(sumi[0], sumi[1]);
    if constexpr (NT == 3) cd = _mm256_hadd_epi32(sumi[2], z);
    if constexpr (NT == 4) cd = _mm256_hadd_epi32(sumi[2], sumi[3]);
    const __m256i q = _mm256_hadd_epi32(ab, cd);
    const __m128i isum = _mm_add_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    float yd[4] = {};
    for (int t = 0; t < NT; ++t) yd[t] = y[t][i].d;
    __m128 v = _mm_cvtepi32_ps(isum);
    if (pre != 1.0f) v = _mm_mul_ps(v, _mm_set1_ps(pre));
    acc = _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(dx), _mm_loadu_ps(yd)), v));
}

// s[t * bs] = lane t of acc * post.
template <int NT>
inline void store_tokens(__m128 acc, float post, float* s, size_t bs) {
    float out[4];
    _mm_storeu_ps(out, _mm_mul_ps(acc, _mm_set1_ps(post)));
    for (int t = 0; t < NT; ++t) s[t * bs] = out[t];
}

// A sign byte (bit j: element j negative) as eight bytes +1 / -1, for every byte value.
struct sign_table {
    uint64_t bytes[256];
    constexpr sign_table() : bytes() {
        for (int b = 0; b < 256; ++b) {
            uint64_t v = 0;
            for (int j = 0; j < 8; ++j) v |= uint64_t((b >> j) & 1 ? 0xFF : 0x01) << (8 * j);
            bytes[b] = v;
        }
    }
};
constexpr sign_table kSignBytes{};

// 32 sign bits (bit j of byte k: element 8 k + j negative) -> 32 bytes +1 / -1: each byte of
// the word spread over its 8 elements, one bit tested per element.
inline __m256i sign_bytes(uint32_t four) {
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
    const __m256i bits = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(int(four)), spread), bit);
    return _mm256_or_si256(_mm256_cmpeq_epi8(bits, bit), _mm256_set1_epi8(1));
}
// The 7-bit sign codes of IQ2_XXS / IQ2_XS / IQ3_XXS (the eighth sign their parity) as eight
// bytes +1 / -1.
struct code_sign_table {
    uint64_t bytes[128];
    constexpr code_sign_table() : bytes() {
        for (uint32_t c = 0; c < 128; ++c) bytes[c] = kSignBytes.bytes[ksigns_iq2xs(c)];
    }
};
constexpr code_sign_table kCodeSigns{};

inline __m256i code_signs(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3) {
    return _mm256_set_epi64x(int64_t(kCodeSigns.bytes[c3 & 127]), int64_t(kCodeSigns.bytes[c2 & 127]),
                             int64_t(kCodeSigns.bytes[c1 & 127]), int64_t(kCodeSigns.bytes[c0 & 127]));
}

// Scale words (2 s + 1) for elements 0..15 and 16..31, one per int16 pair sum.
inline __m256i half_scales(int s0, int s1) {
    return _mm256_setr_m128i(_mm_set1_epi16(short(2 * s0 + 1)), _mm_set1_epi16(short(2 * s1 + 1)));
}

struct chunk_vectors {
    __m256i mag;    // grid magnitudes (IQ2/IQ3) or signed grid values (IQ1)
    __m256i signs;  // +-1 per element (IQ2/IQ3)
    __m256i scales;
};

inline chunk_vectors chunk_iq2_xxs(const block_iq2_xxs& b, int ib) {
    uint32_t aux[2];
    std::memcpy(aux, b.qs + 4 * ib, 8);
    const __m256i sg = code_signs(aux[1], aux[1] >> 7, aux[1] >> 14, aux[1] >> 21);
    const __m256i mag = _mm256_set_epi64x(int64_t(iq2xxs_grid[aux[0] >> 24]), int64_t(iq2xxs_grid[(aux[0] >> 16) & 0xFF]),
                                          int64_t(iq2xxs_grid[(aux[0] >> 8) & 0xFF]), int64_t(iq2xxs_grid[aux[0] & 0xFF]));
    const int s = int(aux[1] >> 28);
    return {mag, sg, half_scales(s, s)};
}

inline chunk_vectors chunk_iq2_xs(const block_iq2_xs& b, int ib) {
    const uint16_t* q = b.qs + 4 * ib;
    const __m256i sg = code_signs(q[0] >> 9, q[1] >> 9, q[2] >> 9, q[3] >> 9);
    const __m256i mag = _mm256_set_epi64x(int64_t(iq2xs_grid[q[3] & 511]), int64_t(iq2xs_grid[q[2] & 511]),
                                          int64_t(iq2xs_grid[q[1] & 511]), int64_t(iq2xs_grid[q[0] & 511]));
    return {mag, sg, half_scales(b.scales[ib] & 0xF, b.scales[ib] >> 4)};
}

inline chunk_vectors chunk_iq2_s(const block_iq2_s& b, int ib) {
    const uint8_t* qs = b.qs + 4 * ib;
    const int qh = b.qh[ib];
    uint32_t sg;
    std::memcpy(&sg, b.qs + QK_K / 8 + 4 * ib, 4);
    const __m256i mag = _mm256_set_epi64x(int64_t(iq2s_grid[qs[3] | ((qh << 2) & 0x300)]), int64_t(iq2s_grid[qs[2] | ((qh << 4) & 0x300)]),
                                          int64_t(iq2s_grid[qs[1] | ((qh << 6) & 0x300)]), int64_t(iq2s_grid[qs[0] | ((qh << 8) & 0x300)]));
    return {mag, sign_bytes(sg), half_scales(b.scales[ib] & 0xF, b.scales[ib] >> 4)};
}

inline chunk_vectors chunk_iq3_xxs(const block_iq3_xxs& b, int ib) {
    const uint8_t* q3 = b.qs + 8 * ib;
    uint32_t aux;
    std::memcpy(&aux, b.qs + QK_K / 4 + 4 * ib, 4);
    const __m256i sg = code_signs(aux, aux >> 7, aux >> 14, aux >> 21);
    const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q3)));
    const __m256i mag = _mm256_i32gather_epi32(reinterpret_cast<const int*>(iq3xxs_grid), idx, 4);
    const int s = int(aux >> 28);
    return {mag, sg, half_scales(s, s)};
}

inline chunk_vectors chunk_iq3_s(const block_iq3_s& b, int ib) {
    const uint8_t* qs = b.qs + 8 * ib;
    const int qh = b.qh[ib];
    uint32_t sg;
    std::memcpy(&sg, b.signs + 4 * ib, 4);
    // index k: qs[k] and bit k of qh as bit 8
    const __m128i lo = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs));
    const __m256i hi = _mm256_and_si256(_mm256_sllv_epi32(_mm256_set1_epi32(qh), _mm256_setr_epi32(8, 7, 6, 5, 4, 3, 2, 1)),
                                        _mm256_set1_epi32(256));
    const __m256i idx = _mm256_or_si256(_mm256_cvtepu8_epi32(lo), hi);
    const __m256i mag = _mm256_i32gather_epi32(reinterpret_cast<const int*>(iq3s_grid), idx, 4);
    const int s = (b.scales[ib / 2] >> (4 * (ib % 2))) & 0xF;
    return {mag, sign_bytes(sg), half_scales(s, s)};
}

// The indices stored to memory, to be read back with scalar loads: without this the compiler
// keeps them in vector registers and takes each out with vpextrw (two uops, one on the
// shuffle port the rest of the loop needs).
inline const uint16_t* stored(const uint16_t* p) {
    asm("" : "+r"(p));
    return p;
}

// vpshufb patterns per 32 elements c.
struct iq_picks {
    alignas(32) uint8_t s_scale[8][32];  // word c in both lanes
    alignas(32) uint8_t m_scale[8][32];  // IQ1_M: word (0, 4, 1, 5, 2, 6, 3, 7)[c] in both lanes
    alignas(32) uint8_t m_shift[4][32];  // byte 4 c + j over elements 8 j .. 8 j + 7 (a group's byte)
    constexpr iq_picks() : s_scale(), m_scale(), m_shift() {
        constexpr int pos[8] = {0, 4, 1, 5, 2, 6, 3, 7};
        for (int c = 0; c < 8; ++c) {
            for (int b = 0; b < 32; ++b) {
                s_scale[c][b] = uint8_t(2 * c + (b & 1));
                m_scale[c][b] = uint8_t(2 * pos[c] + (b & 1));
            }
        }
        for (int c = 0; c < 4; ++c) {
            for (int b = 0; b < 32; ++b) m_shift[c][b] = uint8_t(4 * c + b / 8);
        }
    }
};
constexpr iq_picks kPicks{};

inline __m256i pick(__m256i v, const uint8_t* pattern) {
    return _mm256_shuffle_epi8(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(pattern)));
}

// ---- IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, one to four tokens: as IQ1 below, a super-block's
// grid indices, sign bytes and scale words formed with vector operations once; per 32
// elements the grid loads, one vpshufb for the signs and one for the scales.

struct grid_superblock {
    alignas(32) uint16_t idx[32];  // IQ2_XS / IQ2_S: grid index of each group of 8 elements
    __m256i signs[2];              // byte per group (bit j: element j negative), 0..15 / 16..31 in both lanes
    __m256i scales;                // 2 s + 1 words, word c (lane 0: first 16, lane 1: second)
};

// The sign bytes of groups 4 c .. 4 c + 3 as +-1 per element.
inline __m256i group_signs(const grid_superblock& sb, int c) {
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
    const __m256i b = _mm256_and_si256(pick(sb.signs[c / 4], kPicks.m_shift[c % 4]), bit);
    return _mm256_or_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(1));
}

// 7-bit sign codes (bytes) with their eighth bit, the parity (ksigns_iq2xs).
inline __m256i complete_sign_codes(__m256i codes) {
    const __m256i odd = _mm256_setr_epi8(0, -128, -128, 0, -128, 0, 0, -128, -128, 0, 0, -128, 0, -128, -128, 0,
                                         0, -128, -128, 0, -128, 0, 0, -128, -128, 0, 0, -128, 0, -128, -128, 0);
    const __m256i fold = _mm256_and_si256(_mm256_xor_si256(codes, _mm256_srli_epi16(codes, 4)), _mm256_set1_epi8(0x0F));
    return _mm256_or_si256(codes, _mm256_shuffle_epi8(odd, fold));
}

inline void set_signs(grid_superblock& sb, __m256i bytes) {
    sb.signs[0] = _mm256_permute2x128_si256(bytes, bytes, 0x00);
    sb.signs[1] = _mm256_permute2x128_si256(bytes, bytes, 0x11);
}

// IQ2_XS / IQ2_S: a scale byte per 32, its low nibble for the first 16, its high for the second.
inline __m256i nibble_scales(const uint8_t* scales) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m256i s = _mm256_setr_m128i(_mm_cvtepu8_epi16(_mm_and_si128(b, m4)), _mm_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(b, 4), m4)));
    return _mm256_add_epi16(_mm256_slli_epi16(s, 1), _mm256_set1_epi16(1));
}

// IQ2_XS: word k = 9-bit grid index | 7-bit sign code << 9.
inline void prepare_iq2_xs(const block_iq2_xs& b, grid_superblock& sb) {
    const __m256i q0 = loadu(b.qs), q1 = loadu(b.qs + 16);
    const __m256i m511 = _mm256_set1_epi16(511);
    _mm256_store_si256(reinterpret_cast<__m256i*>(sb.idx), _mm256_and_si256(q0, m511));
    _mm256_store_si256(reinterpret_cast<__m256i*>(sb.idx + 16), _mm256_and_si256(q1, m511));
    const __m256i codes = _mm256_permute4x64_epi64(_mm256_packus_epi16(_mm256_srli_epi16(q0, 9), _mm256_srli_epi16(q1, 9)), 0xD8);
    set_signs(sb, complete_sign_codes(codes));
    sb.scales = nibble_scales(b.scales);
}

// IQ2_S: group 4 c + j: qs[k] | bits 2 j, 2 j + 1 of qh[c] as bits 8, 9; sign bytes follow qs.
inline void prepare_iq2_s(const block_iq2_s& b, grid_superblock& sb) {
    const __m128i qh = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qh));
    const __m128i rep0 = _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m128i rep1 = _mm_add_epi8(rep0, _mm_set1_epi8(4));
    const __m256i up = _mm256_setr_epi16(256, 64, 16, 4, 256, 64, 16, 4, 256, 64, 16, 4, 256, 64, 16, 4);
    const __m256i m300 = _mm256_set1_epi16(0x300);
    const __m256i h0 = _mm256_and_si256(_mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm_shuffle_epi8(qh, rep0)), up), m300);
    const __m256i h1 = _mm256_and_si256(_mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm_shuffle_epi8(qh, rep1)), up), m300);
    const __m128i* qs = reinterpret_cast<const __m128i*>(b.qs);
    _mm256_store_si256(reinterpret_cast<__m256i*>(sb.idx), _mm256_or_si256(_mm256_cvtepu8_epi16(_mm_loadu_si128(qs)), h0));
    _mm256_store_si256(reinterpret_cast<__m256i*>(sb.idx + 16), _mm256_or_si256(_mm256_cvtepu8_epi16(_mm_loadu_si128(qs + 1)), h1));
    set_signs(sb, loadu(b.qs + QK_K / 8));
    sb.scales = nibble_scales(b.scales);
}

// IQ2_XXS, IQ3_XXS: dword c of a = four 7-bit sign codes | scale << 28 (the grid indices are
// bytes of the block).
inline void set_coded_signs_and_scales(grid_superblock& sb, __m256i a) {
    const __m256i m127 = _mm256_set1_epi32(127);
    const __m256i c01 = _mm256_or_si256(_mm256_and_si256(a, m127), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(a, 7), m127), 8));
    const __m256i c23 = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(a, 14), m127), 16),
                                        _mm256_slli_epi32(_mm256_srli_epi32(_mm256_slli_epi32(a, 4), 25), 24));
    set_signs(sb, complete_sign_codes(_mm256_or_si256(c01, c23)));
    const __m256i ls = _mm256_add_epi32(_mm256_slli_epi32(_mm256_srli_epi32(a, 28), 1), _mm256_set1_epi32(1));
    sb.scales = _mm256_broadcastsi128_si256(_mm_packus_epi32(_mm256_castsi256_si128(ls), _mm256_extracti128_si256(ls, 1)));
}

// IQ2_XXS: per 32, a dword of four grid index bytes, then one of codes and scale.
inline void prepare_iq2_xxs(const block_iq2_xxs& b, grid_superblock& sb) {
    const __m256 d0 = _mm256_castsi256_ps(loadu(b.qs)), d1 = _mm256_castsi256_ps(loadu(b.qs + 16));
    // odd dwords: chunks (0, 1, 4, 5 | 2, 3, 6, 7), then in order
    set_coded_signs_and_scales(sb, _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(d0, d1, 0xDD)), 0xD8));
}
inline void prepare_iq3_xxs(const block_iq3_xxs& b, grid_superblock& sb) { set_coded_signs_and_scales(sb, loadu(b.qs + QK_K / 4)); }

// The grid magnitudes of groups 4 c .. 4 c + 3.
template <const uint64_t* Grid>
inline __m256i grid8_mags(const uint16_t* idx, int c) {
    const uint16_t* k = stored(idx) + 4 * c;
    return _mm256_set_epi64x(int64_t(Grid[k[3]]), int64_t(Grid[k[2]]), int64_t(Grid[k[1]]), int64_t(Grid[k[0]]));
}
inline __m256i mags_iq2_xs(const block_iq2_xs&, const grid_superblock& sb, int c) { return grid8_mags<iq2xs_grid>(sb.idx, c); }
inline __m256i mags_iq2_s(const block_iq2_s&, const grid_superblock& sb, int c) { return grid8_mags<iq2s_grid>(sb.idx, c); }
inline __m256i mags_iq2_xxs(const block_iq2_xxs& b, const grid_superblock&, int c) {
    const uint8_t* k = reinterpret_cast<const uint8_t*>(b.qs) + 8 * c;
    return _mm256_set_epi64x(int64_t(iq2xxs_grid[k[3]]), int64_t(iq2xxs_grid[k[2]]), int64_t(iq2xxs_grid[k[1]]),
                             int64_t(iq2xxs_grid[k[0]]));
}
inline __m256i mags_iq3_xxs(const block_iq3_xxs& b, const grid_superblock&, int c) {
    const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + 8 * c)));
    return _mm256_i32gather_epi32(reinterpret_cast<const int*>(iq3xxs_grid), idx, 4);
}

// dot_grid_nt's sums and float operations, from prepared super-blocks.
template <int NT, typename B, void (*Prepare)(const B&, grid_superblock&), __m256i (*Mags)(const B&, const grid_superblock&, int)>
void dot_grid_sb_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by, float factor) {
    const B* x = static_cast<const B*>(vx);
    const block_q8_K* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = row_ptr<block_q8_K>(vy, by, t);
    __m128 acc = _mm_setzero_ps();
    grid_superblock sb;
    for (int i = 0; i < n / QK_K; ++i) {
        Prepare(x[i], sb);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int c = 0; c < QK_K / 32; ++c) {
            const __m256i mag = Mags(x[i], sb, c);
            const __m256i signs = group_signs(sb, c);
            const __m256i sc = pick(sb.scales, kPicks.s_scale[c]);
            for (int t = 0; t < NT; ++t) {
                const __m256i sy = _mm256_sign_epi8(loadu(y[t][i].qs + 32 * c), signs);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(_mm256_maddubs_epi16(mag, sy), sc));
            }
        }
        add_superblock<NT>(sumi, h2f(x[i].d), y, i, 1.0f, acc);
    }
    store_tokens<NT>(acc, factor, s, bs);
}

template <int NT, typename B, chunk_vectors (*Chunk)(const B&, int)>
void dot_grid_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by, float factor) {
    const B* x = static_cast<const B*>(vx);
    const block_q8_K* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = row_ptr<block_q8_K>(vy, by, t);
    __m128 acc = _mm_setzero_ps();
    for (int i = 0; i < n / QK_K; ++i) {
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const chunk_vectors c = Chunk(x[i], ib);
            for (int t = 0; t < NT; ++t) {
                const __m256i sy = _mm256_sign_epi8(loadu(y[t][i].qs + 32 * ib), c.signs);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(_mm256_maddubs_epi16(c.mag, sy), c.scales));
            }
        }
        add_superblock<NT>(sumi, h2f(x[i].d), y, i, 1.0f, acc);
    }
    store_tokens<NT>(acc, factor, s, bs);
}

template <int NT>
void dot_iq2_xxs_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_grid_sb_nt<NT, block_iq2_xxs, prepare_iq2_xxs, mags_iq2_xxs>(n, s, bs, x, y, by, 0.125f);
}
template <int NT>
void dot_iq2_xs_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_grid_sb_nt<NT, block_iq2_xs, prepare_iq2_xs, mags_iq2_xs>(n, s, bs, x, y, by, 0.125f);
}
template <int NT>
void dot_iq2_s_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_grid_sb_nt<NT, block_iq2_s, prepare_iq2_s, mags_iq2_s>(n, s, bs, x, y, by, 0.125f);
}
template <int NT>
void dot_iq3_xxs_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_grid_sb_nt<NT, block_iq3_xxs, prepare_iq3_xxs, mags_iq3_xxs>(n, s, bs, x, y, by, 0.25f);
}
template <int NT>
void dot_iq3_s_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_grid_nt<NT, block_iq3_s, chunk_iq3_s>(n, s, bs, x, y, by, 1.0f);
}
PYGGML_AVX2_NT_KERNEL(dot_iq2_xxs)
PYGGML_AVX2_NT_KERNEL(dot_iq2_xs)
PYGGML_AVX2_NT_KERNEL(dot_iq2_s)
PYGGML_AVX2_NT_KERNEL(dot_iq3_xxs)
PYGGML_AVX2_NT_KERNEL(dot_iq3_s)

// ---- decoded rows (block_grid_decoded): the grid gathers done once per row and tile -----
// (IQ1's decoder follows its chunk functions below.)

// A row of n elements decoded: per 32, the signed grid values and the two scale words.
template <typename B, chunk_vectors (*Chunk)(const B&, int)>
void decode_grid(const void* vx, void* vy, int n) {
    const B* x = static_cast<const B*>(vx);
    block_grid_decoded* y = static_cast<block_grid_decoded*>(vy);
    for (int i = 0; i < n / QK_K; ++i) {
        y[i].d = h2f(x[i].d);
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const chunk_vectors c = Chunk(x[i], ib);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + 32 * ib), _mm256_sign_epi8(c.mag, c.signs));
            y[i].scales[2 * ib] = int16_t(_mm256_extract_epi16(c.scales, 0));
            y[i].scales[2 * ib + 1] = int16_t(_mm256_extract_epi16(c.scales, 8));
        }
    }
}

size_t decoded_grid_row_size(int n) { return size_t(n / QK_K) * sizeof(block_grid_decoded); }

// The one-token kernels (dot_grid_sb_nt, dot_grid_nt, dot_iq1_s_nt, dot_iq1_m_nt) over decoded rows: |q| times the activations with q's signs (grid
// magnitudes are never 0) gives the same isum, so the same floats (grid_x8.h: PreDen, PostDen).
template <int NT, int PreDen, int PostDen>
void dot_decoded_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_grid_decoded* x = static_cast<const block_grid_decoded*>(vx);
    const block_q8_K* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = row_ptr<block_q8_K>(vy, by, t);
    __m128 acc = _mm_setzero_ps();
    for (int i = 0; i < n / QK_K; ++i) {
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const __m256i q = loadu(x[i].qs + 32 * ib);
            const __m256i mag = _mm256_sign_epi8(q, q);
            const __m256i sc = _mm256_setr_m128i(_mm_set1_epi16(x[i].scales[2 * ib]), _mm_set1_epi16(x[i].scales[2 * ib + 1]));
            for (int t = 0; t < NT; ++t) {
                const __m256i sy = _mm256_sign_epi8(loadu(y[t][i].qs + 32 * ib), q);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(_mm256_maddubs_epi16(mag, sy), sc));
            }
        }
        add_superblock<NT>(sumi, x[i].d, y, i, 1.0f / float(PreDen), acc);
    }
    store_tokens<NT>(acc, 1.0f / float(PostDen), s, bs);
}
// The type's constant factor: 1/8 (IQ2), 1/4 (IQ3_XXS), 1 (IQ3_S); IQ1's values are decoded
// times 8.
template <int NT>
void dot_decoded_div8_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_decoded_nt<NT, 1, 8>(n, s, bs, x, y, by);
}
template <int NT>
void dot_decoded_div4_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_decoded_nt<NT, 1, 4>(n, s, bs, x, y, by);
}
template <int NT>
void dot_decoded_div1_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_decoded_nt<NT, 1, 1>(n, s, bs, x, y, by);
}
template <int NT>
void dot_decoded_iq1_nt(int n, float* s, size_t bs, const void* x, const void* y, size_t by) {
    dot_decoded_nt<NT, 8, 1>(n, s, bs, x, y, by);
}
PYGGML_AVX2_NT_KERNEL(dot_decoded_div8)
PYGGML_AVX2_NT_KERNEL(dot_decoded_div4)
PYGGML_AVX2_NT_KERNEL(dot_decoded_div1)
PYGGML_AVX2_NT_KERNEL(dot_decoded_iq1)

// ---- IQ1: grid values -1, 0, 1 and a +-1/8 shift per 8 (IQ1_M) or 32 (IQ1_S) ----------

struct iq1_chunk {
    __m256i values;  // signed grid values
    __m256i shift;   // +-1 per element: the sign of its shift
    __m256i scales;  // 2 s + 1 per int16 pair sum
};

inline __m256i shift_bytes(bool n0, bool n1, bool n2, bool n3) {
    return _mm256_setr_epi64x(n0 ? -1 : 0x0101010101010101, n1 ? -1 : 0x0101010101010101,
                              n2 ? -1 : 0x0101010101010101, n3 ? -1 : 0x0101010101010101);
}

inline iq1_chunk chunk_iq1_s(const block_iq1_s& b, int ib) {
    const int qh = b.qh[ib];
    const uint8_t* qs = b.qs + 4 * ib;
    const __m256i values = _mm256_set_epi64x(int64_t(iq1s_grid[qs[3] | (((qh >> 9) & 7) << 8)]), int64_t(iq1s_grid[qs[2] | (((qh >> 6) & 7) << 8)]),
                                             int64_t(iq1s_grid[qs[1] | (((qh >> 3) & 7) << 8)]), int64_t(iq1s_grid[qs[0] | ((qh & 7) << 8)]));
    const bool neg = (qh & 0x8000) != 0;
    const int s = (qh >> 12) & 7;
    return {values, shift_bytes(neg, neg, neg, neg), half_scales(s, s)};
}

inline uint16_t iq1_m_scale_word(const block_iq1_m& b, int k) {
    uint16_t v;
    std::memcpy(&v, b.scales + 2 * k, 2);
    return v;
}

inline iq1_chunk chunk_iq1_m(const block_iq1_m& b, int ib) {
    const uint8_t* qs = b.qs + 4 * ib;
    const uint8_t* qh = b.qh + 2 * ib;
    const __m256i values = _mm256_set_epi64x(int64_t(iq1s_grid[qs[3] | ((qh[1] << 4) & 0x700)]), int64_t(iq1s_grid[qs[2] | ((qh[1] << 8) & 0x700)]),
                                             int64_t(iq1s_grid[qs[1] | ((qh[0] << 4) & 0x700)]), int64_t(iq1s_grid[qs[0] | ((qh[0] << 8) & 0x700)]));
    const int sc = iq1_m_scale_word(b, ib / 2);
    return {values, shift_bytes(qh[0] & 0x08, qh[0] & 0x80, qh[1] & 0x08, qh[1] & 0x80),
            half_scales((sc >> (6 * (ib % 2))) & 7, (sc >> (6 * (ib % 2) + 3)) & 7)};
}

inline float d_iq1_s(const block_iq1_s& b) { return h2f(b.d); }
inline float d_iq1_m(const block_iq1_m& b) {
    const uint16_t sc0 = iq1_m_scale_word(b, 0), sc1 = iq1_m_scale_word(b, 1), sc2 = iq1_m_scale_word(b, 2),
                   sc3 = iq1_m_scale_word(b, 3);
    return h2f(uint16_t((sc0 >> 12) | ((sc1 >> 8) & 0x00F0) | ((sc2 >> 4) & 0x0F00) | (sc3 & 0xF000)));
}

// ---- IQ1, one to four tokens: a super-block's 32 grid indices, the signs of its shifts and
// its scale words formed with vector operations once, then per 32 elements four table loads
// and one or two vpshufb (no per-32 bit fiddling in general registers, no branches).

struct iq1_superblock {
    alignas(32) uint16_t idx[32];  // grid index of each group of 8 elements
    __m256i scales;                // 2 s + 1 words that the per-32 vpshufb pick from
    __m256i shift[2];              // IQ1_M: +-1 per group 0..15 / 16..31, in both 128-bit lanes
};

// The 32 indices: group k's low 8 bits qs[k], its high 3 bits byte k of (h0, h1).
inline void store_iq1_indices(const uint8_t* qs, __m128i h0, __m128i h1, uint16_t* idx) {
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16));
    _mm_store_si128(reinterpret_cast<__m128i*>(idx), _mm_unpacklo_epi8(q0, h0));
    _mm_store_si128(reinterpret_cast<__m128i*>(idx + 8), _mm_unpackhi_epi8(q0, h0));
    _mm_store_si128(reinterpret_cast<__m128i*>(idx + 16), _mm_unpacklo_epi8(q1, h1));
    _mm_store_si128(reinterpret_cast<__m128i*>(idx + 24), _mm_unpackhi_epi8(q1, h1));
}

// The signed grid values of groups 4 c .. 4 c + 3.
inline __m256i iq1_values(const uint16_t* idx, int c) {
    const uint16_t* k = stored(idx) + 4 * c;
    return _mm256_set_epi64x(int64_t(iq1s_grid[k[3]]), int64_t(iq1s_grid[k[2]]), int64_t(iq1s_grid[k[1]]),
                             int64_t(iq1s_grid[k[0]]));
}

// IQ1_S: qh word c holds the high bits of group 4 c + j in bits 3 j .. 3 j + 2, the scale of
// its 32 in bits 12..14 and the sign of their shift in bit 15. signed_scales: +-(2 s + 1).
inline void prepare_iq1_s(const block_iq1_s& b, iq1_superblock& sb, __m128i& signed_scales) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qh));
    const __m128i m7 = _mm_set1_epi16(7);
    const __m128i f01 = _mm_or_si128(_mm_and_si128(q, m7), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(q, 3), m7), 8));
    const __m128i f23 = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(q, 6), m7), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(q, 9), m7), 8));
    store_iq1_indices(b.qs, _mm_unpacklo_epi16(f01, f23), _mm_unpackhi_epi16(f01, f23), sb.idx);
    const __m128i ls = _mm_add_epi16(_mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(q, 12), m7), 1), _mm_set1_epi16(1));
    sb.scales = _mm256_broadcastsi128_si256(ls);
    const __m128i neg = _mm_srai_epi16(q, 15);
    signed_scales = _mm_sub_epi16(_mm_xor_si128(ls, neg), neg);
}

// IQ1_M: qh byte k holds the high bits of groups 2 k (bits 0..2) and 2 k + 1 (bits 4..6) and
// the signs of their shifts (bits 3 and 7); scale word k the 3-bit scales of the 16s 4 k ..
// 4 k + 3.
inline void prepare_iq1_m(const block_iq1_m& b, iq1_superblock& sb) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qh));
    const __m128i m7 = _mm_set1_epi8(7);
    const __m128i lo = _mm_and_si128(q, m7), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m7);
    store_iq1_indices(b.qs, _mm_unpacklo_epi8(lo, hi), _mm_unpackhi_epi8(lo, hi), sb.idx);
    const __m128i b3 = _mm_set1_epi8(0x08), b7 = _mm_set1_epi8(int8_t(0x80)), one = _mm_set1_epi8(1);
    const __m128i n_lo = _mm_cmpeq_epi8(_mm_and_si128(q, b3), b3), n_hi = _mm_cmpeq_epi8(_mm_and_si128(q, b7), b7);
    sb.shift[0] = _mm256_broadcastsi128_si256(_mm_or_si128(_mm_unpacklo_epi8(n_lo, n_hi), one));
    sb.shift[1] = _mm256_broadcastsi128_si256(_mm_or_si128(_mm_unpackhi_epi8(n_lo, n_hi), one));
    // word w of 64-bit lane l: scale word w >> (0, 6, 3, 9)[l], so 128-bit lane 0 holds the
    // even 16s (16s 4 w and 4 w + 2 at words w and w + 4), lane 1 the odd ones
    int64_t words;
    std::memcpy(&words, b.scales, 8);
    const __m256i s = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(words), _mm256_setr_epi64x(0, 6, 3, 9)),
                                       _mm256_set1_epi16(7));
    sb.scales = _mm256_add_epi16(_mm256_slli_epi16(s, 1), _mm256_set1_epi16(1));
}

template <int NT>
void dot_iq1_s_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_iq1_s* x = static_cast<const block_iq1_s*>(vx);
    const block_q8_K* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = row_ptr<block_q8_K>(vy, by, t);
    __m128 acc = _mm_setzero_ps();
    const __m256i ones = _mm256_set1_epi8(1);
    iq1_superblock sb;
    for (int i = 0; i < n / QK_K; ++i) {
        __m128i signed_scales;
        prepare_iq1_s(x[i], sb, signed_scales);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int c = 0; c < QK_K / 32; ++c) {
            const __m256i values = iq1_values(sb.idx, c);
            const __m256i sc = pick(sb.scales, kPicks.s_scale[c]);
            for (int t = 0; t < NT; ++t) {
                const __m256i p = _mm256_maddubs_epi16(ones, _mm256_sign_epi8(loadu(y[t][i].qs + 32 * c), values));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, sc));
            }
        }
        // One shift sign per 32: ishift = the sum over 32s of +-(2 s + 1) times the
        // activations' two sums of 16 (bsums). 8 isum + ishift as the reference forms it
        // (isum + ishift / 8, exact in float32: |8 isum + ishift| <= 256 * 9 * 127 * 15 < 2^24).
        const __m128i f0 = _mm_unpacklo_epi16(signed_scales, signed_scales), f1 = _mm_unpackhi_epi16(signed_scales, signed_scales);
        for (int t = 0; t < NT; ++t) {
            const __m128i* bsums = reinterpret_cast<const __m128i*>(y[t][i].bsums);
            const __m128i sh = _mm_add_epi32(_mm_madd_epi16(_mm_loadu_si128(bsums), f0), _mm_madd_epi16(_mm_loadu_si128(bsums + 1), f1));
            sumi[t] = _mm256_add_epi32(_mm256_slli_epi32(sumi[t], 3), _mm256_inserti128_si256(_mm256_setzero_si256(), sh, 0));
        }
        add_superblock<NT>(sumi, d_iq1_s(x[i]), y, i, IQ1S_DELTA, acc);
    }
    store_tokens<NT>(acc, 1.0f, s, bs);
}

template <int NT>
void dot_iq1_m_nt(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by) {
    const block_iq1_m* x = static_cast<const block_iq1_m*>(vx);
    const block_q8_K* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = row_ptr<block_q8_K>(vy, by, t);
    __m128 acc = _mm_setzero_ps();
    const __m256i eight = _mm256_set1_epi8(8);
    iq1_superblock sb;
    for (int i = 0; i < n / QK_K; ++i) {
        prepare_iq1_m(x[i], sb);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
        for (int c = 0; c < QK_K / 32; ++c) {
            // 8 q + shift per element (-9 .. 9, never 0; pair sums <= 2 * 9 * 127): one
            // product gives 8 isum + ishift, the reference's isum + ishift / 8 times 8
            // (exact in float32, see IQ1_S)
            const __m256i v = _mm256_add_epi8(_mm256_sign_epi8(eight, iq1_values(sb.idx, c)),
                                              pick(sb.shift[c / 4], kPicks.m_shift[c % 4]));
            const __m256i mag = _mm256_sign_epi8(v, v);
            const __m256i sc = pick(sb.scales, kPicks.m_scale[c]);
            for (int t = 0; t < NT; ++t) {
                const __m256i p = _mm256_maddubs_epi16(mag, _mm256_sign_epi8(loadu(y[t][i].qs + 32 * c), v));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, sc));
            }
        }
        add_superblock<NT>(sumi, d_iq1_m(x[i]), y, i, IQ1S_DELTA, acc);
    }
    store_tokens<NT>(acc, 1.0f, s, bs);
}

PYGGML_AVX2_NT_KERNEL(dot_iq1_s)
PYGGML_AVX2_NT_KERNEL(dot_iq1_m)

// IQ1 rows decoded as 8 q + shift (-9 .. 9, never 0) per element: the decoded kernel's isum is
// dot_iq1_s_nt's and dot_iq1_m_nt's 8 isum + ishift, so with PreDen 8 it gives the same floats.
template <typename B, iq1_chunk (*Chunk)(const B&, int), float (*D)(const B&)>
void decode_iq1(const void* vx, void* vy, int n) {
    const B* x = static_cast<const B*>(vx);
    block_grid_decoded* y = static_cast<block_grid_decoded*>(vy);
    for (int i = 0; i < n / QK_K; ++i) {
        y[i].d = D(x[i]);
        for (int ib = 0; ib < QK_K / 32; ++ib) {
            const iq1_chunk c = Chunk(x[i], ib);
            const __m256i v2 = _mm256_add_epi8(c.values, c.values);
            const __m256i v8 = _mm256_add_epi8(_mm256_add_epi8(v2, v2), _mm256_add_epi8(v2, v2));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + 32 * ib), _mm256_add_epi8(v8, c.shift));
            y[i].scales[2 * ib] = int16_t(_mm256_extract_epi16(c.scales, 0));
            y[i].scales[2 * ib + 1] = int16_t(_mm256_extract_epi16(c.scales, 8));
        }
    }
}

// ---- eight rows decoded into one block_grid_x8 group (kernels/grid_x8.h) ----------------

// Rows r of v (8 dwords each) become columns: v[j] = (v_0[j], ..., v_7[j]).
inline void transpose_8x8_epi32(__m256i* v) {
    __m256i t[8], u[8];
    for (int k = 0; k < 4; ++k) {
        t[2 * k] = _mm256_unpacklo_epi32(v[2 * k], v[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_epi32(v[2 * k], v[2 * k + 1]);
    }
    for (int k = 0; k < 2; ++k) {
        u[4 * k] = _mm256_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm256_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm256_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm256_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int j = 0; j < 4; ++j) {
        v[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
        v[4 + j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
    }
}

// Each super-block of the 8 rows decoded by Decode, then its values (plus 64) and scale words
// moved into place 32 bytes at a time with 8x8 transposes of 4-byte words.
template <decode_row_fn Decode>
void decode_x8(const void* vx, size_t row_bytes, void* vout, int n) {
    const int nb = n / QK_K;
    const size_t block_bytes = row_bytes / size_t(nb);
    block_grid_x8* out = static_cast<block_grid_x8*>(vout);
    block_grid_decoded rows[8];
    const __m256i bias = _mm256_set1_epi8(64);
    for (int i = 0; i < nb; ++i) {
        for (int r = 0; r < 8; ++r) Decode(static_cast<const char*>(vx) + r * row_bytes + i * block_bytes, &rows[r], QK_K);
        block_grid_x8& g = out[i];
        __m256i v[8];
        for (int r = 0; r < 8; ++r) {
            g.d[r] = rows[r].d;
            v[r] = loadu(rows[r].scales);  // dword p: the scales of elements 32 p .. 32 p + 31
        }
        transpose_8x8_epi32(v);
        for (int p = 0; p < 8; ++p) _mm256_storeu_si256(reinterpret_cast<__m256i*>(g.scales[p]), v[p]);
        for (int c = 0; c < QK_K / 32; ++c) {
            for (int r = 0; r < 8; ++r) v[r] = _mm256_add_epi8(loadu(rows[r].qs + 32 * c), bias);
            transpose_8x8_epi32(v);
            for (int j = 0; j < 8; ++j) _mm256_storeu_si256(reinterpret_cast<__m256i*>(g.qs + 32 * (8 * c + j)), v[j]);
        }
    }
}

}  // namespace

void register_vec_dot_iq_avx2(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_IQ2_XXS].vec_dot = dot_iq2_xxs;
    k.vec_dot[GGML_TYPE_IQ2_XS].vec_dot = dot_iq2_xs;
    k.vec_dot[GGML_TYPE_IQ2_S].vec_dot = dot_iq2_s;
    k.vec_dot[GGML_TYPE_IQ3_XXS].vec_dot = dot_iq3_xxs;
    k.vec_dot[GGML_TYPE_IQ3_S].vec_dot = dot_iq3_s;
    constexpr decode_row_fn iq2_xxs = decode_grid<block_iq2_xxs, chunk_iq2_xxs>,
                            iq2_xs = decode_grid<block_iq2_xs, chunk_iq2_xs>, iq2_s = decode_grid<block_iq2_s, chunk_iq2_s>,
                            iq3_xxs = decode_grid<block_iq3_xxs, chunk_iq3_xxs>,
                            iq3_s = decode_grid<block_iq3_s, chunk_iq3_s>,
                            iq1_s = decode_iq1<block_iq1_s, chunk_iq1_s, d_iq1_s>,
                            iq1_m = decode_iq1<block_iq1_m, chunk_iq1_m, d_iq1_m>;
    const struct {
        int32_t type;
        decode_row_fn decode;
        void (*decode_x8)(const void*, size_t, void*, int);
        vec_dot_fn decoded_dot;
    } decoded[] = {
        {GGML_TYPE_IQ2_XXS, iq2_xxs, decode_x8<iq2_xxs>, dot_decoded_div8},
        {GGML_TYPE_IQ2_XS, iq2_xs, decode_x8<iq2_xs>, dot_decoded_div8},
        {GGML_TYPE_IQ2_S, iq2_s, decode_x8<iq2_s>, dot_decoded_div8},
        {GGML_TYPE_IQ3_XXS, iq3_xxs, decode_x8<iq3_xxs>, dot_decoded_div4},
        {GGML_TYPE_IQ3_S, iq3_s, decode_x8<iq3_s>, dot_decoded_div1},
        {GGML_TYPE_IQ1_S, iq1_s, decode_x8<iq1_s>, dot_decoded_iq1},
        {GGML_TYPE_IQ1_M, iq1_m, decode_x8<iq1_m>, dot_decoded_iq1},
    };
    for (const auto& d : decoded) {
        k.vec_dot[d.type].decode = d.decode;
        k.vec_dot[d.type].decode_x8 = d.decode_x8;
        k.vec_dot[d.type].decoded_row_size = decoded_grid_row_size;
        k.vec_dot[d.type].decoded_dot = d.decoded_dot;
    }
    k.vec_dot[GGML_TYPE_IQ1_S].vec_dot = dot_iq1_s;
    k.vec_dot[GGML_TYPE_IQ1_M].vec_dot = dot_iq1_m;
}

}  // namespace pyggml
