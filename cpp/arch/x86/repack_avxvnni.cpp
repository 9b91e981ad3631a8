// repack_avxvnni.cpp: the AVX-VNNI tier's kernels over the 8-row layouts: repack_vnni.h with
// the VEX-encoded VPDPBUSD / VPDPWSSD (Intel Core 12th generation and later, Core Ultra).
// Sixteen ymm registers hold four tokens' sums.
//
// Compiled with -mavx2 -mfma -mf16c -mbmi2 -mavxvnni; called only after the dispatcher
// checked them (core/cpu.h).
#include <immintrin.h>

#include "arch/x86/repack_vnni.h"
#include "arch/x86/vex_vnni.h"

namespace pyggml {

void register_repack_avxvnni(isa_kernels& k) { register_repack_vnni<vex_vnni, 4>(k); }

}  // namespace pyggml
