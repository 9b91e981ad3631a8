// moe.cpp: the mixture-of-experts feed-forward of qwen3moe, mixtral and gpt-oss (see model.h),
// as llama.cpp's build_moe_ffn computes it with a softmax router: probabilities over all
// experts, the n_expert_used largest chosen, their probabilities renormalised to sum to 1
// where the model says so and scaled, and the chosen experts' gated outputs summed with
// those weights. gpt-oss's router (expert_gating::softmax_weight) has a bias, picks the
// largest logits and weights them by a softmax over those alone; its experts have biases
// (added after each product) and the clamped SwiGLU.
//
// Only the chosen experts' rows are read. The (token, expert) pairs of a batch are grouped
// by expert, so that each chosen expert's matrices are streamed once for all the tokens
// routed to it; the gate and up products of every chosen expert go out in one dispatch
// (matmul_jobs), the down products in another. A token's expert outputs are added in
// ascending expert order, so a batch and the same tokens one at a time sum alike.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/dispatch.h"
#include "model/model.h"

namespace pyggml {

namespace {

// probs (n_expert) router logits -> softmax in place (softmax gating); chosen/weights (k)
// the k largest in descending order and their weights (softmax_weight gating: the softmax
// of the k largest logits).
void route_token(float* probs, int64_t n_expert, int64_t k, expert_gating gating, bool norm, float scale,
                 int32_t* chosen, float* weights) {
    if (gating == expert_gating::softmax) softmax(probs, n_expert);
    std::vector<int32_t> order(static_cast<size_t>(n_expert));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
        chosen[j] = order[size_t(j)];
        weights[j] = probs[order[size_t(j)]];
        sum += weights[j];
    }
    if (gating == expert_gating::softmax_weight) {
        softmax(weights, k);
        sum = 1.0f;
    }
    if (norm) {
        sum = std::max(sum, 6.103515625e-5f);  // as llama.cpp: the smallest normal F16
        for (int64_t j = 0; j < k; ++j) weights[j] /= sum;
    }
    if (scale != 0.0f && scale != 1.0f) {
        for (int64_t j = 0; j < k; ++j) weights[j] *= scale;
    }
}

}  // namespace

void llama_model::moe_ffn(int64_t il, int64_t T) {
    const layer_weights& L = w_.layers[il];
    const int64_t E = hp_.n_embd, NE = hp_.n_expert, K = hp_.n_expert_used, Fe = hp_.n_ff_exp;
    const int64_t S = T * K;  // (token, expert) slots, slot t * K + j

    // router logits (T, NE); one token's F32 router (llama.cpp never quantizes it) with the
    // matmul's own kernel on this thread: waking the pool costs more than its few dot products
    const weight_view& gi = L.ffn_gate_inp;
    if (T == 1 && gi.type == GGML_TYPE_F32 && gi.layout == weight_layout_plain && !precise_) {
        get_vec_dot_traits(GGML_TYPE_F32)->vec_dot(int(E), router_.data(), size_t(NE), gi.data, gi.row_bytes, int(NE),
                                                   h_.data(), size_t(E) * sizeof(float), 1);
    } else {
        linear(gi, h_.data(), router_.data(), T);
    }
    parallel_rows(pool_, T, [&](int64_t t) {
        float* logits = router_.data() + t * NE;
        if (L.ffn_gate_inp_b) add_inplace(logits, L.ffn_gate_inp_b, NE);
        route_token(logits, NE, K, hp_.gating, hp_.expert_weights_norm, hp_.expert_weights_scale,
                    chosen_.data() + t * K, chosen_w_.data() + t * K);
    });

    // rows of the grouped buffers: expert e's slots at [start[e], start[e + 1]), in token order
    std::vector<int64_t> start(size_t(NE + 1), 0), row_of(static_cast<size_t>(S)), expert_of(static_cast<size_t>(S));
    for (int64_t s = 0; s < S; ++s) ++start[size_t(chosen_[size_t(s)]) + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    {
        std::vector<int64_t> fill(start.begin(), start.end() - 1);
        for (int64_t s = 0; s < S; ++s) {
            row_of[size_t(s)] = fill[size_t(chosen_[size_t(s)])]++;
            expert_of[size_t(row_of[size_t(s)])] = chosen_[size_t(s)];
        }
    }
    // one token: every expert reads h_ as it is; a batch: each expert's tokens gathered
    const bool gather = T > 1;
    if (gather) {
        parallel_rows(pool_, S, [&](int64_t s) {
            std::memcpy(moe_x_.data() + row_of[size_t(s)] * E, h_.data() + (s / K) * E, size_t(E) * sizeof(float));
        });
    }

    std::vector<weight_view> views;  // (gate, up, down) of every chosen expert
    std::vector<int64_t> used;
    for (int64_t e = 0; e < NE; ++e) {
        if (start[size_t(e) + 1] == start[size_t(e)]) continue;
        used.push_back(e);
        for (const weight_view* w : {&L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps}) {
            views.push_back(expert_matrix(*w, NE, e));
        }
    }
    std::vector<matmul_job> jobs;
    for (size_t u = 0; u < used.size(); ++u) {
        const int64_t r0 = start[size_t(used[u])], c = start[size_t(used[u]) + 1] - r0;
        const float* x = gather ? moe_x_.data() + r0 * E : h_.data();
        jobs.push_back({&views[3 * u], x, moe_gate_.data() + r0 * Fe, c});
        jobs.push_back({&views[3 * u + 1], x, moe_up_.data() + r0 * Fe, c});
    }
    linear_jobs(jobs.data(), int(jobs.size()));
    auto act = [&](int64_t r) {
        const int64_t e = expert_of[size_t(r)];
        if (L.ffn_gate_exps_b) add_inplace(moe_gate_.data() + r * Fe, L.ffn_gate_exps_b + e * Fe, Fe);
        if (L.ffn_up_exps_b) add_inplace(moe_up_.data() + r * Fe, L.ffn_up_exps_b + e * Fe, Fe);
        gated_activation(moe_gate_.data() + r * Fe, moe_up_.data() + r * Fe, Fe);
    };
    if (S * Fe < (int64_t(1) << 16)) {  // one token's few experts: not worth waking the pool
        for (int64_t r = 0; r < S; ++r) act(r);
    } else {
        parallel_rows(pool_, S, act);
    }
    if (capture_) {  // calibration, expert by expert: the choices, and each slot's down input
        std::vector<float> ids(static_cast<size_t>(S)), down_in;
        for (int64_t s = 0; s < S; ++s) ids[size_t(s)] = float(chosen_[size_t(s)]);
        capture(il, capture_moe_experts, ids.data(), T);
        if (capture_->dst[size_t(il * n_capture_sites + capture_moe_down_in)]) {
            down_in.resize(size_t(S * Fe));
            for (int64_t s = 0; s < S; ++s) {
                std::memcpy(down_in.data() + s * Fe, moe_gate_.data() + row_of[size_t(s)] * Fe, size_t(Fe) * sizeof(float));
            }
            capture(il, capture_moe_down_in, down_in.data(), T);
        }
    }
    jobs.clear();
    for (size_t u = 0; u < used.size(); ++u) {
        const int64_t r0 = start[size_t(used[u])], c = start[size_t(used[u]) + 1] - r0;
        jobs.push_back({&views[3 * u + 2], moe_gate_.data() + r0 * Fe, moe_down_.data() + r0 * E, c});
    }
    linear_jobs(jobs.data(), int(jobs.size()));

    // o_ (T, E): each token's expert outputs, weighted, in ascending expert order
    parallel_rows(pool_, T, [&](int64_t t) {
        std::vector<int64_t> js(static_cast<size_t>(K));
        std::iota(js.begin(), js.end(), t * K);
        std::sort(js.begin(), js.end(), [&](int64_t a, int64_t b) { return chosen_[size_t(a)] < chosen_[size_t(b)]; });
        float* ot = o_.data() + t * E;
        std::fill(ot, ot + E, 0.0f);
        for (int64_t s : js) {
            const float w = chosen_w_[size_t(s)];
            const float* d = moe_down_.data() + row_of[size_t(s)] * E;
            const float* db = L.ffn_down_exps_b ? L.ffn_down_exps_b + int64_t(chosen_[size_t(s)]) * E : nullptr;
            if (db) {
                for (int64_t i = 0; i < E; ++i) ot[i] += w * (d[i] + db[i]);
            } else {
                for (int64_t i = 0; i < E; ++i) ot[i] += w * d[i];
            }
        }
    });
}

}  // namespace pyggml
