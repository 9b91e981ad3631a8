// grid_x8_avxvnni.cpp: the AVX-VNNI tier's kernels over codebook rows decoded eight at a time
// (grid_x8_vnni.h with the VEX-encoded VPDPBUSD / VPDPWSSD; 16 registers hold four tokens'
// sums).
//
// Compiled with -mavx2 -mfma -mf16c -mbmi2 -mavxvnni; called only after the dispatcher
// checked them (core/cpu.h).
#include <immintrin.h>

#include "arch/x86/grid_x8_vnni.h"
#include "arch/x86/vex_vnni.h"

namespace pyggml {

void register_grid_x8_avxvnni(isa_kernels& k) { register_grid_x8_vnni<vex_vnni, 4>(k); }

}  // namespace pyggml
