// dispatch.h: one registry of the kernels each instruction-set tier runs.
//
// For every tier (cpu.h) that this module holds and this CPU runs, one table gives each slot
// (a type's conversions, a dot kernel, an activation conversion, a repacked kernel, the
// forward pass's ops, the quantizers' scale searches) its fastest implementation: the
// tier's SIMD twin where it has one (arch/<arch>/<reference>_<isa>.cpp), the scalar
// reference (quant/, kernels/) elsewhere. The tables are built once, on first use, and
// never change afterwards; no other code looks at the CPU or switches on the tier.
//
// Each source file adds its own slots through one register_* function below: the
// references fill every table first, then a tier's twins overwrite the slots they have.
// A new tier: a cpu_isa value and its condition in cpu_runs (core/cpu.cpp), its files in
// arch/, and one block in build_tables (dispatch.cpp).
#pragma once

#include <cstdint>
#include <string>

#include "core/cpu.h"
#include "core/types.h"
#include "kernels/ops.h"
#include "kernels/vec_dot.h"
#include "kernels/weight_view.h"

namespace pyggml {

struct quant_search_ops;  // quant/search.h

// pyggml.vq's scalar-quantizer distances (quant/vq.h says what they compute).
using sq_distances_fn = void (*)(const uint8_t* codes, int64_t n, int64_t code_size, int64_t dim, const float* qd,
                                 const float* step, float* out);

struct isa_kernels {
    // By ggml type id: the type's conversions (name null: an id the runtime does not know).
    type_traits types[PYGGML_TYPE_TABLE_SIZE];
    // By ggml type id: float32 -> activations of that type (set for the dot types only).
    from_float_fn from_float[PYGGML_TYPE_TABLE_SIZE];
    // By ggml type id: the conversions that split off outlier columns (vec_dot.h).
    from_float_split_fn from_float_split[PYGGML_TYPE_TABLE_SIZE];
    // By weight type: its dot type, that type's from_float above, and the dot kernel
    // (vec_dot null: no kernel for the type).
    vec_dot_traits vec_dot[PYGGML_TYPE_TABLE_SIZE];
    // By weight_layout: the kernel over repacked rows (kernels/repack.h), null where this tier
    // has none of its own. Tiers never take another's: repacking only pays with their own
    // kernels (the scalar tier holds the references, the oracle of the SIMD ones).
    vec_dot_fn repacked[weight_layout_count];
    // Q8_0 groups (block_q8_0x8) against plain Q8_0 activations (block_q8_0): the kernel of the
    // rows decoded into such groups (Q1_0, vec_dot_q1_0.cpp); the Q8_0 layout's own kernel above
    // reads block_q8_0s, whose quant sums let the VNNI tiers take the weights as unsigned.
    vec_dot_fn q8_0x8_plain_act;
    // The most tokens one call of a repacked kernel takes (its nt; VEC_DOT_MAX_NT unless the
    // tier's registers hold more).
    int repacked_max_nt;
    // The row groups one call of a repacked kernel, or of a kernel over rows decoded 8 at a time
    // (vec_dot_traits::decoded_x8_dot), works on together (matmul hands it as many per call; 1
    // unless the tier's registers hold several groups' rows).
    int repacked_groups;
    // By weight_layout: the groups a call where a layout's kernel differs from repacked_groups
    // (0: repacked_groups). The avx2 tier hands its kernels with two-group steps two groups a
    // call, the rest one (more rows a call would crowd out the next tokens' weights).
    int repacked_layout_groups[weight_layout_count];
    ops_kernels ops;
    // The scalar quantizer's distance kernels of pyggml.vq: [0] 4-bit codes, [1] 8-bit.
    sq_distances_fn sq_distances[2];
    // The scale searches behind this tier's k-quant and IQ4 quantizers.
    const quant_search_ops* search;
};

// The table of one tier; null when this module lacks it or this CPU cannot run it.
const isa_kernels* get_isa_kernels(cpu_isa isa);
// The tier picked for this CPU (the last of kCpuIsas that cpu_runs, at most the one
// PYGGML_CPU_TIER names) and its table.
cpu_isa best_cpu_isa();
const isa_kernels& best_isa_kernels();

// How best_cpu_isa was chosen: the highest tier this CPU runs, and PYGGML_CPU_TIER's value
// (empty: unset; request_known false: it names no tier, and no cap applies). A cap names a
// tier in kCpuIsas; tiers after it in that list are not chosen.
struct cpu_tier_choice {
    cpu_isa best = cpu_isa::scalar;
    cpu_isa highest = cpu_isa::scalar;
    std::string requested;
    bool request_known = true;
};
const cpu_tier_choice& get_cpu_tier_choice();

// Lookups. Without an isa: the best tier. Null for an unknown type, a slot the tier has
// nothing in, or a tier that is not available.
const type_traits* get_type_traits(int32_t type);
const type_traits* get_type_traits(int32_t type, cpu_isa isa);
const vec_dot_traits* get_vec_dot_traits(int32_t type);
const vec_dot_traits* get_vec_dot_traits(int32_t type, cpu_isa isa);
const ops_kernels& get_ops_kernels();
const ops_kernels* get_ops_kernels(cpu_isa isa);
vec_dot_fn repacked_kernel(int32_t layout, cpu_isa isa);

// The slots each file fills. Scalar references, in every table:
void register_types(isa_kernels& k);         // core/types.cpp: the type table, reference conversions
void register_search(isa_kernels& k);        // quant/search.cpp
void register_quantize_act(isa_kernels& k);  // kernels/quantize_act.cpp
void register_vec_dot(isa_kernels& k);       // kernels/vec_dot.cpp (also each type's dot type)
void register_repack(isa_kernels& k);        // kernels/repack.cpp (the scalar table only)
// kernels/vec_dot_iq.cpp: the codebook types' reference decoders and kernels over decoded
// rows (the scalar table only: each SIMD tier keeps its own or goes without)
void register_vec_dot_iq_decoded(isa_kernels& k);
void register_ops(isa_kernels& k);           // kernels/ops.cpp
void register_vq(isa_kernels& k);            // quant/vq.cpp: the scalar quantizer's distances
void register_vec_dot_ternary(isa_kernels& k);  // kernels/vec_dot_ternary.cpp: TQ1_0, TQ2_0
void register_vec_dot_fp4(isa_kernels& k);      // kernels/vec_dot_fp4.cpp: MXFP4, NVFP4
void register_vec_dot_q1_0(isa_kernels& k);     // kernels/vec_dot_q1_0.cpp
// kernels/vec_dot_q1_0.cpp: Q1_0 decoded to Q8_0 for many tokens, on the tier's Q8_0 kernels
// (after the tier's own registrations)
void register_vec_dot_q1_0_decoded(isa_kernels& k);
void register_vec_dot_iq(isa_kernels& k);       // kernels/vec_dot_iq.cpp: IQ1_S .. IQ3_S
void register_vec_dot_int8(isa_kernels& k);     // kernels/vec_dot_int8.cpp: the int8 load-time formats, llm.int8
void register_vec_dot_bnb4(isa_kernels& k);     // kernels/vec_dot_bnb4.cpp: NF4, FP4 (+ double quantization)
// AVX2 twins (arch/x86/, compiled with -mavx2 -mfma -mf16c -mbmi2):
void register_float_avx2(isa_kernels& k);         // float_avx2.cpp
void register_legacy_avx2(isa_kernels& k);        // legacy_avx2.cpp
void register_search_avx2(isa_kernels& k);        // search_avx2.cpp, with the k-quant and IQ4 quantizers on it
void register_quantize_act_avx2(isa_kernels& k);  // quantize_act_avx2.cpp
void register_vec_dot_avx2(isa_kernels& k);       // vec_dot_avx2.cpp
void register_repack_avx2(isa_kernels& k);        // repack_avx2.cpp
void register_repack_avx2_pairs(isa_kernels& k);  // repack_avx2.cpp: two groups a call (avx2 tier only)
void register_ops_avx2(isa_kernels& k);           // ops_avx2.cpp
void register_vq_avx2(isa_kernels& k);            // vq_avx2.cpp
void register_vec_dot_ternary_avx2(isa_kernels& k);  // vec_dot_ternary_avx2.cpp
void register_vec_dot_fp4_avx2(isa_kernels& k);      // vec_dot_fp4_avx2.cpp
void register_vec_dot_q1_0_avx2(isa_kernels& k);     // vec_dot_q1_0_avx2.cpp
void register_vec_dot_iq_avx2(isa_kernels& k);       // vec_dot_iq_avx2.cpp
void register_vec_dot_int8_avx2(isa_kernels& k);     // vec_dot_int8_avx2.cpp
void register_vec_dot_bnb4_avx2(isa_kernels& k);     // vec_dot_bnb4_avx2.cpp
// AVX-VNNI twins (arch/x86/*_avxvnni.cpp, compiled with the AVX2 flags and -mavxvnni):
void register_repack_avxvnni(isa_kernels& k);     // repack_avxvnni.cpp
void register_grid_x8_avxvnni(isa_kernels& k);    // grid_x8_avxvnni.cpp
// AVX-512 twins (arch/x86/*_avx512.cpp, the AVX2 flags and -mavx512f/bw/vl/dq/vnni):
void register_repack_avx512(isa_kernels& k);      // repack_avx512.cpp
void register_grid_x8_avx512(isa_kernels& k);     // grid_x8_avx512.cpp
void register_vec_dot_q1_0_avx512(isa_kernels& k);  // vec_dot_q1_0_avx512.cpp
// ... and with -mavx512bf16 (*_avx512bf16.cpp), registered where the CPU has AVX-512 BF16:
void register_vec_dot_bf16_avx512bf16(isa_kernels& k);  // vec_dot_bf16_avx512bf16.cpp
// NEON twins (arch/arm/*_neon.cpp), each file compiled twice (arch/arm/neon_tier.h): for the
// neon tier (-march=armv8-a) and for the dotprod tier (-march=armv8.2-a+dotprod+fp16), each
// compile's names in a namespace of its own; the i8mm twins (arch/arm/*_i8mm.cpp,
// -march=armv8.2-a+dotprod+fp16+i8mm) in the dotprod one, over whose kernels they go.
namespace neon {
void register_neon_tier(isa_kernels& k);  // tier_neon.cpp: every NEON file's kernels
}
namespace dotprod {
void register_neon_tier(isa_kernels& k);
void register_repack_i8mm(isa_kernels& k);  // repack_i8mm.cpp (Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_XS)
}

}  // namespace pyggml
