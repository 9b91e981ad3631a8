// vec_dot_q1_0_avx512.cpp: AVX-512 twin of kernels/vec_dot_q1_0.cpp (Q1_0 x Q8_0), in place of
// the AVX2 one in that tier, from vec_dot_q1_0_x86.h.
//
// A Q8_0 block's 32 sign bits are an AVX-512 mask as they stand: one masked blend picks y where
// a bit is set and -y where it is clear, and one VPDPBUSD against bytes of 1 sums the result to
// 8 int32 (the AVX2 kernel spends four operations turning the bits into bytes, a blend of two
// and two multiply-adds). The float steps are the AVX2 kernel's: the two agree bit for bit.
#include <cstring>

#include "arch/x86/vec_dot_q1_0_x86.h"
#include "core/dispatch.h"

namespace pyggml {

namespace {

struct mask_register_signs {
    static __mmask32 signs(const uint8_t* bits) {
        uint32_t m;
        std::memcpy(&m, bits, 4);
        return __mmask32(m);
    }
    static __m256i sums(__mmask32 set, __m256i y, __m256i ny) {
        return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), _mm256_mask_blend_epi8(set, ny, y));
    }
};

}  // namespace

void register_vec_dot_q1_0_avx512(isa_kernels& k) {
    k.vec_dot[GGML_TYPE_Q1_0].vec_dot = q1_0_kernels<mask_register_signs>::dot;
}

}  // namespace pyggml
