// validate.h: scan tensor data for values no correct file holds, as llama.cpp's
// ggml_validate_row_data does: a NaN or an infinity among float values, or in the
// scales of a quantized block (a corrupt block decodes to non-finite weights).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyggml {

struct data_problem {
    int64_t index = -1;       // first bad element (F32, F16, BF16) or block (quantized); -1: none
    const char* field = "";   // "value", or the block field: "d", "dmin", "m", "s"
    double value = 0.0;       // what the field holds
};

// n_bytes must be a whole number of elements or blocks of `type`. Spread over n_threads
// threads (0: every core). Throws std::invalid_argument for a type without a layout.
data_problem validate_tensor_data(int32_t type, const void* data, size_t n_bytes, int n_threads);

}  // namespace pyggml
