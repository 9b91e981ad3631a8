"""Regenerate tests/data/tokenizer_golden_*.json with llama.cpp as the oracle.

Needs llama-cpp-python (`import llama_cpp`) and the two real models. Run from the
repository root:  python3 tools/make_tokenizer_golden.py
For every corpus text it records llama.cpp's token ids for each (add_special,
parse_special) pair, the detokenized bytes (special on and off), plus the pieces of
a fixed sample of token ids and the special token ids.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

import llama_cpp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.expanduser("~/.cache/pyggml/models")
MODELS = {
    "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
    "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
}


def tokenize(vocab, data: bytes, add_special: bool, parse_special: bool) -> list[int]:
    n_max = len(data) + 16
    buf = (llama_cpp.llama_token * n_max)()
    n = llama_cpp.llama_tokenize(vocab, data, len(data), buf, n_max, add_special, parse_special)
    if n < 0:
        raise RuntimeError("token buffer too small")
    return list(buf[:n])


def detokenize(vocab, ids: list[int], special: bool) -> bytes:
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    size = 64 + 64 * len(ids)
    out = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(vocab, arr, len(ids), out, size, False, special)
    if n < 0:
        raise RuntimeError("text buffer too small")
    return out.raw[:n]


def piece(vocab, token: int, special: bool) -> bytes:
    out = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(vocab, token, out, 256, 0, special)
    if n < 0:
        raise RuntimeError("piece buffer too small")
    return out.raw[:n]


def main() -> None:
    corpus = json.load(open(os.path.join(ROOT, "tests/data/tokenizer_corpus.json"), encoding="utf-8"))
    for name, fname in MODELS.items():
        llm = llama_cpp.Llama(model_path=os.path.join(MODELS_DIR, fname), vocab_only=True, verbose=False)
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        cases = []
        for text in corpus:
            data = text.encode("utf-8")
            case = {"text": text}
            for add in (False, True):
                for parse in (False, True):
                    case[f"ids_add{int(add)}_parse{int(parse)}"] = tokenize(vocab, data, add, parse)
            ids = case["ids_add1_parse1"]
            case["decode_special1"] = detokenize(vocab, ids, True).hex()
            case["decode_special0"] = detokenize(vocab, ids, False).hex()
            cases.append(case)
        sample = sorted(set(range(0, n_vocab, 997)) | set(range(0, 300)) | set(range(n_vocab - 300, n_vocab)))
        pieces = {str(t): [piece(vocab, t, False).hex(), piece(vocab, t, True).hex()] for t in sample}
        golden = {
            "model": fname,
            "n_vocab": n_vocab,
            "bos": llama_cpp.llama_vocab_bos(vocab),
            "eos": llama_cpp.llama_vocab_eos(vocab),
            "eot": llama_cpp.llama_vocab_eot(vocab),
            "eog": [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)],
            "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
            "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
            "cases": cases,
            "pieces": pieces,
        }
        out = os.path.join(ROOT, f"tests/data/tokenizer_golden_{name}.json")
        with open(out, "w", encoding="utf-8") as f:
            json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        print(out, len(cases), "cases", file=sys.stderr)


if __name__ == "__main__":
    main()
