// neon_ops_main.cpp: runs the NEON twins of the forward pass's ops (cpp/arch/arm/ops_neon.cpp)
// and the scalar references (cpp/kernels/ops.cpp) on cases from a file, for
// tests/native/test_neon_qemu.py (cross-compiled for aarch64, run under qemu-user).
//
// usage: neon_ops attend IN OUT | neon_ops elementwise IN OUT
//
// attend: the attention tile.
// IN:  cases, each: int32 n_tok, n_head, n_kv, hdk, hdv, n_keys, window, kind (0 float32, 1 F16,
//      2 Q8_0), tile_tok, tile_heads, has_sinks, key_cap (attn_tile::n_keys); float32 softcap;
//      then q (n_tok, n_head, hdk) float32, the keys (n_keys, n_kv, hdk) and values (n_keys,
//      n_kv, hdv) in the kind's storage (Q8_0: blocks of 34 bytes), and sinks (n_head) float32
//      when has_sinks. The last token sees every key: hi0 = n_keys - n_tok + 1.
// OUT: per case, the reference then NEON: out (n_tok, n_head, hdv) and lse (n_tok, n_head) float32.
// Tiles: tile_tok tokens x tile_heads heads of one kv head's group, as the model hands them out.
//
// elementwise: RMSNorm, the activations times up, RoPE.
// IN:  cases, each: int32 op (0 rms_norm, 1 silu_mul, 2 gelu_tanh_mul, 3 rope_apply), rows, n,
//      a, b; float32 f; then float32 data:
//      rms_norm:  x (rows, n), and w (n) when a != 0; eps f.
//      silu_mul, gelu_tanh_mul: gate (rows, n), up (rows, n).
//      rope_apply: x (rows heads, n = head_dim); n_rot a, neox b != 0, position f (base 10000).
// OUT: per case, the reference's result then NEON's, float32 (rows, n) each.
// Exit 2 on bad input.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "arch/arm/neon_tier.h"
#include "core/dispatch.h"
#include "kernels/ops.h"

using namespace pyggml;

namespace {

template <typename T>
bool read(FILE* f, std::vector<T>& v, size_t n) {
    v.resize(n);
    return std::fread(v.data(), sizeof(T), n, f) == n;
}

}  // namespace

int attend_cases(const ops_kernels& neon, FILE* in, FILE* out) {
    int32_t h[12];
    while (std::fread(h, sizeof(int32_t), 12, in) == 12) {
        const int64_t n_tok = h[0], n_head = h[1], n_kv = h[2], hdk = h[3], hdv = h[4], n_keys = h[5], window = h[6];
        const int kind = h[7];
        const int64_t tile_tok = h[8], tile_heads = h[9], key_cap = h[11];
        const bool has_sinks = h[10] != 0;
        float softcap = 0.0f;
        if (std::fread(&softcap, 4, 1, in) != 1 || kind < 0 || kind > 2 || n_tok < 1 || n_kv < 1 || n_head % n_kv ||
            tile_tok < 1 || tile_heads < 1 || (kind == 2 && (hdk % 32 || hdv % 32)))
            return 2;
        const int64_t group = n_head / n_kv, ke = n_keys * n_kv * hdk, ve = n_keys * n_kv * hdv;
        const size_t elem = kind == 0 ? 4 : 2;
        std::vector<float> q, sinks;
        std::vector<uint8_t> kb, vb;
        if (!read(in, q, size_t(n_tok * n_head * hdk))) return 2;
        if (!read(in, kb, kind == 2 ? size_t(ke / 32 * 34) : size_t(ke) * elem)) return 2;
        if (!read(in, vb, kind == 2 ? size_t(ve / 32 * 34) : size_t(ve) * elem)) return 2;
        if (has_sinks && !read(in, sinks, size_t(n_head))) return 2;
        const int64_t hi0 = n_keys - n_tok + 1;
        for (int which = 0; which < 2; ++which) {
            void (*attend)(const attn_tile&) = which == 0 ? attend_tile : neon.attend_tile;
            std::vector<float> o(size_t(n_tok * n_head * hdv)), lse(size_t(n_tok * n_head));
            std::vector<float> tile_lse(size_t(tile_tok * tile_heads));
            std::vector<float> scratch(size_t(attn_tile_scratch(tile_tok * tile_heads, n_keys + 1)));
            for (int64_t kvh = 0; kvh < n_kv; ++kvh) {
                for (int64_t t0 = 0; t0 < n_tok; t0 += tile_tok) {
                    for (int64_t g0 = 0; g0 < group; g0 += tile_heads) {
                        const int64_t head0 = kvh * group + g0;
                        attn_tile a;
                        a.q = q.data() + t0 * n_head * hdk + head0 * hdk;
                        a.q_stride = n_head * hdk;
                        a.k = reinterpret_cast<const float*>(kb.data()) + kvh * hdk;
                        a.v = reinterpret_cast<const float*>(vb.data()) + kvh * hdv;
                        a.k_stride = n_kv * hdk;
                        a.v_stride = n_kv * hdv;
                        if (kind == 1) {
                            a.k16 = reinterpret_cast<const uint16_t*>(kb.data()) + kvh * hdk;
                            a.v16 = reinterpret_cast<const uint16_t*>(vb.data()) + kvh * hdv;
                        } else if (kind == 2) {
                            a.k8 = reinterpret_cast<const block_q8_0*>(kb.data()) + kvh * hdk / 32;
                            a.v8 = reinterpret_cast<const block_q8_0*>(vb.data()) + kvh * hdv / 32;
                        }
                        a.out = o.data() + t0 * n_head * hdv + head0 * hdv;
                        a.o_stride = n_head * hdv;
                        a.n_tok = std::min(tile_tok, n_tok - t0);
                        a.n_hq = std::min(tile_heads, group - g0);
                        a.head_dim_k = hdk;
                        a.head_dim_v = hdv;
                        a.hi0 = hi0 + t0;
                        a.window = window;
                        a.n_keys = key_cap;
                        a.softcap = softcap;
                        a.sinks = has_sinks ? sinks.data() + head0 : nullptr;
                        a.scratch = scratch.data();
                        a.lse = tile_lse.data();
                        attend(a);
                        for (int64_t t = 0; t < a.n_tok; ++t) {
                            for (int64_t i = 0; i < a.n_hq; ++i) lse[(t0 + t) * n_head + head0 + i] = tile_lse[t * a.n_hq + i];
                        }
                    }
                }
            }
            std::fwrite(o.data(), 4, o.size(), out);
            std::fwrite(lse.data(), 4, lse.size(), out);
        }
    }
    return 0;
}

int elementwise_cases(const ops_kernels& neon, FILE* in, FILE* out) {
    int32_t h[5];
    while (std::fread(h, sizeof(int32_t), 5, in) == 5) {
        const int op = h[0];
        const int64_t rows = h[1], n = h[2], a = h[3], b = h[4];
        float f = 0.0f;
        if (std::fread(&f, 4, 1, in) != 1 || op < 0 || op > 3 || rows < 1 || n < 1) return 2;
        if (op == 3 && (a < 2 || a % 2 || a > n)) return 2;
        std::vector<float> x, w;
        if (!read(in, x, size_t(rows * n))) return 2;
        if ((op == 0 && a) || op == 1 || op == 2) {
            if (!read(in, w, size_t(op == 0 ? n : rows * n))) return 2;
        }
        for (int which = 0; which < 2; ++which) {
            std::vector<float> y(x.size());
            if (op == 0) {
                auto norm = which == 0 ? rms_norm : neon.rms_norm;
                for (int64_t r = 0; r < rows; ++r) {
                    norm(x.data() + r * n, a ? w.data() : nullptr, y.data() + r * n, n, f);
                }
            } else if (op == 3) {
                const rope_params p{int32_t(a), b != 0, 10000.0f, 1.0f, nullptr};
                std::vector<float> cs(static_cast<size_t>(a));
                rope_cache(p, double(f), cs.data());
                y = x;
                (which == 0 ? rope_apply : neon.rope_apply)(y.data(), rows, n, p, cs.data());
            } else {
                y = x;
                auto act = op == 1 ? (which == 0 ? silu_mul : neon.silu_mul)
                                   : (which == 0 ? gelu_tanh_mul : neon.gelu_tanh_mul);
                act(y.data(), w.data(), rows * n);
            }
            std::fwrite(y.data(), 4, y.size(), out);
        }
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 4) return 2;
    const std::string mode = argv[1];
    FILE* in = std::fopen(argv[2], "rb");
    FILE* out = std::fopen(argv[3], "wb");
    if (!in || !out || (mode != "attend" && mode != "elementwise")) return 2;
    isa_kernels neon{};
    register_ops(neon);
    PYGGML_NEON_TIER::register_ops_neon(neon);
    const int rc = mode == "attend" ? attend_cases(neon.ops, in, out) : elementwise_cases(neon.ops, in, out);
    std::fclose(in);
    return std::fclose(out) == 0 ? rc : 2;
}
