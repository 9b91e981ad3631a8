// kv_cache.cpp: storage and conversion of cached keys and values (see kv_cache.h).
#include "model/kv_cache.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "core/dispatch.h"

namespace pyggml {

kv_cache::kv_cache(int32_t type, int64_t n_layer, int64_t n_ctx, int64_t k_dim, int64_t v_dim)
    : type_(type), traits_(get_type_traits(type)), n_layer_(n_layer), n_ctx_(n_ctx), k_dim_(k_dim), v_dim_(v_dim) {
    if (type != GGML_TYPE_F32 && type != GGML_TYPE_F16 && type != GGML_TYPE_Q8_0) {
        throw std::invalid_argument("KV cache type must be F32, F16 or Q8_0");
    }
    if (k_dim % traits_->blck_size || v_dim % traits_->blck_size) {
        throw std::invalid_argument(std::string("KV cache type ") + traits_->name + " needs key/value widths that are multiples of " +
                                    std::to_string(traits_->blck_size));
    }
    k_row_bytes_ = row_size(*traits_, k_dim);
    v_row_bytes_ = row_size(*traits_, v_dim);
    k_bytes_ = size_t(n_layer * n_ctx) * k_row_bytes_;
    v_bytes_ = size_t(n_layer * n_ctx) * v_row_bytes_;
    k_.reset(new uint8_t[k_bytes_]);  // uninitialised on purpose (see kv_cache.h)
    v_.reset(new uint8_t[v_bytes_]);
}

void kv_cache::store(int64_t layer, int64_t p0, int64_t n, const float* k, const float* v) {
    traits_->quantize(k, k_row(layer, p0), n, k_dim_, nullptr);
    traits_->quantize(v, v_row(layer, p0), n, v_dim_, nullptr);
}

void kv_cache::store_k(int64_t layer, int64_t p0, int64_t n, const float* k) {
    traits_->quantize(k, k_row(layer, p0), n, k_dim_, nullptr);
}

void kv_cache::load_k(int64_t layer, int64_t p0, int64_t p1, float* k) const {
    traits_->to_float(k_row(layer, p0), k, (p1 - p0) * k_dim_);
}

void kv_cache::load_v(int64_t layer, int64_t p0, int64_t p1, float* v) const {
    traits_->to_float(v_row(layer, p0), v, (p1 - p0) * v_dim_);
}

void kv_cache::move(int64_t dst, int64_t src, int64_t n) {
    for (int64_t l = 0; l < n_layer_; ++l) {
        std::memmove(k_row(l, dst), k_row(l, src), size_t(n) * k_row_bytes_);
        std::memmove(v_row(l, dst), v_row(l, src), size_t(n) * v_row_bytes_);
    }
}

void kv_cache::copy(int64_t dst, int64_t src, int64_t n) {
    for (int64_t l = 0; l < n_layer_; ++l) {
        std::memcpy(k_row(l, dst), k_row(l, src), size_t(n) * k_row_bytes_);
        std::memcpy(v_row(l, dst), v_row(l, src), size_t(n) * v_row_bytes_);
    }
}

}  // namespace pyggml
