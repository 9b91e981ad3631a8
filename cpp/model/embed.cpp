// embed.cpp: the first step of the forward pass (see model.h): token ids to the residual
// stream, the first layer's normed input and the rotary tables of the batch.
#include <algorithm>

#include "core/dispatch.h"
#include "model/finite.h"
#include "model/model.h"

namespace pyggml {

void llama_model::embed(batch_in_flight& b) {
    const int32_t* tokens = b.tokens;
    const int64_t T = b.n, E = hp_.n_embd;
    const type_traits* et = get_type_traits(w_.token_embd.type);
    // token embeddings (T, E), the first layer's normed input and the cos/sin tables of
    // every distinct rotation, in chunks of tokens
    const int64_t chunk = 32, n_sets = int64_t(rope_set_layer_.size());
    parallel_rows(pool_, (T + chunk - 1) / chunk, [&](int64_t c) {
        const int64_t t0 = c * chunk, n = std::min(chunk, T - t0);
        for (int64_t t = t0; t < t0 + n; ++t) {
            float* xt = x_.data() + t * E;
            et->to_float(static_cast<const char*>(w_.token_embd.data) + int64_t(tokens[t]) * w_.token_embd.row_bytes, xt, E);
            if (hp_.embd_scale != 1.0f) {
                for (int64_t i = 0; i < E; ++i) xt[i] *= hp_.embd_scale;
            }
            if (!all_finite(xt, E)) note_row(b.bad_row, t);
            if (hp_.n_layer > 0) ops_->rms_norm(xt, w_.layers[0].attn_norm, h_.data() + t * E, E, hp_.rms_eps);
        }
        // the rows of each sequence part in the chunk, at that sequence's positions
        for (int64_t t = t0; t < t0 + n;) {
            const batch_seq& s = b.seq_of(t);
            const int64_t m = std::min(t0 + n, s.t0 + s.n) - t;
            for (int64_t set = 0; set < n_sets; ++set) {
                rope_cache_rows(layer_rope(rope_set_layer_[set]), double(s.pos0 + t - s.t0), m,
                                rope_cs_.data() + (set * T + t) * hp_.n_rot);
            }
            t += m;
        }
    });
}

}  // namespace pyggml
