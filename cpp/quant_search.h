// quant_search.h: the scale searches shared by the k-quant and IQ4 quantizers.
//
// Each routine is the one of the same name in ggml-quants.c, followed operation for
// operation (float accumulators, same loop order) so that quantized bytes match ggml's.
// They work on one small group of values: they pick a scale (and for the *_qkx* forms a
// min) and write the integer levels L of every element.
#pragma once

#include <cstdint>

namespace pyggml {

// Smallest group maximum treated as non-zero (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// ggml nearest_int: round to nearest, ties to even, via the 1.5*2^23 trick.
// Valid for |fval| <= 4194303.
int nearest_int(float fval);

// ggml make_qx_quants: symmetric levels L in [0, 2*nmax), returns the scale.
// rmse_type 0: plain rounding; 1..4: weight x^2, 1, |x|, sqrt|x| (or qw when given)
// with a search over 18 nearby scales; negative: one refinement, no search.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw);

// ggml make_q3_quants: symmetric levels for Q3_K, with x^2-weighted coordinate descent.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L, bool do_rmse);

// ggml make_qkx2_quants: asymmetric levels L in [0, nmax] with a min; returns the scale,
// stores -min in *the_min. Searches nstep+1 scales from rmin in steps of rdelta.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad);

// ggml make_qkx3_quants: as make_qkx2_quants; null weights mean x^2.
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad);

// ggml make_qp_quants: non-negative values to levels in [0, nmax] under weights
// quant_weights; used for the sub-block scales and mins of the imatrix k-quants.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights);

// ggml best_index_int8: index of the value of the sorted grid val[0..n) nearest to x
// (a tie picks the upper value; NaN picks the last). This is the binary-search form of
// the ggml the golden bytes come from; some later ggml versions compare doubled midpoints,
// which differs only for NaN and rounding-level ties.
int best_index_int8(int n, const int8_t* val, float x);

}  // namespace pyggml
