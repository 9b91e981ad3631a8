// cpu.cpp: cpuid/xgetbv on x86, HWCAP bits on aarch64 Linux, sysctl on aarch64 macOS, and the
// tiers they allow (see cpu.h).
#include "core/cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <cstdint>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace pyggml {

namespace {

#if defined(__x86_64__) || defined(__i386__)
uint64_t read_xcr0() {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (uint64_t(edx) << 32) | eax;
}

cpu_features probe() {
    cpu_features f;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    const bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    // The OS must save xmm (bit 1) and ymm (bit 2) state across context switches.
    const bool ymm_saved = osxsave && (read_xcr0() & 0x6) == 0x6;
    if (!ymm_saved || !avx) return f;
#if defined(__APPLE__)
    constexpr bool lazy_avx512 = true;
#else
    constexpr bool lazy_avx512 = false;
#endif
    const bool zmm_saved = os_saves_zmm(read_xcr0(), lazy_avx512);
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    f.avx2 = (b >> 5) & 1;
    f.bmi2 = (b >> 8) & 1;
    f.fma = fma;
    f.f16c = f16c;
    const bool avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    f.avx512 = zmm_saved && avx512f && avx512dq && avx512bw && avx512vl;
    f.avx512_vnni = f.avx512 && ((c >> 11) & 1);
    unsigned max_sub = a;
    if (max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) {
        f.avx_vnni = (a >> 4) & 1;
        f.avx512_bf16 = f.avx512 && ((a >> 5) & 1);
    }
    return f;
}
#elif defined(__aarch64__) && defined(__linux__)
cpu_features probe() {
    cpu_features f;
    const unsigned long hw = getauxval(AT_HWCAP);
    f.neon = (hw & HWCAP_ASIMD) != 0;
    f.fp16 = (hw & HWCAP_ASIMDHP) != 0;
    f.dotprod = (hw & HWCAP_ASIMDDP) != 0;
    f.i8mm = (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
    return f;
}
#elif defined(__aarch64__) && defined(__APPLE__)
cpu_features probe() { return darwin_arm64_features(sysctl_int); }
#else
cpu_features probe() { return cpu_features{}; }
#endif

}  // namespace

bool os_saves_zmm(uint64_t xcr0, bool lazy_avx512) {
    // the opmask (bit 5) and both halves of the zmm registers (bits 6, 7) besides xmm and ymm
    return (xcr0 & 0xE6) == 0xE6 || (lazy_avx512 && (xcr0 & 0x6) == 0x6);
}

#if defined(__APPLE__)
int sysctl_int(const char* name) {
    int value = 0;
    size_t size = sizeof(value);
    return sysctlbyname(name, &value, &size, nullptr, 0) == 0 ? value : 0;
}
#endif

cpu_features darwin_arm64_features(const std::function<int(const char*)>& value) {
    auto has = [&](const char* name) { return value(name) != 0; };
    cpu_features f;
    f.neon = has("hw.optional.AdvSIMD") || has("hw.optional.neon");
    f.fp16 = has("hw.optional.arm.FEAT_FP16") || has("hw.optional.neon_fp16");
    f.dotprod = has("hw.optional.arm.FEAT_DotProd");
    f.i8mm = has("hw.optional.arm.FEAT_I8MM");
    return f;
}

const cpu_features& get_cpu_features() {
    static const cpu_features features = probe();
    return features;
}

const char* cpu_isa_name(cpu_isa isa) {
    switch (isa) {
        case cpu_isa::avx2: return "avx2";
        case cpu_isa::avxvnni: return "avxvnni";
        case cpu_isa::avx512: return "avx512";
        case cpu_isa::neon: return "neon";
        case cpu_isa::dotprod: return "dotprod";
        case cpu_isa::i8mm: return "i8mm";
        default: return "scalar";
    }
}

bool cpu_isa_from_name(const std::string& name, cpu_isa* isa) {
    for (cpu_isa i : kCpuIsas) {
        if (name == cpu_isa_name(i)) {
            *isa = i;
            return true;
        }
    }
    return false;
}

bool cpu_runs(cpu_isa isa) {
    const cpu_features& f = get_cpu_features();
    switch (isa) {
        case cpu_isa::scalar: return true;
#if defined(__x86_64__)
        case cpu_isa::avx2: return f.avx2 && f.fma && f.f16c && f.bmi2;
        case cpu_isa::avxvnni: return cpu_runs(cpu_isa::avx2) && f.avx_vnni;
        case cpu_isa::avx512: return cpu_runs(cpu_isa::avx2) && f.avx512 && f.avx512_vnni;
#endif
#if defined(__aarch64__)
        case cpu_isa::neon: return f.neon;
        case cpu_isa::dotprod: return f.neon && f.dotprod && f.fp16;
        case cpu_isa::i8mm: return cpu_runs(cpu_isa::dotprod) && f.i8mm;
#endif
        default: return false;  // not built into this module
    }
}

}  // namespace pyggml
