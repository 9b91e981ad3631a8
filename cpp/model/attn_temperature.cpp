// attn_temperature.cpp: mistral3's attention temperature tuning (see model.h): queries
// far from the start are sharpened by a factor growing with log(position).
#include <cmath>

#include "model/model.h"

namespace pyggml {

float llama_model::attn_temperature(int64_t pos) const {
    if (hp_.attn_temp_scale == 0.0f || hp_.attn_temp_floor <= 0) return 1.0f;
    const double steps = std::floor(double(pos) / double(hp_.attn_temp_floor));
    return float(std::log(steps + 1.0) * double(hp_.attn_temp_scale) + 1.0);
}

}  // namespace pyggml
