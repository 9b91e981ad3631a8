// neon_repack_main.cpp: runs one aarch64 tier's kernels over repacked weights
// (cpp/arch/arm/repack_neon.cpp, repack_i8mm.cpp) on cases from a file, for tests/native/test_neon_qemu.py (cross-compiled for aarch64, run
// under qemu-user); the test sets them against the x86 build's scalar references.
//
// usage: neon_repack TIER IN OUT [NT] (TIER: neon in a build for ARMv8.0, dotprod or i8mm in one
// with the dot product (arch/arm/neon_tier.h); NT: only that many tokens per call, for
// benchmarks/arm_instructions.py)
// IN:  cases, each: int32 layout, n_cols, n_rows (a multiple of 8), n_tokens, packed_row_bytes,
//      act_row_bytes, then the packed weights (n_rows, packed_row_bytes) and the repacked
//      activations (n_tokens, act_row_bytes).
// OUT: per case and per tokens-per-call nt = 1..VEC_DOT_MAX_NT (or NT alone), float32 (n_tokens, n_rows).
// Exit 3 when the CPU lacks the tier's instructions, 2 on bad input.
#include <sys/auxv.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "arch/arm/neon_tier.h"
#include "core/dispatch.h"
#include "kernels/repack.h"

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5) return 2;
    const std::string tier = argv[1];
#if defined(__ARM_FEATURE_DOTPROD)
    if (tier != "dotprod" && tier != "i8mm") return 2;
#else
    if (tier != "neon") return 2;
#endif
    const int only_nt = argc == 5 ? std::atoi(argv[4]) : 0;
    if (only_nt < 0 || only_nt > pyggml::VEC_DOT_MAX_NT) return 2;
    if ((tier != "neon" && !(getauxval(AT_HWCAP) & HWCAP_ASIMDDP)) ||
        (tier == "i8mm" && !(getauxval(AT_HWCAP2) & HWCAP2_I8MM))) {
        std::fprintf(stderr, "the CPU lacks the %s tier's instructions\n", tier.c_str());
        return 3;
    }
    FILE* in = std::fopen(argv[2], "rb");
    FILE* out = std::fopen(argv[3], "wb");
    if (!in || !out) return 2;
    static pyggml::isa_kernels neon{};
    pyggml::PYGGML_NEON_TIER::register_repack_neon(neon);
#if defined(__ARM_FEATURE_DOTPROD)
    if (tier == "i8mm") pyggml::dotprod::register_repack_i8mm(neon);
#endif
    int32_t h[6];
    while (std::fread(h, sizeof(h), 1, in) == 1) {
        const int layout = h[0], n_cols = h[1], n_rows = h[2], n_tokens = h[3];
        const size_t wr = size_t(h[4]), ar = size_t(h[5]);
        std::vector<uint8_t> w(wr * n_rows), a(ar * n_tokens);
        std::vector<float> y(size_t(n_rows) * n_tokens);
        if (std::fread(w.data(), 1, w.size(), in) != w.size() || std::fread(a.data(), 1, a.size(), in) != a.size()) return 2;
        if (layout <= 0 || layout >= pyggml::weight_layout_count || n_rows % pyggml::REPACK_ROWS) return 2;
        const pyggml::vec_dot_fn k = neon.repacked[layout];
        if (!k) return 2;
        for (int step = only_nt ? only_nt : 1; step <= (only_nt ? only_nt : pyggml::VEC_DOT_MAX_NT); ++step) {
            for (int t = 0; t < n_tokens; t += step) {
                const int nt = n_tokens - t < step ? n_tokens - t : step;
                k(n_cols, y.data() + size_t(t) * n_rows, size_t(n_rows), w.data(), pyggml::REPACK_ROWS * wr, n_rows,
                  a.data() + size_t(t) * ar, ar, nt);
            }
            std::fwrite(y.data(), sizeof(float), y.size(), out);
        }
    }
    std::fclose(out);
    return 0;
}
