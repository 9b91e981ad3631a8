// vq.h: scalar and product quantization of vectors (pyggml.vq): the loops that touch every
// vector. Python (pyggml/vq.py) holds the trained parameters and runs k-means' update step;
// these routines encode, search and assign. Scalar C++ only (the compiler's vectorization);
// no per-ISA twins yet.
//
// Distances are squared L2 in float32. Search keeps, per query, the k smallest distances,
// ties broken by the smaller id; when there are fewer than k vectors the rest of the row is
// id -1 at distance +inf (as FAISS).
#pragma once

#include <cstdint>

#include "core/cpu.h"
#include "core/dispatch.h"

namespace pyggml {

// Scalar quantizer: component d of a vector is stored as the level
// code = round((x[d] - vmin[d]) / step[d]) clamped to [0, levels - 1] and read back as
// vmin[d] + code * step[d]. bits 8: one byte per component; bits 4: two per byte, the even
// component in the low nibble. Code size: sq_code_size(dim, bits) bytes per vector.
int64_t sq_code_size(int64_t dim, int bits);

// x: (n, dim); vmin, step: (dim); codes: (n, sq_code_size).
void sq_encode(const float* x, int64_t n, int64_t dim, int bits, const float* vmin, const float* step,
               uint8_t* codes, int n_threads);
// codes: (n, sq_code_size); out: (n, dim).
void sq_decode(const uint8_t* codes, int64_t n, int64_t dim, int bits, const float* vmin, const float* step,
               float* out, int n_threads);
// Distances from each query (nq, dim) to every decoded vector of codes (n, code size):
// distances (nq, k), ids (nq, k). isa: the tier whose distance kernel runs (scalar: the
// reference; a tier without a twin runs the reference).
void sq_search(const uint8_t* codes, int64_t n, int64_t dim, int bits, const float* vmin, const float* step,
               const float* queries, int64_t nq, int64_t k, float* distances, int64_t* ids, int n_threads,
               cpu_isa isa);

// The scalar quantizer's distance kernel: out[i] = sum over d of (qd[d] - level(i, d) * step[d])^2
// for the n codes (n, code_size) of a bits-bit quantizer, where qd = query - vmin. qd and step
// are zero-padded to dim_pad, a multiple of 8; component d adds into lane d % 8 of eight float
// sums, reduced as ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)), so that an 8-wide twin
// gives the same bits.
// (sq_distances_fn in core/dispatch.h; each tier's pair in its isa_kernels.)
void sq_distances8_ref(const uint8_t* codes, int64_t n, int64_t code_size, int64_t dim, const float* qd,
                       const float* step, float* out);
void sq_distances4_ref(const uint8_t* codes, int64_t n, int64_t code_size, int64_t dim, const float* qd,
                       const float* step, float* out);

// Nearest centroid of each row of x (n, dim) among centroids (n_centroids, dim): assign (n),
// and its squared distance dist (n). Ties go to the smaller centroid index. k-means'
// assignment step, and the product quantizer's encoder on one sub-space.
void vq_assign(const float* x, int64_t n, int64_t dim, const float* centroids, int64_t n_centroids, int64_t* assign,
               float* dist, int n_threads);

// Product quantizer: dim = m * dsub; centroids (m, ksub, dsub), ksub <= 256; a code is
// one byte per sub-space, the index of the nearest centroid of that sub-vector.
// x: (n, dim); codes: (n, m).
void pq_encode(const float* x, int64_t n, int64_t m, int64_t ksub, int64_t dsub, const float* centroids,
               uint8_t* codes, int n_threads);
// Asymmetric distance computation: for each query, the table (m, ksub) of squared distances
// from its sub-vectors to the centroids, then each code's distance as the sum of m table
// entries. codes (n, m); queries (nq, dim); distances (nq, k); ids (nq, k).
void pq_search(const uint8_t* codes, int64_t n, int64_t m, int64_t ksub, int64_t dsub, const float* centroids,
               const float* queries, int64_t nq, int64_t k, float* distances, int64_t* ids, int n_threads);

}  // namespace pyggml
