// dequant.cuh: weights in their GGUF block layouts (blocks.h) read on the GPU, 32 values
// at a time.
//
// dequant32<type>(row, u, v) writes values 32u .. 32u + 31 of one row into v: a whole
// block of the 32-value types, one sub-block (or two sub-blocks of 16) of the 256-value
// k-quants. Every product and sum is rounded as ggml's dequantize_row_* (and the CPU
// twins in quants_*.cpp, built with -ffp-contract=off) round them: __fmul_rn and friends
// are never fused into FMAs, so these values equal the CPU's bit for bit. The matrix
// kernels (matmul.cu) multiply these values with float32 activations.
//
// Alignment: the device copies of the weights start on 256-byte boundaries and every row
// is a whole number of blocks, so a block starts at a multiple of its size; the loads
// below use the widest access that size allows (2 bytes for the 18-, 22-, 34-, 110- and
// 210-byte blocks).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "core/dispatch.h"

namespace pyggml {
namespace cuda {

__device__ __forceinline__ float ld_f16(const uint8_t* p) { return __half2float(*reinterpret_cast<const __half*>(p)); }
__device__ __forceinline__ uint32_t ld_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
__device__ __forceinline__ uint32_t ld_u32(const uint8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }
// Four bytes at a 2-byte boundary.
__device__ __forceinline__ uint32_t ld_u32_a2(const uint8_t* p) { return ld_u16(p) | (ld_u16(p + 2) << 16); }
__device__ __forceinline__ int byte_of(uint32_t w, int i) { return int((w >> (8 * i)) & 0xffu); }

__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float sub(float a, float b) { return __fsub_rn(a, b); }

static __constant__ const int8_t kIq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

template <int TYPE>
__device__ __forceinline__ void dequant32(const uint8_t* __restrict__ row, int u, float* v);

template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_F32>(const uint8_t* __restrict__ row, int u, float* v) {
    const float4* p = reinterpret_cast<const float4*>(row) + size_t(u) * 8;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const float4 a = p[i];
        v[4 * i] = a.x;
        v[4 * i + 1] = a.y;
        v[4 * i + 2] = a.z;
        v[4 * i + 3] = a.w;
    }
}

template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_F16>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint4* p = reinterpret_cast<const uint4*>(row) + size_t(u) * 4;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint4 a = p[i];
        const uint32_t w[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            v[8 * i + 2 * j] = __half2float(__ushort_as_half(uint16_t(w[j] & 0xffffu)));
            v[8 * i + 2 * j + 1] = __half2float(__ushort_as_half(uint16_t(w[j] >> 16)));
        }
    }
}

template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_BF16>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint4* p = reinterpret_cast<const uint4*>(row) + size_t(u) * 4;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint4 a = p[i];
        const uint32_t w[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            v[8 * i + 2 * j] = __uint_as_float(w[j] << 16);
            v[8 * i + 2 * j + 1] = __uint_as_float(w[j] & 0xffff0000u);
        }
    }
}

// Q4_0: 18 bytes: d, qs[16]; value j = ((qs[j] & 15) - 8) d, value j + 16 = ((qs[j] >> 4) - 8) d.
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q4_0>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u) * 18;
    const float d = ld_f16(b);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint32_t q = ld_u32_a2(b + 2 + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int c = byte_of(q, j);
            v[4 * i + j] = mul(float((c & 15) - 8), d);
            v[4 * i + j + 16] = mul(float((c >> 4) - 8), d);
        }
    }
}

// Q4_1: 20 bytes: d, m, qs[16]; value = q d + m.
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q4_1>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u) * 20;
    const float d = ld_f16(b), m = ld_f16(b + 2);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint32_t q = ld_u32(b + 4 + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int c = byte_of(q, j);
            v[4 * i + j] = add(mul(float(c & 15), d), m);
            v[4 * i + j + 16] = add(mul(float(c >> 4), d), m);
        }
    }
}

// Q5_0: 22 bytes: d, qh[4], qs[16]; the fifth bit of value j is bit j of qh.
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q5_0>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u) * 22;
    const float d = ld_f16(b);
    const uint32_t qh = ld_u32_a2(b + 2);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint32_t q = ld_u32_a2(b + 6 + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int l = 4 * i + j;
            const int c = byte_of(q, j);
            const int h0 = int(((qh >> l) << 4) & 0x10u), h1 = int((qh >> (l + 12)) & 0x10u);
            v[l] = mul(float(((c & 15) | h0) - 16), d);
            v[l + 16] = mul(float(((c >> 4) | h1) - 16), d);
        }
    }
}

// Q5_1: 24 bytes: d, m, qh[4], qs[16]; value = q d + m.
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q5_1>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u) * 24;
    const float d = ld_f16(b), m = ld_f16(b + 2);
    const uint32_t qh = ld_u32(b + 4);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint32_t q = ld_u32(b + 8 + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int l = 4 * i + j;
            const int c = byte_of(q, j);
            const int h0 = int(((qh >> l) << 4) & 0x10u), h1 = int((qh >> (l + 12)) & 0x10u);
            v[l] = add(mul(float((c & 15) | h0), d), m);
            v[l + 16] = add(mul(float((c >> 4) | h1), d), m);
        }
    }
}

// Q8_0: 34 bytes: d, qs[32] (int8); value = q d.
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q8_0>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u) * 34;
    const float d = ld_f16(b);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const uint32_t q = ld_u32_a2(b + 2 + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; ++j) v[4 * i + j] = mul(float(int8_t(byte_of(q, j))), d);
    }
}

// IQ4_NL: 18 bytes as Q4_0, the nibbles index the non-linear grid.
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_IQ4_NL>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u) * 18;
    const float d = ld_f16(b);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint32_t q = ld_u32_a2(b + 2 + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int c = byte_of(q, j);
            v[4 * i + j] = mul(d, float(kIq4nl[c & 15]));
            v[4 * i + j + 16] = mul(d, float(kIq4nl[c >> 4]));
        }
    }
}

// Q2_K: 84 bytes: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.
// Value 128 h + 32 jj + 16 half + l (h < 2, jj < 4, half < 2, l < 16) has scale byte
// scales[8 h + 2 jj + half] and quant (qs[32 h + 16 half + l] >> 2 jj) & 3.
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q2_K>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u >> 3) * 84;
    const int j = u & 7, h = j >> 2, jj = j & 3, shift = 2 * jj;
    const float d = ld_f16(b + 80), dmin = ld_f16(b + 82);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int sc = b[8 * h + 2 * jj + half];
        const float dl = mul(d, float(sc & 15)), ml = mul(dmin, float(sc >> 4));
        const uint8_t* qq = b + 16 + 32 * h + 16 * half;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const uint32_t q = ld_u32(qq + 4 * i);
#pragma unroll
            for (int k = 0; k < 4; ++k) v[16 * half + 4 * i + k] = sub(mul(dl, float((byte_of(q, k) >> shift) & 3)), ml);
        }
    }
}

// Q3_K's signed six-bit scale j (0..15), as quants_k.cpp q3_K_scale.
__device__ __forceinline__ int q3_K_scale(const uint8_t* scales, int j) {
    int sc = j < 8 ? (scales[j] & 0xF) : (scales[j - 8] >> 4);
    sc = sc | (((scales[8 + (j & 3)] >> (2 * (j >> 2))) & 3) << 4);
    return sc - 32;
}

// Q3_K: 110 bytes: hmask[32], qs[64], scales[12], d. Value 128 h + 32 jj + 16 half + l:
// low bits (qs[32 h + 16 half + l] >> 2 jj) & 3, minus 4 unless bit 4 h + jj of
// hmask[16 half + l]; scale q3_K_scale(8 h + 2 jj + half).
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q3_K>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u >> 3) * 110;
    const int j = u & 7, h = j >> 2, jj = j & 3, shift = 2 * jj;
    const uint32_t m = 1u << (4 * h + jj);
    const float d_all = ld_f16(b + 108);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const float dl = mul(d_all, float(q3_K_scale(b + 96, 8 * h + 2 * jj + half)));
        const uint8_t* qq = b + 32 + 32 * h + 16 * half;
        const uint8_t* hh = b + 16 * half;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const uint32_t q = ld_u16(qq + 2 * i), hm = ld_u16(hh + 2 * i);
#pragma unroll
            for (int k = 0; k < 2; ++k) {
                const int lo = int((q >> (8 * k + shift)) & 3u);
                const int hi = ((hm >> (8 * k)) & m) ? 0 : 4;
                v[16 * half + 2 * i + k] = mul(dl, float(lo - hi));
            }
        }
    }
}

// Q4_K / Q5_K's six-bit scale and min of sub-block j (ggml's get_scale_min_k4).
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t* q, int& sc, int& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Q4_K: 144 bytes: d, dmin, scales[12], qs[128]. Sub-block j (32 values) reads the low
// (j even) or high (j odd) nibbles of qs[32 (j / 2) ..]; value = d sc q - dmin m.
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q4_K>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u >> 3) * 144;
    const int j = u & 7;
    int sc, m;
    scale_min_k4(j, b + 4, sc, m);
    const float d1 = mul(ld_f16(b), float(sc)), m1 = mul(ld_f16(b + 2), float(m));
    const uint4* qs = reinterpret_cast<const uint4*>(b + 16 + 32 * (j >> 1));
    const int shift = 4 * (j & 1);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const uint4 a = qs[i];
        const uint32_t w[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
        for (int k = 0; k < 16; ++k) v[16 * i + k] = sub(mul(d1, float((byte_of(w[k >> 2], k & 3) >> shift) & 15)), m1);
    }
}

// Q5_K: 176 bytes: d, dmin, scales[12], qh[32], qs[128]; as Q4_K with the fifth bit of
// value l of sub-block j in bit j of qh[l].
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q5_K>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u >> 3) * 176;
    const int j = u & 7;
    int sc, m;
    scale_min_k4(j, b + 4, sc, m);
    const float d1 = mul(ld_f16(b), float(sc)), m1 = mul(ld_f16(b + 2), float(m));
    const uint4* qh = reinterpret_cast<const uint4*>(b + 16);
    const uint4* qs = reinterpret_cast<const uint4*>(b + 48 + 32 * (j >> 1));
    const int shift = 4 * (j & 1);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const uint4 a = qs[i], hb = qh[i];
        const uint32_t w[4] = {a.x, a.y, a.z, a.w}, hw[4] = {hb.x, hb.y, hb.z, hb.w};
#pragma unroll
        for (int k = 0; k < 16; ++k) {
            const int lo = (byte_of(w[k >> 2], k & 3) >> shift) & 15;
            const int hi = ((byte_of(hw[k >> 2], k & 3) >> j) & 1) << 4;
            v[16 * i + k] = sub(mul(d1, float(lo + hi)), m1);
        }
    }
}

// Q6_K: 210 bytes: ql[128], qh[64], scales[16] (int8), d. Value 128 h + 32 k + l (k < 4,
// l < 32): low bits from ql[64 h + 32 (k % 2) + l] (nibble k / 2), high bits
// (qh[32 h + l] >> 2 k) & 3, minus 32; scale scales[8 h + 2 k + l / 16]; value = d sc q.
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_Q6_K>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u >> 3) * 210;
    const int j = u & 7, h = j >> 2, k = j & 3;
    const float d = ld_f16(b + 208);
    const uint8_t* ql = b + 64 * h + 32 * (k & 1);
    const uint8_t* qh = b + 128 + 32 * h;
    const int lshift = 4 * (k >> 1), hshift = 2 * k;
    const float d0 = mul(d, float(int8_t(b[192 + 8 * h + 2 * k]))), d1 = mul(d, float(int8_t(b[192 + 8 * h + 2 * k + 1])));
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const uint32_t lw = ld_u32_a2(ql + 4 * i), hw = ld_u32_a2(qh + 4 * i);
#pragma unroll
        for (int c = 0; c < 4; ++c) {
            const int l = 4 * i + c;
            const int q = (((byte_of(lw, c) >> lshift) & 15) | (((byte_of(hw, c) >> hshift) & 3) << 4)) - 32;
            v[l] = mul(l < 16 ? d0 : d1, float(q));
        }
    }
}

// IQ4_XS: 136 bytes: d, scales_h, scales_l[4], qs[128]; sub-block j: qs[16 j ..] as IQ4_NL
// with scale d (ls - 32).
template <>
__device__ __forceinline__ void dequant32<GGML_TYPE_IQ4_XS>(const uint8_t* __restrict__ row, int u, float* v) {
    const uint8_t* b = row + size_t(u >> 3) * 136;
    const int j = u & 7;
    const uint32_t scales_h = ld_u16(b + 2);
    const int ls = ((b[4 + j / 2] >> (4 * (j % 2))) & 0xf) | (((scales_h >> (2 * j)) & 3) << 4);
    const float dl = mul(ld_f16(b), float(ls - 32));
    const uint2* qs = reinterpret_cast<const uint2*>(b + 8 + 16 * j);  // blocks are 8-byte aligned
    const uint2 a = qs[0], c2 = qs[1];
    const uint32_t w[4] = {a.x, a.y, c2.x, c2.y};
#pragma unroll
    for (int k = 0; k < 16; ++k) {
        const int c = byte_of(w[k >> 2], k & 3);
        v[k] = mul(dl, float(kIq4nl[c & 15]));
        v[k + 16] = mul(dl, float(kIq4nl[c >> 4]));
    }
}

}  // namespace cuda
}  // namespace pyggml
