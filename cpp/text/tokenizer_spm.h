// tokenizer_spm.h: SentencePiece-style tokenization as llama.cpp's llm_tokenizer_spm.
//
// The input is UTF-8 with spaces already escaped to U+2581. It is cut into UTF-8
// characters, then adjacent symbols are merged, highest token score first (ties:
// leftmost), for as long as the merged text is a token. Symbols that are not tokens
// come out as byte tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pyggml {

class spm_vocab {
public:
    // tokens: (n_vocab) token texts; scores: (n_vocab); byte_tokens: (256) id of <0xXX>.
    spm_vocab(std::vector<std::string> tokens, std::vector<float> scores, std::vector<int32_t> byte_tokens);

    // Appends the token ids of `text` to `out`.
    void encode(std::string_view text, std::vector<int32_t>& out) const;

    size_t size() const { return tokens_.size(); }

private:
    int32_t find(std::string_view text) const;

    std::vector<std::string> tokens_;
    std::vector<float> scores_;
    std::vector<int32_t> byte_tokens_;
    std::unordered_map<std::string_view, int32_t> ids_;  // views into tokens_
};

}  // namespace pyggml
