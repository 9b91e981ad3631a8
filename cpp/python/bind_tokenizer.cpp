// bind_tokenizer.cpp: Python bindings for the SentencePiece merge loop.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "python/bindings.h"
#include "text/tokenizer_spm.h"

namespace py = pybind11;
using namespace pyggml;

namespace {

spm_vocab* make_spm_vocab(const std::vector<py::bytes>& tokens, py::array_t<float, py::array::c_style | py::array::forcecast> scores,
                          py::array_t<int32_t, py::array::c_style | py::array::forcecast> byte_tokens) {
    if (scores.ndim() != 1 || size_t(scores.shape(0)) != tokens.size()) {
        throw py::value_error("scores must be 1-D with one score per token");
    }
    if (byte_tokens.ndim() != 1 || byte_tokens.shape(0) != 256) throw py::value_error("byte_tokens must have 256 entries");
    const int64_t n = int64_t(tokens.size());
    const int32_t* bt = byte_tokens.data();
    for (int i = 0; i < 256; ++i) {
        if (bt[i] < -1 || bt[i] >= n) throw py::value_error("byte token id out of range");
    }
    std::vector<std::string> texts;
    texts.reserve(tokens.size());
    for (const auto& t : tokens) texts.emplace_back(std::string(t));
    return new spm_vocab(std::move(texts), std::vector<float>(scores.data(), scores.data() + n),
                         std::vector<int32_t>(bt, bt + 256));
}

py::array_t<int32_t> spm_encode(const spm_vocab& vocab, const py::bytes& text) {
    std::string_view view(text);  // the bytes object stays alive for the call
    std::vector<int32_t> ids;
    {
        py::gil_scoped_release release;
        vocab.encode(view, ids);
    }
    py::array_t<int32_t> out(ids.size());
    std::copy(ids.begin(), ids.end(), out.mutable_data());
    return out;
}

}  // namespace

void pyggml::bind_tokenizer(py::module_& m) {
    py::class_<spm_vocab>(m, "SpmVocab")
        .def(py::init(&make_spm_vocab), py::arg("tokens"), py::arg("scores"), py::arg("byte_tokens"),
             "SentencePiece vocabulary: token texts (UTF-8 bytes), scores, ids of the 256 byte tokens")
        .def("encode", &spm_encode, py::arg("text"),
             "token ids (int32) of UTF-8 text whose spaces are already escaped to U+2581")
        .def("__len__", &spm_vocab::size);
}
