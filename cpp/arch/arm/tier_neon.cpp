// tier_neon.cpp: the NEON files' kernels, registered in one call per compile (neon_tier.h):
// the neon tier, the dotprod tier, and the base the i8mm tier puts its SMMLA kernels over.
#include "arch/arm/neon_tier.h"

namespace pyggml::PYGGML_NEON_TIER {

void register_neon_tier(isa_kernels& k) {
    register_quantize_act_neon(k);
    register_vec_dot_neon(k);
    register_repack_neon(k);
    register_vec_dot_ternary_neon(k);
    register_vec_dot_fp4_neon(k);
    register_vec_dot_q1_0_neon(k);
    register_vec_dot_iq_neon(k);
    register_vec_dot_int8_neon(k);
    register_vec_dot_bnb4_neon(k);
    register_ops_neon(k);
}

}  // namespace pyggml::PYGGML_NEON_TIER
