// kv_cache.h: the attention key/value cache, one row per (layer, position).
//
// Rows are stored in F32, F16 or Q8_0 and converted to float32 when read back for
// attention. Positions are cache slots: slot p holds the token at position p.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "type_traits.h"

namespace pyggml {

class kv_cache {
public:
    // type: GGML_TYPE_F32, GGML_TYPE_F16 or GGML_TYPE_Q8_0 (kv_dim a multiple of 32).
    kv_cache(int32_t type, int64_t n_layer, int64_t n_ctx, int64_t k_dim, int64_t v_dim);

    int32_t type() const { return type_; }
    int64_t n_ctx() const { return n_ctx_; }
    size_t bytes() const { return k_.size() + v_.size(); }

    // Stores n rows of keys (n, k_dim) and values (n, v_dim) at slots [p0, p0 + n).
    void store(int64_t layer, int64_t p0, int64_t n, const float* k, const float* v);
    // Overwrites the keys of slots [p0, p0 + n) (after re-rotating them).
    void store_k(int64_t layer, int64_t p0, int64_t n, const float* k);
    // Reads slots [p0, p1) of one layer into float rows: k (p1-p0, k_dim), v (p1-p0, v_dim).
    void load_k(int64_t layer, int64_t p0, int64_t p1, float* k) const;
    void load_v(int64_t layer, int64_t p0, int64_t p1, float* v) const;
    // Moves slots [src, src + n) of every layer to [dst, dst + n) (dst < src).
    void move(int64_t dst, int64_t src, int64_t n);

    void clear();

private:
    uint8_t* k_row(int64_t layer, int64_t p) { return k_.data() + (layer * n_ctx_ + p) * k_row_bytes_; }
    uint8_t* v_row(int64_t layer, int64_t p) { return v_.data() + (layer * n_ctx_ + p) * v_row_bytes_; }
    const uint8_t* k_row(int64_t layer, int64_t p) const { return k_.data() + (layer * n_ctx_ + p) * k_row_bytes_; }
    const uint8_t* v_row(int64_t layer, int64_t p) const { return v_.data() + (layer * n_ctx_ + p) * v_row_bytes_; }

    int32_t type_;
    const type_traits* traits_;
    int64_t n_layer_, n_ctx_, k_dim_, v_dim_;
    size_t k_row_bytes_, v_row_bytes_;
    std::vector<uint8_t> k_;  // (n_layer, n_ctx, k_row_bytes)
    std::vector<uint8_t> v_;  // (n_layer, n_ctx, v_row_bytes)
};

}  // namespace pyggml
