// kv_cache.h: the attention key/value cache, one row per (layer, position).
//
// Rows are stored in F32, F16 or Q8_0 and converted to float32 when read back for
// attention. The model decides which slot holds which (sequence, position): see model.h.
// The storage is left uninitialised: only slots below n_past are ever read, and pages
// of the cache that were never written do not take up memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/blocks.h"
#include "core/types.h"

namespace pyggml {

class kv_cache {
public:
    // type: GGML_TYPE_F32, GGML_TYPE_F16 or GGML_TYPE_Q8_0 (kv_dim a multiple of 32).
    kv_cache(int32_t type, int64_t n_layer, int64_t n_ctx, int64_t k_dim, int64_t v_dim);

    int32_t type() const { return type_; }
    int64_t n_ctx() const { return n_ctx_; }
    size_t bytes() const { return k_bytes_ + v_bytes_; }

    // Stores n rows of keys (n, k_dim) and values (n, v_dim) at slots [p0, p0 + n).
    void store(int64_t layer, int64_t p0, int64_t n, const float* k, const float* v);
    // Overwrites the keys of slots [p0, p0 + n) (after re-rotating them).
    void store_k(int64_t layer, int64_t p0, int64_t n, const float* k);
    // Reads slots [p0, p1) of one layer into float rows: k (p1-p0, k_dim), v (p1-p0, v_dim).
    void load_k(int64_t layer, int64_t p0, int64_t p1, float* k) const;
    void load_v(int64_t layer, int64_t p0, int64_t p1, float* v) const;
    // An F16 cache's rows as they are: slot p's keys (k_dim halves; rows k_dim apart) and
    // values. Null for the other types.
    const uint16_t* k_f16(int64_t layer, int64_t p) const {
        return type_ == GGML_TYPE_F16 ? reinterpret_cast<const uint16_t*>(k_row(layer, p)) : nullptr;
    }
    const uint16_t* v_f16(int64_t layer, int64_t p) const {
        return type_ == GGML_TYPE_F16 ? reinterpret_cast<const uint16_t*>(v_row(layer, p)) : nullptr;
    }
    // A Q8_0 cache's rows as they are (k_dim / 32 blocks a row). Null for the other types.
    const block_q8_0* k_q8(int64_t layer, int64_t p) const {
        return type_ == GGML_TYPE_Q8_0 ? reinterpret_cast<const block_q8_0*>(k_row(layer, p)) : nullptr;
    }
    const block_q8_0* v_q8(int64_t layer, int64_t p) const {
        return type_ == GGML_TYPE_Q8_0 ? reinterpret_cast<const block_q8_0*>(v_row(layer, p)) : nullptr;
    }
    // Moves slots [src, src + n) of every layer to [dst, dst + n) (the ranges may overlap).
    void move(int64_t dst, int64_t src, int64_t n);
    // Copies slots [src, src + n) of every layer to [dst, dst + n) (ranges apart).
    void copy(int64_t dst, int64_t src, int64_t n);

private:
    uint8_t* k_row(int64_t layer, int64_t p) { return k_.get() + (layer * n_ctx_ + p) * k_row_bytes_; }
    uint8_t* v_row(int64_t layer, int64_t p) { return v_.get() + (layer * n_ctx_ + p) * v_row_bytes_; }
    const uint8_t* k_row(int64_t layer, int64_t p) const { return k_.get() + (layer * n_ctx_ + p) * k_row_bytes_; }
    const uint8_t* v_row(int64_t layer, int64_t p) const { return v_.get() + (layer * n_ctx_ + p) * v_row_bytes_; }

    int32_t type_;
    const type_traits* traits_;
    int64_t n_layer_, n_ctx_, k_dim_, v_dim_;
    size_t k_row_bytes_, v_row_bytes_, k_bytes_, v_bytes_;
    std::unique_ptr<uint8_t[]> k_;  // (n_layer, n_ctx, k_row_bytes)
    std::unique_ptr<uint8_t[]> v_;  // (n_layer, n_ctx, v_row_bytes)
};

}  // namespace pyggml
