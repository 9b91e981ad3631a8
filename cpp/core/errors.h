// errors.h: the runtime's own exception types. The bindings turn them into pyggml's
// Python errors (python/bindings.cpp): resource_error -> pyggml.ResourceError,
// nonfinite_error -> pyggml.NonFiniteError.
#pragma once

#include <stdexcept>

namespace pyggml {

// The machine cannot provide what was asked: a thread could not be started, a buffer
// could not be allocated.
struct resource_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A forward pass produced a NaN or an infinity.
struct nonfinite_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace pyggml
