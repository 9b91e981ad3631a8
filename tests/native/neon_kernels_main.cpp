// neon_kernels_main.cpp: runs the scalar and NEON dot kernels on cases from a file,
// for tests/test_neon_qemu.py (cross-compiled for aarch64, run under qemu-user).
//
// usage: neon_kernels IN OUT
// IN:  cases, each: int32 type, n_cols, n_rows, n_tokens, w_row_bytes, a_row_bytes,
//      then the weights (n_rows, w_row_bytes) and activations (n_tokens, a_row_bytes).
// OUT: per case, float32 (n_tokens, n_rows) from the scalar kernel, then from NEON.
// Built for either compile of the NEON files (-march=armv8-a: the neon tier; with +dotprod: the
// dotprod tier, arch/arm/neon_tier.h). Exit 3 when the CPU lacks the dot-product instructions
// the build needs, 2 on bad input.
#include <sys/auxv.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "arch/arm/neon_tier.h"
#include "core/dispatch.h"

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

namespace {

void run(pyggml::vec_dot_fn k, int n_cols, int n_rows, int n_tokens, const uint8_t* w, size_t wr,
         const uint8_t* a, size_t ar, float* y) {
    for (int r = 0; r < n_rows; ++r) {
        for (int t = 0; t < n_tokens; t += pyggml::VEC_DOT_MAX_NT) {
            const int nt = n_tokens - t < pyggml::VEC_DOT_MAX_NT ? n_tokens - t : pyggml::VEC_DOT_MAX_NT;
            k(n_cols, y + size_t(t) * n_rows + r, size_t(n_rows), w + size_t(r) * wr, wr, 1, a + size_t(t) * ar, ar, nt);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) return 2;
#if defined(__ARM_FEATURE_DOTPROD)
    if (!(getauxval(AT_HWCAP) & HWCAP_ASIMDDP)) {
        std::fprintf(stderr, "no asimddp\n");
        return 3;
    }
#endif
    FILE* in = std::fopen(argv[1], "rb");
    FILE* out = std::fopen(argv[2], "wb");
    if (!in || !out) return 2;
    // The two sets of dot kernels alone (no dispatch): the references and the NEON twins.
    static pyggml::isa_kernels ref{}, neon{};
    pyggml::register_vec_dot(ref);
    pyggml::register_vec_dot_ternary(ref);
    pyggml::register_vec_dot_fp4(ref);
    pyggml::register_vec_dot_q1_0(ref);
    pyggml::register_vec_dot_iq(ref);
    pyggml::PYGGML_NEON_TIER::register_vec_dot_neon(neon);
    pyggml::PYGGML_NEON_TIER::register_vec_dot_ternary_neon(neon);
    pyggml::PYGGML_NEON_TIER::register_vec_dot_fp4_neon(neon);
    pyggml::PYGGML_NEON_TIER::register_vec_dot_q1_0_neon(neon);
    pyggml::PYGGML_NEON_TIER::register_vec_dot_iq_neon(neon);
    pyggml::register_vec_dot_int8(ref);  // the load-time weight formats
    pyggml::register_vec_dot_bnb4(ref);
    pyggml::PYGGML_NEON_TIER::register_vec_dot_int8_neon(neon);
    pyggml::PYGGML_NEON_TIER::register_vec_dot_bnb4_neon(neon);
    int32_t h[6];
    while (std::fread(h, sizeof(h), 1, in) == 1) {
        const int type = h[0], n_cols = h[1], n_rows = h[2], n_tokens = h[3];
        const size_t wr = size_t(h[4]), ar = size_t(h[5]);
        std::vector<uint8_t> w(wr * n_rows), a(ar * n_tokens);
        std::vector<float> y(size_t(n_rows) * n_tokens);
        if (std::fread(w.data(), 1, w.size(), in) != w.size() || std::fread(a.data(), 1, a.size(), in) != a.size()) return 2;
        if (type < 0 || type >= pyggml::PYGGML_TYPE_TABLE_SIZE) return 2;
        const pyggml::vec_dot_fn ref_k = ref.vec_dot[type].vec_dot, neon_k = neon.vec_dot[type].vec_dot;
        if (!ref_k || !neon_k) return 2;
        for (pyggml::vec_dot_fn k : {ref_k, neon_k}) {
            run(k, n_cols, n_rows, n_tokens, w.data(), wr, a.data(), ar, y.data());
            std::fwrite(y.data(), sizeof(float), y.size(), out);
        }
    }
    std::fclose(out);
    return 0;
}
