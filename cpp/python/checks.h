// checks.h: argument checks that several bindings share.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "core/dispatch.h"

namespace pyggml {

// An instruction-set tier by name: "scalar", "avx2", "avxvnni", "avx512", "neon", "dotprod", "i8mm", or "best"
// (the one in use).
inline cpu_isa isa_or_throw(const std::string& name) {
    if (name == "best") return best_cpu_isa();
    cpu_isa isa;
    if (!cpu_isa_from_name(name, &isa)) {
        throw pybind11::value_error("unknown instruction set '" + name + "' (scalar, avx2, avxvnni, avx512, neon, dotprod, i8mm or best)");
    }
    return isa;
}

// The conversions of a type in the best tier, or in the scalar references.
inline const type_traits& traits_or_throw(int32_t type, bool reference = false) {
    const type_traits* t = reference ? get_type_traits(type, cpu_isa::scalar) : get_type_traits(type);
    if (!t) throw pybind11::value_error("unknown ggml type id " + std::to_string(type));
    return *t;
}

}  // namespace pyggml
