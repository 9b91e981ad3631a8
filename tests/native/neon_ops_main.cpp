// neon_ops_main.cpp: runs the NEON attention tile (cpp/arch/arm/ops_neon.cpp) and the scalar
// reference (cpp/kernels/ops.cpp) on cases from a file, for tests/native/test_neon_qemu.py
// (cross-compiled for aarch64, run under qemu-user).
//
// usage: neon_ops IN OUT
// IN:  cases, each: int32 n_tok, n_head, n_kv, hdk, hdv, n_keys, window, kind (0 float32, 1 F16,
//      2 Q8_0), tile_tok, tile_heads, has_sinks, key_cap (attn_tile::n_keys); float32 softcap;
//      then q (n_tok, n_head, hdk) float32, the keys (n_keys, n_kv, hdk) and values (n_keys,
//      n_kv, hdv) in the kind's storage (Q8_0: blocks of 34 bytes), and sinks (n_head) float32
//      when has_sinks. The last token sees every key: hi0 = n_keys - n_tok + 1.
// OUT: per case, the reference then NEON: out (n_tok, n_head, hdv) and lse (n_tok, n_head) float32.
// Tiles: tile_tok tokens x tile_heads heads of one kv head's group, as the model hands them out.
// Exit 2 on bad input.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

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

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    FILE* in = std::fopen(argv[1], "rb");
    FILE* out = std::fopen(argv[2], "wb");
    if (!in || !out) return 2;
    isa_kernels neon{};
    register_ops(neon);
    register_ops_neon(neon);
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
            void (*attend)(const attn_tile&) = which == 0 ? attend_tile : neon.ops.attend_tile;
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
    std::fclose(in);
    return std::fclose(out) == 0 ? 0 : 2;
}
