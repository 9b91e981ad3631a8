// search.h: the scale searches shared by the k-quant and IQ4 quantizers.
//
// Each routine is the one of the same name in ggml-quants.c, followed operation for
// operation (float accumulators, same loop order) so that quantized bytes match ggml's.
// They work on one small group of values: they pick a scale (and for the *_qkx* forms a
// min) and write the integer levels L of every element.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace pyggml {

// Smallest group maximum treated as non-zero (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// ggml nearest_int: round to nearest, ties to even, via the 1.5*2^23 trick.
// Valid for |fval| <= 4194303. Static so that each translation unit, whatever its target
// flags, inlines its own copy.
static inline int nearest_int(float fval) {
    const float val = fval + 12582912.f;
    int i;
    std::memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

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

// The scale search of ggml's quantize_row_iq4_nl_impl for one block of n values
// (0 for an all-zero block); weight is the block's per-element weights.
float iq4_block_scale(int n, const float* xb, const float* weight, int ntry);

// The searches above applied to ngroup independent groups of n consecutive values at once
// (group g is x[g*n, g*n+n), its weights and levels likewise), with per-group results
// scales[g] and mins[g] (= *the_min). Each table entry gives bytes identical to calling
// the single-group routine once per group; a SIMD table may run several groups side by
// side, one per vector lane.
// The result of an IQ1 split search (quant_search_ops::iq1s_split, iq1m_split).
struct iq1_split {
    float best_score, scale;
    int i1 = -1, i2 = -1, k = -1;
};

// IQ1_M's split sums: prefix sums px, pw of each half h of a group of n values
// (px[h * (n + 1) + j]), their totals, and the shift values' products.
struct iq1m_split_consts {
    float p2, m2;          // the top level value of each shift: kShiftPlus[2], kShiftMinus[2]
    float cp1, cp2;        // p0^2 - p1^2, p1^2 - p2^2
    float cm1, cm2;        // the same for the minus shift
    float txs[2], tws[2];  // px and pw of each half at n
};

// The sums of IQ1_S's split (i1, i2) with shift values v, as ggml forms them.
static inline void iq1s_split_sums(int n, const float* sumx, const float* sumw, const float* v, int i1, int i2,
                                   float& sumqx, float& sumq2) {
    sumqx = (sumx[i1] - sumx[0]) * v[0] + (sumx[i2] - sumx[i1]) * v[1] + (sumx[n] - sumx[i2]) * v[2];
    sumq2 = (sumw[i1] - sumw[0]) * v[0] * v[0] + (sumw[i2] - sumw[i1]) * v[1] * v[1] +
            (sumw[n] - sumw[i2]) * v[2] * v[2];
}

// The sums of IQ1_M's split (i1, i2) for the shift pairs k = 0 (+, +), 1 (+, -), 2 (-, +),
// 3 (-, -), as ggml forms them.
static inline void iq1m_split_sums(int n, const float* px, const float* pw, const iq1m_split_consts& k, int i1,
                                   int i2, float* sumqx, float* sumq2) {
    float qx_p[2], qx_m[2], q2_p[2], q2_m[2];
    for (int h = 0; h < 2; ++h) {
        const float* x = px + h * (n + 1);
        const float* w = pw + h * (n + 1);
        const float sx = x[i1] + x[i2];
        qx_p[h] = k.txs[h] * k.p2 - sx;
        qx_m[h] = k.txs[h] * k.m2 - sx;
        q2_p[h] = k.tws[h] * k.p2 * k.p2 + w[i1] * k.cp1 + w[i2] * k.cp2;
        q2_m[h] = k.tws[h] * k.m2 * k.m2 + w[i1] * k.cm1 + w[i2] * k.cm2;
    }
    sumqx[0] = qx_p[0] + qx_p[1];
    sumqx[1] = qx_p[0] + qx_m[1];
    sumqx[2] = qx_m[0] + qx_p[1];
    sumqx[3] = qx_m[0] + qx_m[1];
    sumq2[0] = q2_p[0] + q2_p[1];
    sumq2[1] = q2_p[0] + q2_m[1];
    sumq2[2] = q2_m[0] + q2_p[1];
    sumq2[3] = q2_m[0] + q2_m[1];
}

// ggml's test for a better fit (a split, a trial scale): a positive denominator and a larger
// sumqx^2 / sumq2.
static inline bool fit_beats(float sumqx, float sumq2, float best) {
    return sumq2 > 0 && sumqx * sumqx > best * sumq2;
}

struct quant_search_ops {
    // make_qkx2_quants / make_qkx3_quants (null weights mean x^2 for qkx3).
    void (*qkx2)(int ngroup, int n, int nmax, const float* x, const float* weights, uint8_t* L,
                 float* scales, float* mins, float rmin, float rdelta, int nstep, bool use_mad);
    void (*qkx3)(int ngroup, int n, int nmax, const float* x, const float* weights, uint8_t* L,
                 float* scales, float* mins, float rmin, float rdelta, int nstep, bool use_mad);
    // make_q3_quants with do_rmse.
    void (*q3)(int ngroup, int n, int nmax, const float* x, int8_t* L, float* scales);
    // make_qx_quants with rmse_type 1 (null qw means x^2).
    void (*qx1)(int ngroup, int n, int nmax, const float* x, int8_t* L, float* scales,
                const float* qw);
    // The block-scale search of ggml's quantize_row_iq4_nl_impl: for each group, the
    // scale d from trying 2*ntry+1 scales on the kvalues_iq4nl grid under weights.
    void (*iq4_scale)(int ngroup, int n, const float* x, const float* weights, float* scales,
                      int ntry);
    // Levels against fixed group scales: for every group with d[g] != 0,
    // L[g*n+i] = offset + clamp(nearest_int((x[g*n+i] + dm[g]) / d[g]), lo, hi), or
    // nearest_int(x[g*n+i] / d[g]) when dm is null; other groups keep their levels.
    void (*requantize)(int ngroup, int n, const float* x, const float* d, const float* dm, int lo,
                       int hi, int offset, uint8_t* L);
    // L[j] = best_index_int8(16, kvalues_iq4nl, id * x[j]) for j < n.
    void (*iq4_levels)(int n, const float* x, float id, uint8_t* L);
    // ggml's iq1/iq2/iq3 find_best_neighbour: among count candidate grid points of n values
    // (4 or 8; q in the candidate layout below), the position of the one with the least sum
    // over i of weight[i] (scale v_i - x[i])^2, each sum taken element by element, the first
    // of equal sums; -1 when no sum is below FLT_MAX (squares that overflow float32). A
    // value v is its byte b itself, or values[b] when values is given (then every b < 8). A
    // SIMD table takes kCandidateLanes candidates per step.
    int (*nearest_candidate)(int n, int count, const uint8_t* q, const float* values, const float* x,
                             const float* weight, float scale);
    // The split searches of ggml's IQ1 quantizers over a group of n sorted values: every split
    // (i1, i2), 0 <= i1 <= i2 <= n, in order, IQ1_S with shift values vp then vm (k 0, 1), IQ1_M
    // with its four shift pairs (k 0..3; iq1m_split_sums). A split whose sums pass fit_beats
    // against r.best_score becomes the result: r.scale = sumqx / sumq2, r.best_score =
    // r.scale * sumqx, and its i1, i2, k. r enters with the start values (best_score -FLT_MAX).
    void (*iq1s_split)(int n, const float* sumx, const float* sumw, const float* vp, const float* vm, iq1_split& r);
    void (*iq1m_split)(int n, const float* px, const float* pw, const iq1m_split_consts& k, iq1_split& r);
    // The fit sums of the IQ2 and IQ3 scale searches for kTrials trial level sets of one group of
    // n values (a multiple of 16): with q = 2 L[t * n + i] + 1, sumqx[t] = sum_i (w[i] x[i]) q and
    // sumq2[t] = sum_i (w[i] q) q, each accumulated from i = 0 up (weighted_sums in ggml).
    void (*trial_sums)(int n, const float* w, const float* x, const int8_t* L, float* sumqx, float* sumq2);
};

// The trial level sets trial_sums takes at once.
constexpr int kTrials = 8;

// The fits of nt (<= kTrials) trial level sets L (trial_sums' layout) taken as ggml's loop over
// trial scales takes them: in order, each that beats best sets scale = sumqx / sumq2 and best =
// scale * sumqx, then take(t).
template <class Take>
void take_better_trials(const quant_search_ops& ops, int n, const float* w, const float* x, const int8_t* L, int nt,
                        float& best, float& scale, Take&& take) {
    float sumqx[kTrials], sumq2[kTrials];
    ops.trial_sums(n, w, x, L, sumqx, sumq2);
    for (int t = 0; t < nt; ++t) {
        if (!fit_beats(sumqx[t], sumq2[t], best)) continue;
        scale = sumqx[t] / sumq2[t];
        best = scale * sumqx[t];
        take(t);
    }
}

// The candidate layout of nearest_candidate: candidates in chunks of kCandidateLanes, and
// within a chunk value i of every candidate together, so value i of candidate c is
// q[(c / kCandidateLanes * n + i) * kCandidateLanes + c % kCandidateLanes]. The last chunk is
// padded with zeros.
constexpr int kCandidateLanes = 8;

// Appends count candidates (value i of candidate c: value(c, i), 0..255) to lanes in that
// layout and returns where they start.
template <typename Value>
uint32_t append_candidates(std::vector<uint8_t>& lanes, int n, int count, Value&& value) {
    const size_t start = lanes.size();
    const int chunks = (count + kCandidateLanes - 1) / kCandidateLanes;
    lanes.resize(start + size_t(chunks) * n * kCandidateLanes, 0);
    for (int c = 0; c < count; ++c) {
        for (int i = 0; i < n; ++i) {
            lanes[start + size_t(c / kCandidateLanes * n + i) * kCandidateLanes + c % kCandidateLanes] =
                uint8_t(value(c, i));
        }
    }
    return uint32_t(start);
}

// The scalar reference table (search.cpp). The AVX2 table (arch/x86/search_avx2.cpp) runs
// eight groups per pass, one per lane; core/dispatch.h holds the best one.
extern const quant_search_ops kSearchOpsRef;

}  // namespace pyggml
