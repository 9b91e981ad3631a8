// cpu.h: what the processor we run on can execute, probed once at start-up, and the
// instruction-set tiers this module builds kernels for.
//
// x86: cpuid + xgetbv (the OS must save the AVX registers); aarch64 Linux: getauxval(AT_HWCAP);
// aarch64 macOS: sysctl's hw.optional names (darwin_arm64_features). Elsewhere nothing is
// probed and the scalar kernels run.
// cpu_runs is the one place that decides whether a tier's kernels may run here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace pyggml {

// A tier of SIMD kernels: scalar (the references, everywhere); on x86 avx2
// (arch/x86/*_avx2.cpp), avxvnni (AVX2 + the VEX VPDPBUSD of AVX-VNNI, *_avxvnni.cpp) and
// avx512 (AVX-512 F/BW/VL/DQ + VNNI, *_avx512.cpp), each higher tier running the lower
// tiers' kernels where it has none of its own; on aarch64 neon (ARMv8.0 Advanced SIMD,
// arch/arm/*_neon.cpp), dotprod (the same files compiled with SDOT and FP16) and i8mm (dotprod
// + the SMMLA of FEAT_I8MM, *_i8mm.cpp).
// kCpuIsas lists them from the lowest to the highest, the order tiers are preferred in.
enum class cpu_isa : int { scalar = 0, avx2 = 1, neon = 2, avxvnni = 3, avx512 = 4, i8mm = 5, dotprod = 6 };
constexpr cpu_isa kCpuIsas[] = {cpu_isa::scalar, cpu_isa::avx2, cpu_isa::avxvnni, cpu_isa::avx512,
                                cpu_isa::neon,   cpu_isa::dotprod, cpu_isa::i8mm};
constexpr int kCpuIsaCount = int(sizeof(kCpuIsas) / sizeof(kCpuIsas[0]));

const char* cpu_isa_name(cpu_isa isa);
// The tier named `name` ("scalar", "avx2", "avxvnni", "avx512", "neon", "dotprod", "i8mm") in *isa; false for
// any other name.
bool cpu_isa_from_name(const std::string& name, cpu_isa* isa);

struct cpu_features {
    bool avx2 = false;     // x86: AVX2 with OS support for the ymm state
    bool fma = false;
    bool f16c = false;
    bool bmi2 = false;
    bool avx_vnni = false;     // x86: VEX-encoded VPDPBUSD on xmm/ymm (AVX-VNNI)
    bool avx512 = false;       // x86: AVX-512 F, BW, VL and DQ with OS support for the zmm state
    bool avx512_vnni = false;  // x86: EVEX-encoded VPDPBUSD / VPDPWSSD
    bool avx512_bf16 = false;  // x86: VDPBF16PS
    bool neon = false;     // aarch64: Advanced SIMD
    bool dotprod = false;  // aarch64: SDOT/UDOT
    bool fp16 = false;     // aarch64: half-precision arithmetic
    bool i8mm = false;     // aarch64: SMMLA (int8 matrix multiply-accumulate)
};

// Probed on first use; the result never changes afterwards.
const cpu_features& get_cpu_features();

// Whether the OS keeps the AVX-512 registers across context switches, from XCR0: the opmask
// and zmm state (bits 5-7) besides xmm and ymm (bits 1-2). lazy_avx512: macOS, whose kernel
// enables that state only when a thread first uses AVX-512 (XCR0 does not show it before), as
// LLVM's own CPU-feature check assumes there; the ymm state is then enough.
bool os_saves_zmm(uint64_t xcr0, bool lazy_avx512);

// The aarch64 features of an Apple system, from its sysctl names (`value`: the name's value, 0
// where it is missing): hw.optional.AdvSIMD (or .neon), hw.optional.arm.FEAT_FP16 (or
// .neon_fp16), hw.optional.arm.FEAT_DotProd and hw.optional.arm.FEAT_I8MM (macOS 12 and later
// name the last two; without them the dotprod tier is not chosen, the neon one is). Every Apple
// M chip has the dotprod tier's features, M2 and later I8MM too. What probe() reads on macOS; its own function
// so that tests can give it any system's answers.
cpu_features darwin_arm64_features(const std::function<int(const char*)>& value);

#if defined(__APPLE__)
// The integer sysctl `name` (hw.optional.arm.FEAT_I8MM, hw.perflevel0.physicalcpu, ...), 0 where
// it is missing: what darwin_arm64_features and darwin_default_threads (core/threads.h) read.
int sysctl_int(const char* name);
#endif

// Whether this module holds the tier's kernels and this CPU can run them. A tier needs every
// feature its files are compiled with, since the compiler may use any of them anywhere in
// those files: avx2 = AVX2 + FMA + F16C + BMI2 (CMakeLists.txt: -mavx2 -mfma -mf16c -mbmi2),
// avxvnni = avx2 + AVX-VNNI (-mavxvnni), avx512 = avx2 + AVX-512 F/BW/VL/DQ/VNNI
// (-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni), neon = Advanced SIMD
// (-march=armv8-a), dotprod = Advanced SIMD + dot product + FP16 (-march=armv8.2-a+dotprod+fp16),
// i8mm = dotprod + I8MM (...+i8mm).
bool cpu_runs(cpu_isa isa);

// The environment variable that caps the tier (PYGGML_CPU_TIER=avx2: the AVX2 kernels even
// on an AVX-512 CPU), for tests and comparisons. Read once, with the tier choice.
constexpr const char* kCpuTierVariable = "PYGGML_CPU_TIER";

}  // namespace pyggml
