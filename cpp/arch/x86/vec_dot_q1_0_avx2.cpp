// vec_dot_q1_0_avx2.cpp: AVX2 twin of kernels/vec_dot_q1_0.cpp (Q1_0 x Q8_0), from
// vec_dot_q1_0_x86.h: 32 sign bits become a byte mask (0xFF where the bit is clear) that picks
// -y over y (vpblendvb); vpmaddubsw/vpmaddwd sum the result per Q8_0 block.
#include "arch/x86/vec_dot_q1_0_x86.h"
#include "core/dispatch.h"

namespace pyggml {

namespace {

struct byte_mask_signs {
    static __m256i signs(const uint8_t* bits) { return clear_bits_to_bytes_32(bits); }
    static __m256i sums(__m256i clear, __m256i y, __m256i ny) {
        return _mm256_madd_epi16(pair_sums_i8(_mm256_blendv_epi8(y, ny, clear)), _mm256_set1_epi16(1));
    }
};

}  // namespace

void register_vec_dot_q1_0_avx2(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_Q1_0].vec_dot = q1_0_kernels<byte_mask_signs>::dot;
}

}  // namespace pyggml
