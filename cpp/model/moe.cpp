// moe.cpp: the mixture-of-experts feed-forward of qwen3moe and mixtral (see model.h), as
// llama.cpp's build_moe_ffn computes it with a softmax router: probabilities over all
// experts, the n_expert_used largest chosen, their probabilities renormalised to sum to 1
// where the model says so and scaled, and the chosen experts' SiLU-gated outputs summed
// with those weights.
//
// Only the chosen experts' rows are read. One token (decoding) runs the gate and up
// matrices of all its experts in one dispatch; a batch is grouped by expert, so that each
// chosen expert's matrices are streamed once for all the tokens routed to it. Either way
// a token's expert outputs are added in ascending expert order, so a batch and the same
// tokens one at a time sum alike.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "model/model.h"

namespace pyggml {

namespace {

// probs (n_expert) router logits -> softmax in place; chosen/weights (k) the k largest
// in descending order and their weights.
void route_token(float* probs, int64_t n_expert, int64_t k, bool norm, float scale, int32_t* chosen,
                 float* weights) {
    softmax(probs, n_expert);
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
    auto act = [&](float* g, const float* u) {
        if (hp_.act == ffn_activation::gelu_tanh) {
            ops_->gelu_tanh_mul(g, u, Fe);
        } else {
            ops_->silu_mul(g, u, Fe);
        }
    };

    linear(L.ffn_gate_inp, h_.data(), router_.data(), T);  // (T, NE)
    parallel_rows(pool_, T, [&](int64_t t) {
        route_token(router_.data() + t * NE, NE, K, hp_.expert_weights_norm, hp_.expert_weights_scale,
                    chosen_.data() + t * K, chosen_w_.data() + t * K);
    });
    std::fill(o_.begin(), o_.begin() + T * E, 0.0f);

    if (T == 1) {
        // one token: its experts in ascending order, every gate and up matrix in one dispatch
        std::vector<int64_t> slot(static_cast<size_t>(K));
        std::iota(slot.begin(), slot.end(), 0);
        std::sort(slot.begin(), slot.end(), [&](int64_t a, int64_t b) { return chosen_[size_t(a)] < chosen_[size_t(b)]; });
        std::vector<weight_view> views;
        views.reserve(size_t(3 * K));
        std::vector<matmul_output> outs;
        for (int64_t j = 0; j < K; ++j) {
            const int64_t e = chosen_[size_t(slot[size_t(j)])];
            views.push_back(expert_matrix(L.ffn_gate_exps, NE, e));
            views.push_back(expert_matrix(L.ffn_up_exps, NE, e));
            views.push_back(expert_matrix(L.ffn_down_exps, NE, e));
        }
        for (int64_t j = 0; j < K; ++j) {
            outs.push_back({&views[size_t(3 * j)], moe_gate_.data() + j * Fe});
            outs.push_back({&views[size_t(3 * j + 1)], moe_up_.data() + j * Fe});
        }
        linear_shared_input(outs.data(), int(outs.size()), h_.data(), 1);
        for (int64_t j = 0; j < K; ++j) act(moe_gate_.data() + j * Fe, moe_up_.data() + j * Fe);
        for (int64_t j = 0; j < K; ++j) linear(views[size_t(3 * j + 2)], moe_gate_.data() + j * Fe, moe_down_.data() + j * E, 1);
        for (int64_t j = 0; j < K; ++j) {
            const float w = chosen_w_[size_t(slot[size_t(j)])];
            const float* d = moe_down_.data() + j * E;
            for (int64_t i = 0; i < E; ++i) o_[size_t(i)] += w * d[i];
        }
        return;
    }

    // a batch: the slots (token * K + j) routed to each expert, in token order
    std::vector<int64_t> start(size_t(NE + 1), 0);
    for (int64_t s = 0; s < T * K; ++s) ++start[size_t(chosen_[size_t(s)]) + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<int64_t> slots(size_t(T * K)), fill(start.begin(), start.end() - 1);
    for (int64_t s = 0; s < T * K; ++s) slots[size_t(fill[size_t(chosen_[size_t(s)])]++)] = s;

    for (int64_t e = 0; e < NE; ++e) {
        const int64_t s0 = start[size_t(e)], c = start[size_t(e) + 1] - s0;
        if (c == 0) continue;
        const int64_t* my = slots.data() + s0;
        parallel_rows(pool_, c, [&](int64_t r) {
            std::memcpy(moe_x_.data() + r * E, h_.data() + (my[r] / K) * E, size_t(E) * sizeof(float));
        });
        const weight_view gate = expert_matrix(L.ffn_gate_exps, NE, e), up = expert_matrix(L.ffn_up_exps, NE, e);
        const weight_view down = expert_matrix(L.ffn_down_exps, NE, e);
        const matmul_output outs[2] = {{&gate, moe_gate_.data()}, {&up, moe_up_.data()}};
        linear_shared_input(outs, 2, moe_x_.data(), c);
        parallel_rows(pool_, c, [&](int64_t r) { act(moe_gate_.data() + r * Fe, moe_up_.data() + r * Fe); });
        linear(down, moe_gate_.data(), moe_down_.data(), c);
        // each token appears at most once per expert: the rows add to distinct outputs
        parallel_rows(pool_, c, [&](int64_t r) {
            const float w = chosen_w_[size_t(my[r])];
            float* ot = o_.data() + (my[r] / K) * E;
            const float* d = moe_down_.data() + r * E;
            for (int64_t i = 0; i < E; ++i) ot[i] += w * d[i];
        });
    }
}

}  // namespace pyggml
