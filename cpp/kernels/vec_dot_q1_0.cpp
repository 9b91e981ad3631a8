// vec_dot_q1_0.cpp: the scalar reference dot kernel of Q1_0 against Q8_0 activations
// (ggml's dot type): a block of 128 signs spans four Q8_0 blocks; each contributes
// d_w * d_x * isum, in order.
//
// For products with many tokens a Q1_0 row is decoded once per tile into Q8_0 blocks of +-1
// with the block's scale (eight rows at a time into block_q8_0x8), and the tier's Q8_0 kernels
// take it from there: their dot products are the same integer sums followed by the same
// (d_w * d_x) * isum in block order, so they are Q1_0's reference ones bit for bit.
#include <cstring>

#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/fp16.h"
#include "kernels/repack.h"
#include "kernels/vec_dot_rows.h"

namespace pyggml {

namespace {

float dot_q1_0_q8_0(int n, const void* vx, const void* vy) {
    const block_q1_0* x = static_cast<const block_q1_0*>(vx);
    const block_q8_0* y = static_cast<const block_q8_0*>(vy);
    float sum = 0.0f;
    for (int i = 0; i < n / QK1_0; ++i) {
        const float dx = fp16_to_fp32(x[i].d);
        for (int k = 0; k < QK1_0 / QK8_0; ++k) {
            const block_q8_0& yb = y[4 * i + k];
            int isum = 0;
            for (int j = 0; j < QK8_0; ++j) {
                const int e = QK8_0 * k + j;
                isum += (x[i].qs[e / 8] >> (e % 8)) & 1 ? yb.qs[j] : -yb.qs[j];
            }
            sum += dx * fp16_to_fp32(yb.d) * float(isum);
        }
    }
    return sum;
}

// kSigns.v[b]: the bits of b as 8 bytes, bit j -> byte j: +1 where set, -1 where not.
struct sign_bytes {
    uint64_t v[256];
    constexpr sign_bytes() : v() {
        for (int b = 0; b < 256; ++b) {
            for (int j = 0; j < 8; ++j) v[b] |= uint64_t((b >> j) & 1 ? 0x01 : 0xFF) << (8 * j);
        }
    }
};
constexpr sign_bytes kSigns;

size_t decoded_row_size_q1_0(int n) { return size_t(n / QK8_0) * sizeof(block_q8_0); }
size_t decoded_x8_size_q1_0(int n) { return size_t(n / QK8_0) * sizeof(block_q8_0x8); }

// One row of n elements into n / 32 block_q8_0.
void decode_q1_0(const void* vx, void* vy, int n) {
    const block_q1_0* x = static_cast<const block_q1_0*>(vx);
    block_q8_0* y = static_cast<block_q8_0*>(vy);
    for (int i = 0; i < n / QK1_0; ++i) {
        for (int k = 0; k < QK1_0 / QK8_0; ++k) {
            block_q8_0& b = y[4 * i + k];
            b.d = x[i].d;
            for (int j = 0; j < QK8_0 / 8; ++j) std::memcpy(b.qs + 8 * j, &kSigns.v[x[i].qs[4 * k + j]], 8);
        }
    }
}

// Rows 0..7 (row_bytes apart) into n / 32 block_q8_0x8: row r's values 4 c .. 4 c + 3 of a
// block at qs[32 c + 4 r].
void decode_x8_q1_0(const void* vx, size_t row_bytes, void* group, int n) {
    block_q8_0x8* g = static_cast<block_q8_0x8*>(group);
    for (int r = 0; r < 8; ++r) {
        const block_q1_0* x = reinterpret_cast<const block_q1_0*>(static_cast<const char*>(vx) + r * row_bytes);
        for (int i = 0; i < n / QK1_0; ++i) {
            for (int k = 0; k < QK1_0 / QK8_0; ++k) {
                block_q8_0x8& b = g[4 * i + k];
                b.d[r] = x[i].d;
                for (int j = 0; j < QK8_0 / 8; ++j) {
                    const uint64_t v = kSigns.v[x[i].qs[4 * k + j]];
                    std::memcpy(b.qs + 32 * (2 * j) + 4 * r, &v, 4);
                    std::memcpy(b.qs + 32 * (2 * j + 1) + 4 * r, reinterpret_cast<const char*>(&v) + 4, 4);
                }
            }
        }
    }
}

}  // namespace

void register_vec_dot_q1_0(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_Q1_0] = {GGML_TYPE_Q8_0, nullptr, dot_rows<dot_q1_0_q8_0>};
}

void register_vec_dot_q1_0_decoded(isa_kernels& k) {
    vec_dot_traits& v = k.vec_dot[GGML_TYPE_Q1_0];
    v.decode = decode_q1_0;
    v.decoded_row_size = decoded_row_size_q1_0;
    v.decoded_dot = k.vec_dot[GGML_TYPE_Q8_0].vec_dot;
    if (const vec_dot_fn x8 = k.q8_0x8_plain_act) {
        v.decode_x8 = decode_x8_q1_0;
        v.decoded_x8_size = decoded_x8_size_q1_0;
        v.decoded_x8_dot = x8;
        v.decoded_x8_max_nt = k.repacked_max_nt;
    }
}

}  // namespace pyggml
