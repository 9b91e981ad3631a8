// dispatch.cpp: builds, once, the table of each tier this CPU runs (see dispatch.h).
#include "core/dispatch.h"

#include <cstdlib>

namespace pyggml {

namespace {

// The scalar references, the starting point of every tier.
void register_references(isa_kernels& k) {
    register_types(k);
    register_search(k);
    register_quantize_act(k);
    register_vec_dot(k);
    register_vec_dot_ternary(k);
    register_vec_dot_fp4(k);
    register_vec_dot_q1_0(k);
    register_vec_dot_iq(k);
    register_vec_dot_int8(k);
    register_vec_dot_bnb4(k);
    register_ops(k);
    register_vq(k);
}

#if defined(__x86_64__)
// The AVX2 kernels: the avx2 tier, and the base the VNNI tiers put their twins over.
void register_avx2_tier(isa_kernels& k) {
    register_float_avx2(k);
    register_legacy_avx2(k);
    register_search_avx2(k);
    register_quantize_act_avx2(k);
    register_vec_dot_avx2(k);
    register_repack_avx2(k);
    register_ops_avx2(k);
    register_vq_avx2(k);
    register_vec_dot_ternary_avx2(k);
    register_vec_dot_fp4_avx2(k);
    register_vec_dot_q1_0_avx2(k);
    register_vec_dot_iq_avx2(k);
    register_vec_dot_int8_avx2(k);
    register_vec_dot_bnb4_avx2(k);
}
#endif

isa_kernels build_table(cpu_isa isa) {
    isa_kernels k{};
    k.repacked_max_nt = VEC_DOT_MAX_NT;
    k.repacked_groups = 1;
    register_references(k);
    switch (isa) {
        case cpu_isa::scalar:
            register_repack(k);
            register_vec_dot_iq_decoded(k);
            break;
#if defined(__x86_64__)
        case cpu_isa::avx2:
            register_avx2_tier(k);
            register_repack_avx2_pairs(k);  // not under the VNNI tiers, whose kernels replace these
            break;
        case cpu_isa::avxvnni:  // the AVX2 kernels, then the AVX-VNNI twins over them
            register_avx2_tier(k);
            register_repack_avxvnni(k);
            register_grid_x8_avxvnni(k);
            break;
        case cpu_isa::avx512:  // the AVX2 kernels, then the AVX-512 twins over them
            register_avx2_tier(k);
            register_repack_avx512(k);
            register_grid_x8_avx512(k);
            register_vec_dot_q1_0_avx512(k);
            if (get_cpu_features().avx512_bf16) register_vec_dot_bf16_avx512bf16(k);
            break;
#endif
#if defined(__aarch64__)
        case cpu_isa::neon: neon::register_neon_tier(k); break;  // ARMv8.0: SDOT's sums without SDOT
        case cpu_isa::dotprod: dotprod::register_neon_tier(k); break;
        case cpu_isa::i8mm:  // the dotprod tier's kernels, then the SMMLA ones over them
            dotprod::register_neon_tier(k);
            dotprod::register_repack_i8mm(k);
            break;
#endif
        default: break;
    }
    register_vec_dot_q1_0_decoded(k);  // over this tier's Q8_0 kernels
    // Each weight type's activations are converted by this tier's conversion of its dot type.
    for (vec_dot_traits& v : k.vec_dot) {
        if (v.vec_dot) {
            v.from_float = k.from_float[v.vec_dot_type];
            v.from_float_split = k.from_float_split[v.vec_dot_type];
        }
    }
    return k;
}

int rank(cpu_isa isa) {
    for (int i = 0; i < kCpuIsaCount; ++i) {
        if (kCpuIsas[i] == isa) return i;
    }
    return 0;
}

struct registry {
    isa_kernels tables[kCpuIsaCount] = {};
    bool available[kCpuIsaCount] = {};
    cpu_tier_choice choice;

    registry() {
        const char* env = std::getenv(kCpuTierVariable);
        cpu_isa cap = kCpuIsas[kCpuIsaCount - 1];
        if (env && *env) {
            choice.requested = env;
            choice.request_known = cpu_isa_from_name(choice.requested, &cap);
            if (!choice.request_known) cap = kCpuIsas[kCpuIsaCount - 1];
        }
        for (cpu_isa isa : kCpuIsas) {
            if (!cpu_runs(isa)) continue;
            tables[int(isa)] = build_table(isa);
            available[int(isa)] = true;
            choice.highest = isa;
            if (rank(isa) <= rank(cap)) choice.best = isa;
        }
    }
};

const registry& get_registry() {
    static const registry r;
    return r;
}

bool valid_type(int32_t type) { return type >= 0 && type < PYGGML_TYPE_TABLE_SIZE; }

}  // namespace

const isa_kernels* get_isa_kernels(cpu_isa isa) {
    const int i = int(isa);
    if (i < 0 || i >= kCpuIsaCount) return nullptr;
    const registry& r = get_registry();
    return r.available[i] ? &r.tables[i] : nullptr;
}

cpu_isa best_cpu_isa() { return get_registry().choice.best; }

const cpu_tier_choice& get_cpu_tier_choice() { return get_registry().choice; }

const isa_kernels& best_isa_kernels() { return *get_isa_kernels(best_cpu_isa()); }

const type_traits* get_type_traits(int32_t type, cpu_isa isa) {
    const isa_kernels* k = get_isa_kernels(isa);
    if (!k || !valid_type(type) || !k->types[type].name) return nullptr;
    return &k->types[type];
}

const type_traits* get_type_traits(int32_t type) { return get_type_traits(type, best_cpu_isa()); }

const vec_dot_traits* get_vec_dot_traits(int32_t type, cpu_isa isa) {
    const isa_kernels* k = get_isa_kernels(isa);
    if (!k || !valid_type(type) || !k->vec_dot[type].vec_dot) return nullptr;
    return &k->vec_dot[type];
}

const vec_dot_traits* get_vec_dot_traits(int32_t type) { return get_vec_dot_traits(type, best_cpu_isa()); }

const ops_kernels* get_ops_kernels(cpu_isa isa) {
    const isa_kernels* k = get_isa_kernels(isa);
    return k ? &k->ops : nullptr;
}

const ops_kernels& get_ops_kernels() { return best_isa_kernels().ops; }

vec_dot_fn repacked_kernel(int32_t layout, cpu_isa isa) {
    const isa_kernels* k = get_isa_kernels(isa);
    if (!k || layout <= weight_layout_plain || layout >= weight_layout_count) return nullptr;
    return k->repacked[layout];
}

}  // namespace pyggml
