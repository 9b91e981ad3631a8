// fp16.h: scalar conversions between float32 and the 16-bit float formats.
//
// Bit-exact with ggml (round to nearest even; NaN stays NaN) and with numpy's
// astype(float16). SIMD code may use F16C/NEON instead; these are the reference.
#pragma once

#include <cstdint>
#include <cstring>

namespace pyggml {

inline uint32_t fp32_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float fp32_from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return fp32_from_bits(sign | 0x7f800000 | (mant << 13));  // inf / NaN
    if (exp != 0) return fp32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return fp32_from_bits(sign);  // signed zero
    // subnormal half: normalise into a float32
    int e = 113;
    while ((mant & 0x400) == 0) { mant <<= 1; --e; }
    return fp32_from_bits(sign | (uint32_t(e) << 23) | ((mant & 0x3ff) << 13));
}

inline uint16_t fp32_to_fp16(float f) {
    const uint32_t x = fp32_to_bits(f);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) {  // NaN: keep the top payload bits, stay a NaN
        uint16_t r = uint16_t(0x7c00 | ((ax >> 13) & 0x3ff));
        if (r == 0x7c00) r |= 0x200;
        return sign | r;
    }
    if (ax >= 0x38800000) {  // normal in half precision (or overflow)
        uint32_t r = ax - 0x38000000;  // rebias exponent 127 -> 15
        r = (r + 0xfff + ((r >> 13) & 1)) >> 13;
        if (r >= 0x7c00) return sign | 0x7c00;
        return uint16_t(sign | r);
    }
    const uint32_t e = ax >> 23;
    if (e == 0) return sign;  // float32 zero or subnormal: rounds to zero
    const uint32_t m = (ax & 0x7fffff) | 0x800000;
    const uint32_t s = 126 - e;  // >= 14
    if (s > 24) return sign;
    uint32_t q = m >> s;
    const uint32_t rem = m & ((1u << s) - 1);
    const uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return uint16_t(sign | q);
}

inline float bf16_to_fp32(uint16_t h) { return fp32_from_bits(uint32_t(h) << 16); }

// Same as ggml_compute_fp32_to_bf16: NaN forced quiet, otherwise round to nearest even.
inline uint16_t fp32_to_bf16(float f) {
    const uint32_t u = fp32_to_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 64);
    return uint16_t((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

}  // namespace pyggml
