// dispatch.cpp: picks, once, the dot kernels this CPU runs best (see kernels/vec_dot.h).
#include "kernels/vec_dot.h"

#include <cstring>

#include "core/cpu.h"
#include "core/fp16.h"
#include "quant/quants.h"
#include "core/types.h"

namespace pyggml {

namespace {

void from_float_f32(const float* x, void* y, int64_t k) { std::memcpy(y, x, size_t(k) * sizeof(float)); }
void from_float_f16(const float* x, void* y, int64_t k) {
    uint16_t* h = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < k; ++i) h[i] = fp32_to_fp16(x[i]);
}
void from_float_bf16(const float* x, void* y, int64_t k) {
    uint16_t* h = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < k; ++i) h[i] = fp32_to_bf16(x[i]);
}
template <typename Block, void (*Ref)(const float*, Block*, int64_t)>
void from_float_blocks(const float* x, void* y, int64_t k) {
    Ref(x, static_cast<Block*>(y), k);
}

constexpr from_float_fn q8_0 = from_float_blocks<block_q8_0, quantize_row_q8_0_ref>;
constexpr from_float_fn q8_1 = from_float_blocks<block_q8_1, quantize_row_q8_1_ref>;
constexpr from_float_fn q8_K = from_float_blocks<block_q8_K, quantize_row_q8_K_ref>;

struct dot_type_entry {
    int32_t type, vec_dot_type;
    from_float_fn from_float;
};

// Which format the activations take for each weight type (as ggml's type_traits_cpu).
constexpr dot_type_entry kDotTypes[] = {
    {GGML_TYPE_F32, GGML_TYPE_F32, from_float_f32},     {GGML_TYPE_F16, GGML_TYPE_F16, from_float_f16},
    {GGML_TYPE_BF16, GGML_TYPE_BF16, from_float_bf16},  {GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, q8_0},
    {GGML_TYPE_Q4_1, GGML_TYPE_Q8_1, q8_1},             {GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, q8_0},
    {GGML_TYPE_Q5_1, GGML_TYPE_Q8_1, q8_1},             {GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, q8_0},
    {GGML_TYPE_IQ4_NL, GGML_TYPE_Q8_0, q8_0},           {GGML_TYPE_Q2_K, GGML_TYPE_Q8_K, q8_K},
    {GGML_TYPE_Q3_K, GGML_TYPE_Q8_K, q8_K},             {GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, q8_K},
    {GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, q8_K},             {GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, q8_K},
    {GGML_TYPE_IQ4_XS, GGML_TYPE_Q8_K, q8_K},
};

constexpr int kIsaCount = 3;

// (isa, ggml type id) -> kernels; vec_dot null where the type has no kernel.
struct dispatch_table {
    vec_dot_traits traits[kIsaCount][GGML_TYPE_COUNT] = {};
    bool available[kIsaCount] = {};
    cpu_isa best = cpu_isa::scalar;
};

from_float_fn isa_from_float(cpu_isa isa, int32_t vec_dot_type) {
    switch (isa) {
#if defined(__x86_64__)
        case cpu_isa::avx2: return from_float_avx2(vec_dot_type);
#endif
#if defined(__aarch64__)
        case cpu_isa::neon: return from_float_neon(vec_dot_type);
#endif
        default: return nullptr;
    }
}

vec_dot_fn isa_kernel(cpu_isa isa, int32_t type) {
    switch (isa) {
        case cpu_isa::scalar: return vec_dot_kernel_ref(type);
#if defined(__x86_64__)
        case cpu_isa::avx2: return vec_dot_kernel_avx2(type);
#endif
#if defined(__aarch64__)
        case cpu_isa::neon: return vec_dot_kernel_neon(type);
#endif
        default: return nullptr;
    }
}

dispatch_table build_table() {
    dispatch_table t;
    const cpu_features& f = get_cpu_features();
    t.available[int(cpu_isa::scalar)] = true;
#if defined(__x86_64__)
    t.available[int(cpu_isa::avx2)] = f.avx2 && f.fma && f.f16c && f.bmi2;
    if (t.available[int(cpu_isa::avx2)]) t.best = cpu_isa::avx2;
#endif
#if defined(__aarch64__)
    t.available[int(cpu_isa::neon)] = f.neon && f.dotprod && f.fp16;
    if (t.available[int(cpu_isa::neon)]) t.best = cpu_isa::neon;
#endif
    for (int isa = 0; isa < kIsaCount; ++isa) {
        if (!t.available[isa]) continue;
        for (const dot_type_entry& e : kDotTypes) {
            // A type without a kernel in this ISA falls back to the scalar one.
            vec_dot_fn k = isa_kernel(cpu_isa(isa), e.type);
            if (!k) k = vec_dot_kernel_ref(e.type);
            from_float_fn f = isa_from_float(cpu_isa(isa), e.vec_dot_type);
            if (!f) f = e.from_float;
            t.traits[isa][e.type] = {e.vec_dot_type, f, k};
        }
    }
    return t;
}

const dispatch_table& table() {
    static const dispatch_table t = build_table();
    return t;
}

}  // namespace

const char* cpu_isa_name(cpu_isa isa) {
    switch (isa) {
        case cpu_isa::avx2: return "avx2";
        case cpu_isa::neon: return "neon";
        default: return "scalar";
    }
}

cpu_isa best_cpu_isa() { return table().best; }

const vec_dot_traits* get_vec_dot_traits(int32_t type, cpu_isa isa) {
    const int i = int(isa);
    if (type < 0 || type >= GGML_TYPE_COUNT || i < 0 || i >= kIsaCount) return nullptr;
    const dispatch_table& t = table();
    if (!t.available[i] || !t.traits[i][type].vec_dot) return nullptr;
    return &t.traits[i][type];
}

const vec_dot_traits* get_vec_dot_traits(int32_t type) { return get_vec_dot_traits(type, best_cpu_isa()); }

}  // namespace pyggml
