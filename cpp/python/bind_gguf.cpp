// bind_gguf.cpp: GGUF string arrays (a vocabulary's tokens and merges: 10^5 strings and more)
// decoded in one native call; pyggml/formats/gguf_file.py parses everything else and reports
// every error.
#include <cstdint>
#include <cstring>

#include "python/bindings.h"

namespace py = pybind11;

namespace {

// Strings [0, count) of an array whose first length field is at byte pos of buf: each a
// little-endian uint64 byte count and that many bytes, decoded as UTF-8 with
// surrogateescape (as str(b, "utf-8", "surrogateescape")). Stops before the first string
// whose length field or bytes run past the buffer's end; returns (strings, position after
// the last one read), so the caller names the string that does not fit.
py::tuple gguf_strings(const py::buffer& buf, uint64_t pos, uint64_t count) {
    const py::buffer_info info = buf.request();
    if (info.ndim != 1 || info.itemsize != 1) throw py::value_error("gguf_strings: a 1-D byte buffer expected");
    const char* data = static_cast<const char*>(info.ptr);
    const uint64_t size = uint64_t(info.size);
    if (pos > size) throw py::value_error("gguf_strings: position past the end of the buffer");
    py::list out;
    for (uint64_t i = 0; i < count; ++i) {
        if (size - pos < 8) break;
        uint64_t n;
        std::memcpy(&n, data + pos, 8);
        if (n > size - pos - 8) break;
        PyObject* s = PyUnicode_DecodeUTF8(data + pos + 8, Py_ssize_t(n), "surrogateescape");
        if (!s) throw py::error_already_set();
        out.append(py::reinterpret_steal<py::object>(s));
        pos += 8 + n;
    }
    return py::make_tuple(std::move(out), pos);
}

}  // namespace

namespace pyggml {

void bind_gguf(py::module_& m) {
    m.def("gguf_strings", &gguf_strings, py::arg("buffer"), py::arg("pos"), py::arg("count"),
          "Decodes up to `count` GGUF strings (uint64 length + UTF-8 bytes, surrogateescape) from byte `pos` "
          "of `buffer`; stops before the first that does not fit. Returns (list of str, end position).");
}

}  // namespace pyggml
