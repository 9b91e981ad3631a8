"""llama.cpp's own tokenizer, through llama-cpp-python's C API, for live comparisons.

LlamaVocab(path) loads only the vocabulary of a GGUF (vocab_only) and gives llama_tokenize,
llama_token_to_piece and llama_detokenize on bytes, with every flag they take.
"""

from __future__ import annotations

import ctypes


class LlamaVocab:
    def __init__(self, path: str):
        import llama_cpp

        self._l = llama_cpp
        llama_cpp.llama_backend_init()
        llama_cpp.llama_log_set(_quiet, ctypes.c_void_p())
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self._model = llama_cpp.llama_model_load_from_file(path.encode(), params)
        if not self._model:
            raise RuntimeError(f"llama.cpp cannot load {path}")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)

    def close(self) -> None:
        if self._model:
            self._l.llama_model_free(self._model)
            self._model = None

    def __del__(self):
        self.close()

    def tokenize(self, text: bytes, add_special: bool, parse_special: bool) -> list[int]:
        n_max = len(text) + 16
        while True:
            buf = (self._l.llama_token * n_max)()
            n = self._l.llama_tokenize(self._vocab, text, len(text), buf, n_max, add_special, parse_special)
            if n >= 0:
                return list(buf[:n])
            n_max = -n

    def piece(self, token: int, special: bool) -> bytes:
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._l.llama_token_to_piece(self._vocab, token, buf, size, 0, special)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def detokenize(self, ids: list[int], special: bool) -> bytes:
        arr = (self._l.llama_token * max(1, len(ids)))(*ids)
        size = 64 + 8 * len(ids)
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._l.llama_detokenize(self._vocab, arr, len(ids), buf, size, False, special)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def special(self) -> dict:
        v, lib = self._vocab, self._l
        return {"bos": lib.llama_vocab_bos(v), "eos": lib.llama_vocab_eos(v), "eot": lib.llama_vocab_eot(v),
                "add_bos": bool(lib.llama_vocab_get_add_bos(v)), "add_eos": bool(lib.llama_vocab_get_add_eos(v)),
                "eog": sorted(t for t in range(self.n_vocab) if lib.llama_vocab_is_eog(v, t))}

    def attr(self, token: int) -> int:
        return int(self._l.llama_vocab_get_attr(self._vocab, token))


def _log(level, text, user_data):  # llama.cpp's log lines are not the test's business
    pass


try:
    import llama_cpp as _llama_cpp

    _quiet = _llama_cpp.llama_log_callback(_log)
except ImportError:  # the module is only used when llama_cpp is importable
    _quiet = None
