// cpu.h: what the processor we run on can execute, probed once at start-up.
//
// x86: cpuid + xgetbv (the OS must save the AVX registers); aarch64: getauxval(AT_HWCAP).
#pragma once

namespace pyggml {

struct cpu_features {
    bool avx2 = false;     // x86: AVX2 with OS support for the ymm state
    bool fma = false;
    bool f16c = false;
    bool bmi2 = false;
    bool neon = false;     // aarch64: Advanced SIMD
    bool dotprod = false;  // aarch64: SDOT/UDOT
    bool fp16 = false;     // aarch64: half-precision arithmetic
};

// Probed on first use; the result never changes afterwards.
const cpu_features& get_cpu_features();

}  // namespace pyggml
