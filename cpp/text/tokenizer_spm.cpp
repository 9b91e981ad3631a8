// tokenizer_spm.cpp: the score-ordered bigram merge of SentencePiece vocabularies.
#include "text/tokenizer_spm.h"

#include <algorithm>
#include <queue>
#include <stdexcept>

namespace pyggml {

namespace {

struct symbol {
    int32_t prev, next;  // neighbours in the live chain, -1 at the ends
    uint32_t offset;     // byte range in the text
    uint32_t n;          // 0 once merged into its left neighbour
};

struct bigram {
    int32_t left, right;
    float score;
    uint32_t size;
};

// Highest score on top; on equal scores the leftmost pair first.
struct bigram_order {
    bool operator()(const bigram& a, const bigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

size_t utf8_len(uint8_t lead) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[lead >> 4];
}

}  // namespace

spm_vocab::spm_vocab(std::vector<std::string> tokens, std::vector<float> scores, std::vector<int32_t> byte_tokens)
    : tokens_(std::move(tokens)), scores_(std::move(scores)), byte_tokens_(std::move(byte_tokens)) {
    if (scores_.size() != tokens_.size()) throw std::invalid_argument("scores and tokens differ in length");
    if (byte_tokens_.size() != 256) throw std::invalid_argument("need 256 byte tokens");
    ids_.reserve(tokens_.size() * 2);
    for (size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(std::string_view(tokens_[i]), int32_t(i));
}

int32_t spm_vocab::find(std::string_view text) const {
    auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
}

void spm_vocab::encode(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    if (text.size() > UINT32_MAX) throw std::length_error("text too long");
    std::vector<symbol> syms;  // (n_chars)
    syms.reserve(text.size());
    for (size_t off = 0; off < text.size();) {
        const size_t n = std::min(utf8_len(uint8_t(text[off])), text.size() - off);
        const int32_t idx = int32_t(syms.size());
        syms.push_back({idx - 1, off + n == text.size() ? -1 : idx + 1, uint32_t(off), uint32_t(n)});
        off += n;
    }

    std::priority_queue<bigram, std::vector<bigram>, bigram_order> queue;
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint32_t size = syms[left].n + syms[right].n;
        const int32_t id = find(text.substr(syms[left].offset, size));
        if (id < 0) return;
        queue.push({left, right, scores_[id], size});
    };
    for (int32_t i = 1; i < int32_t(syms.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        const bigram b = queue.top();
        queue.pop();
        symbol& l = syms[b.left];
        symbol& r = syms[b.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale pair
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) syms[r.next].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }

    for (int32_t i = 0; i != -1; i = syms[i].next) {
        const std::string_view piece = text.substr(syms[i].offset, syms[i].n);
        const int32_t id = find(piece);
        if (id >= 0) {
            out.push_back(id);
        } else {
            for (unsigned char c : piece) out.push_back(byte_tokens_[c]);
        }
    }
}

}  // namespace pyggml
