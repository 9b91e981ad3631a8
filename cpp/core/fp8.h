// fp8.h: scalar conversions of the 8-bit block scales of the 4-bit float formats.
//
// E8M0 (MXFP4: a power of two) and UE4M3 (NVFP4: unsigned, 4 exponent bits with bias 7,
// 3 mantissa bits). Both return half the scale, since kvalues_fp4 holds doubled E2M1
// values. Bit-exact with ggml (ggml-impl.h).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/fp16.h"

namespace pyggml {

// 2^(e - 128): the E8M0 value 2^(e - 127), halved (as float bits, then as float).
constexpr uint32_t e8m0_half_bits(uint8_t e) { return e < 2 ? 0x00200000u << e : uint32_t(e - 1) << 23; }
inline float e8m0_to_fp32_half(uint8_t e) { return fp32_from_bits(e8m0_half_bits(e)); }

// Half the UE4M3 value; 0 and 0x7F (NaN) read as zero; bit 7 is ignored. Built from the bits
// (both cases are exact, so this equals ggml's ldexpf form): subnormal man * 2^-10, normal
// (1 + man / 8) * 2^(exp - 8).
inline float ue4m3_to_fp32_half(uint8_t x) {
    if (x == 0 || x == 0x7F) return 0.0f;
    const uint32_t exp = (x >> 3) & 0xF;
    const uint32_t man = x & 0x7;
    if (exp == 0) return float(man) * 0.0009765625f;
    return fp32_from_bits(((exp + 119) << 23) | (man << 20));
}

// Nearest UE4M3 code (round half up on the first dropped bit), clamped to 448; 0 for x <= 0.
inline uint8_t fp32_to_ue4m3(float x) {
    if (!(x > 0.0f)) return 0;
    if (x > 448.0f) x = 448.0f;
    const uint32_t bits = fp32_to_bits(x);
    const int fp32_exp = int((bits >> 23) & 0xFF) - 127;
    const int fp32_man = int((bits >> 20) & 0x7);
    int exp = fp32_exp + 7;
    if (exp <= 0) {  // subnormal: man * 2^-9
        int man = int(x * 512.0f + 0.5f);
        if (man > 7) man = 7;
        return man < 1 ? 0 : uint8_t(man);
    }
    if (exp >= 15) return 0x7E;
    int man = fp32_man + int((bits >> 19) & 1);
    if (man > 7) {
        man = 0;
        if (++exp >= 15) return 0x7E;
    }
    return uint8_t((exp << 3) | man);
}

}  // namespace pyggml
