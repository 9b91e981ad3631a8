// vq.cpp: the scalar reference of the vector quantizers' loops (see vq.h).
#include "quant/vq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/threads.h"

namespace pyggml {

namespace {

// The k smallest (distance, id) pairs seen, as a max-heap on (distance, id). Ids arrive in
// increasing order, so a strictly smaller distance is the only way in: ties keep the
// smaller id.
class top_k {
public:
    // n: the candidates to come (room for min(k, n) pairs)
    top_k(int64_t k, int64_t n) : k_(size_t(k)) { heap_.reserve(size_t(std::min(k, n))); }
    void push(float d, int64_t id) {
        if (heap_.size() < k_) {
            heap_.emplace_back(d, id);
            std::push_heap(heap_.begin(), heap_.end());
        } else if (d < heap_.front().first) {
            std::pop_heap(heap_.begin(), heap_.end());
            heap_.back() = {d, id};
            std::push_heap(heap_.begin(), heap_.end());
        }
    }
    // distances (k), ids (k), ascending; -1 / +inf past the pairs seen.
    void write(float* distances, int64_t* ids) {
        std::sort_heap(heap_.begin(), heap_.end());
        for (size_t i = 0; i < k_; ++i) {
            const bool have = i < heap_.size();
            distances[i] = have ? heap_[i].first : std::numeric_limits<float>::infinity();
            ids[i] = have ? heap_[i].second : -1;
        }
    }

private:
    size_t k_;
    std::vector<std::pair<float, int64_t>> heap_;
};

int sq_levels(int bits) { return bits == 4 ? 15 : 255; }

inline int sq_code_at(const uint8_t* code, int64_t d, int bits) {
    return bits == 8 ? code[d] : (code[d >> 1] >> ((d & 1) * 4)) & 15;
}

// (k, dim) -> (dim, k): the centroids one component at a time, so the distance loop runs
// over centroids (contiguous, vectorizable) with the sum over components in plain order.
std::vector<float> transpose(const float* c, int64_t k, int64_t dim) {
    std::vector<float> t(static_cast<size_t>(k * dim));
    for (int64_t j = 0; j < k; ++j)
        for (int64_t d = 0; d < dim; ++d) t[size_t(d * k + j)] = c[j * dim + d];
    return t;
}

// Nearest of k centroids (ct: (dim, k)) to x (dim); acc: scratch (k). Ties: smaller index.
inline int64_t nearest(const float* x, int64_t dim, const float* ct, int64_t k, float* acc, float* best) {
    std::fill(acc, acc + k, 0.0f);
    for (int64_t d = 0; d < dim; ++d) {
        const float xd = x[d];
        const float* row = ct + d * k;
        for (int64_t j = 0; j < k; ++j) {
            const float diff = xd - row[j];
            acc[j] += diff * diff;
        }
    }
    int64_t arg = 0;
    for (int64_t j = 1; j < k; ++j)
        if (acc[j] < acc[arg]) arg = j;
    *best = acc[arg];
    return arg;
}

}  // namespace

int64_t sq_code_size(int64_t dim, int bits) { return bits == 8 ? dim : (dim + 1) / 2; }

void sq_encode(const float* x, int64_t n, int64_t dim, int bits, const float* vmin, const float* step,
               uint8_t* codes, int n_threads) {
    const int64_t cs = sq_code_size(dim, bits);
    const float top = float(sq_levels(bits));
    parallel_for(n, n_threads, 1024, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const float* v = x + i * dim;
            uint8_t* c = codes + i * cs;
            std::fill(c, c + cs, uint8_t(0));
            for (int64_t d = 0; d < dim; ++d) {
                // step 0 (a constant component): level 0 reads back vmin exactly
                float q = step[d] > 0.0f ? std::nearbyint((v[d] - vmin[d]) / step[d]) : 0.0f;
                q = std::isnan(q) ? 0.0f : std::min(top, std::max(0.0f, q));
                const int level = int(q);
                if (bits == 8) c[d] = uint8_t(level);
                else c[d >> 1] |= uint8_t(level << ((d & 1) * 4));
            }
        }
    });
}

void sq_decode(const uint8_t* codes, int64_t n, int64_t dim, int bits, const float* vmin, const float* step,
               float* out, int n_threads) {
    const int64_t cs = sq_code_size(dim, bits);
    parallel_for(n, n_threads, 1024, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i)
            for (int64_t d = 0; d < dim; ++d) out[i * dim + d] = vmin[d] + float(sq_code_at(codes + i * cs, d, bits)) * step[d];
    });
}

// The lanes' sum, in the order an 8-wide register's halves and pairs are added.
static inline float sq_sum_lanes(const float* a) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

void sq_distances8_ref(const uint8_t* codes, int64_t n, int64_t code_size, int64_t dim, const float* qd,
                       const float* step, float* out) {
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t* c = codes + i * code_size;
        float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t d = 0; d < dim; ++d) {
            const float diff = qd[d] - float(c[d]) * step[d];
            lane[d & 7] += diff * diff;
        }
        out[i] = sq_sum_lanes(lane);
    }
}

void sq_distances4_ref(const uint8_t* codes, int64_t n, int64_t code_size, int64_t dim, const float* qd,
                       const float* step, float* out) {
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t* c = codes + i * code_size;
        float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t d = 0; d < dim; ++d) {
            const float diff = qd[d] - float((c[d >> 1] >> ((d & 1) * 4)) & 15) * step[d];
            lane[d & 7] += diff * diff;
        }
        out[i] = sq_sum_lanes(lane);
    }
}

void register_vq(isa_kernels& k) {
    k.sq_distances[0] = sq_distances4_ref;
    k.sq_distances[1] = sq_distances8_ref;
}

namespace {

sq_distances_fn sq_distances_for(int bits, cpu_isa isa) {
    const isa_kernels* k = get_isa_kernels(isa);
    if (!k) throw std::invalid_argument(std::string("vq: the ") + cpu_isa_name(isa) + " tier does not run on this CPU");
    return k->sq_distances[bits == 8 ? 1 : 0];
}

}  // namespace

void sq_search(const uint8_t* codes, int64_t n, int64_t dim, int bits, const float* vmin, const float* step,
               const float* queries, int64_t nq, int64_t k, float* distances, int64_t* ids, int n_threads,
               cpu_isa isa) {
    const int64_t cs = sq_code_size(dim, bits);
    const sq_distances_fn kernel = sq_distances_for(bits, isa);
    const int64_t dim_pad = (dim + 7) / 8 * 8;
    std::vector<float> step_pad(static_cast<size_t>(dim_pad), 0.0f);
    std::copy(step, step + dim, step_pad.begin());
    parallel_for(nq, n_threads, 1, [&](int64_t q0, int64_t q1) {
        constexpr int64_t kBlock = 512;  // codes per kernel call
        std::vector<float> qd(static_cast<size_t>(dim_pad), 0.0f), dist(static_cast<size_t>(kBlock));
        for (int64_t qi = q0; qi < q1; ++qi) {
            for (int64_t d = 0; d < dim; ++d) qd[size_t(d)] = queries[qi * dim + d] - vmin[d];
            top_k best(k, n);
            for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
                const int64_t nb = std::min(kBlock, n - i0);
                kernel(codes + i0 * cs, nb, cs, dim, qd.data(), step_pad.data(), dist.data());
                for (int64_t i = 0; i < nb; ++i) best.push(dist[size_t(i)], i0 + i);
            }
            best.write(distances + qi * k, ids + qi * k);
        }
    });
}

void vq_assign(const float* x, int64_t n, int64_t dim, const float* centroids, int64_t n_centroids, int64_t* assign,
               float* dist, int n_threads) {
    const std::vector<float> ct = transpose(centroids, n_centroids, dim);
    parallel_for(n, n_threads, 256, [&](int64_t i0, int64_t i1) {
        std::vector<float> acc(static_cast<size_t>(n_centroids));
        for (int64_t i = i0; i < i1; ++i) assign[i] = nearest(x + i * dim, dim, ct.data(), n_centroids, acc.data(), &dist[i]);
    });
}

void pq_encode(const float* x, int64_t n, int64_t m, int64_t ksub, int64_t dsub, const float* centroids,
               uint8_t* codes, int n_threads) {
    std::vector<std::vector<float>> ct(static_cast<size_t>(m));
    for (int64_t j = 0; j < m; ++j) ct[size_t(j)] = transpose(centroids + j * ksub * dsub, ksub, dsub);
    parallel_for(n, n_threads, 256, [&](int64_t i0, int64_t i1) {
        std::vector<float> acc(static_cast<size_t>(ksub));
        float unused;
        for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = 0; j < m; ++j)
                codes[i * m + j] = uint8_t(nearest(x + i * m * dsub + j * dsub, dsub, ct[size_t(j)].data(), ksub, acc.data(), &unused));
    });
}

void pq_search(const uint8_t* codes, int64_t n, int64_t m, int64_t ksub, int64_t dsub, const float* centroids,
               const float* queries, int64_t nq, int64_t k, float* distances, int64_t* ids, int n_threads) {
    parallel_for(nq, n_threads, 1, [&](int64_t q0, int64_t q1) {
        std::vector<float> table(static_cast<size_t>(m * ksub));  // (m, ksub)
        for (int64_t qi = q0; qi < q1; ++qi) {
            const float* q = queries + qi * m * dsub;
            for (int64_t j = 0; j < m; ++j)
                for (int64_t c = 0; c < ksub; ++c) {
                    const float* cen = centroids + (j * ksub + c) * dsub;
                    float acc = 0.0f;
                    for (int64_t d = 0; d < dsub; ++d) {
                        const float diff = q[j * dsub + d] - cen[d];
                        acc += diff * diff;
                    }
                    table[size_t(j * ksub + c)] = acc;
                }
            top_k best(k, n);
            const float* t = table.data();
            int64_t i = 0;
            // four codes at a time: independent sums the CPU overlaps (each still in sub-space order)
            for (; i + 4 <= n; i += 4) {
                const uint8_t* c = codes + i * m;
                float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
                for (int64_t j = 0; j < m; ++j) {
                    const float* tj = t + j * ksub;
                    a0 += tj[c[j]];
                    a1 += tj[c[m + j]];
                    a2 += tj[c[2 * m + j]];
                    a3 += tj[c[3 * m + j]];
                }
                best.push(a0, i);
                best.push(a1, i + 1);
                best.push(a2, i + 2);
                best.push(a3, i + 3);
            }
            for (; i < n; ++i) {
                const uint8_t* c = codes + i * m;
                float acc = 0.0f;
                for (int64_t j = 0; j < m; ++j) acc += t[j * ksub + c[j]];
                best.push(acc, i);
            }
            best.write(distances + qi * k, ids + qi * k);
        }
    });
}

}  // namespace pyggml
