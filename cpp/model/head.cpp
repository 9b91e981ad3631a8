// head.cpp: the last step of the forward pass (see model.h): the final norm, then logits,
// hidden states (embeddings) or the output matrix's input for calibration.
#include <atomic>
#include <cmath>
#include <string>

#include "core/errors.h"
#include "model/finite.h"
#include "model/model.h"

namespace pyggml {

void llama_model::head(batch_in_flight& b, const int64_t* out_rows, int64_t n_out, float* logits, bool gpu_logits) {
    const int64_t T = b.n, E = hp_.n_embd;
    if (capture_) {
        if (capture_->output_in) {
            float* dst = capture_->output_in + capture_->row * E;
            parallel_rows(pool_, T, [&](int64_t t) {
                ops_->rms_norm(x_.data() + t * E, w_.output_norm, dst + t * E, E, hp_.rms_eps);
            });
        }
        capture_->row += T;
    }

    if (embd_out_) {  // (T, n_embd) hidden states after the final norm, no logits
        parallel_rows(pool_, T, [&](int64_t t) {
            ops_->rms_norm(x_.data() + t * E, w_.output_norm, embd_out_ + t * E, E, hp_.rms_eps);
            if (!all_finite(embd_out_ + t * E, E)) note_row(b.bad_row, t);
        });
        b.check("the output norm (output_norm.weight)", -1);
        embd_out_ += T * E;
        return;
    }
    if (!logits || n_out == 0) return;
    // the output rows (every token, the last, or each sequence's last), packed into h_;
    // computed on the GPU when gpu_logits
    if (!gpu_logits) {
        parallel_rows(pool_, n_out, [&](int64_t i) {
            ops_->rms_norm(x_.data() + out_rows[i] * E, w_.output_norm, h_.data() + i * E, E, hp_.rms_eps);
        });
        linear(w_.output, h_.data(), logits, n_out);
        if (hp_.final_logit_softcap > 0.0f) {
            const float c = hp_.final_logit_softcap;
            for (int64_t i = 0; i < n_out * hp_.n_vocab; ++i) logits[i] = c * std::tanh(logits[i] / c);
        }
    }
    // The hidden states are finite (checked above), so non-finite logits come from the
    // output matrix or its norm. One row is split over the threads (decoding).
    const int64_t V = hp_.n_vocab, n_check = n_out * V;
    std::atomic<int64_t> bad{n_check};
    if (n_check < (int64_t(1) << 16) || pool_.size() == 1) {
        if (!all_finite(logits, n_check)) bad = 0;
    } else {
        pool_.run([&](int ith, int nth) {
            const int64_t i0 = n_check * ith / nth, i1 = n_check * (ith + 1) / nth;
            if (!all_finite(logits + i0, i1 - i0)) note_row(bad, i0);
        });
    }
    if (bad.load() < n_check) {
        int64_t i = 0;
        while (i < n_check && std::isfinite(logits[i])) ++i;
        const int64_t row = out_rows[i / V];
        const batch_seq& s = b.seq_of(row);
        throw nonfinite_error(std::string(gpu_logits ? "the layers on the GPU or the output" : "the output") +
                              " (output.weight or token_embd.weight when tied, and output_norm.weight) "
                              "produced a non-finite logit (" + std::to_string(logits[i]) + " for token id " +
                              std::to_string(i % V) + ") at position " + std::to_string(s.pos0 + row - s.t0) +
                              (b.n_seqs > 1 || s.seq != 0 ? " of sequence " + std::to_string(s.seq) : ""));
    }
}

}  // namespace pyggml
