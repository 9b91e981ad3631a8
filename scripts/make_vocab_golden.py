"""Write tests/data/tokenizer_golden_vocabs.json.gz: llama.cpp's token ids for random and
adversarial texts on every vocabulary of llama.cpp's tokenizer tests, on GPT-2's vocabulary
with every pre-tokenizer llama.cpp knows, and on synthetic RWKV, PLaMo-2, hybriddna,
whitespace and test vocabularies, so that the default test run compares pyggml with
llama.cpp without llama-cpp-python installed.

    PYTHONPATH=.:tests:<llama-cpp-python site-packages> python3 scripts/make_vocab_golden.py

Needs llama-cpp-python (the version tests/support/llama_vocab_data.py names) and the
vocabulary files (see that module for where they come from).
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.llama_cpp_vocab import LlamaVocab  # noqa: E402
from support.llama_vocab_data import LLAMA_CPP_PYTHON, vocab_dir  # noqa: E402
from support.text_fuzz import random_texts  # noqa: E402
from support.vocab_files import SYNTHETIC, dna_texts, synthetic_vocab  # noqa: E402

from pyggml.text.pretokenizer import PRE_TOKENIZERS  # noqa: E402
from pyggml.text.tokenizer import Tokenizer  # noqa: E402

OUT = ROOT / "tests" / "data" / "tokenizer_golden_vocabs.json.gz"
# llama.cpp's own split for "whitespace" runs on white-space-free words only (the whitespace
# model); on a gpt2 vocabulary it asserts on the first run of spaces.
PRE_SWEEP = sorted(set(PRE_TOKENIZERS) - {"whitespace"})


def cases(path: str, key: str, n: int, decode: bool, extra: list[str] = ()) -> list:
    tok = Tokenizer.from_gguf(path)
    ref = LlamaVocab(path)
    specials = [tok.tokens[i] for i in tok._special[:60]] + list(extra)
    out = []
    for text in random_texts(zlib.crc32(key.encode()), n, specials) + list(extra[:8]):
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        case = [{"hex": raw.hex()} if isinstance(text, bytes) else text,
                ref.tokenize(raw, True, False), ref.tokenize(raw, False, True)]
        if decode:
            case += [ref.detokenize(case[1], False).hex(), ref.detokenize(case[1], True).hex()]
        out.append(case)
    ref.close()
    return out


def main() -> None:
    vocabs = vocab_dir()
    golden: dict = {"llama_cpp_python": LLAMA_CPP_PYTHON, "vocabs": {}}
    for path in sorted(vocabs.glob("ggml-vocab-*.gguf")):
        key = path.name[len("ggml-vocab-"):-len(".gguf")]
        golden["vocabs"][key] = cases(str(path), key, 48, True)
        print(key, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for key in [*SYNTHETIC, *(f"pre:{p}" for p in PRE_SWEEP)]:
            path = synthetic_vocab(key, vocabs, Path(tmp) / "v.gguf")
            extra = dna_texts(1, 16) if key == "hybriddna" else []
            pre = key.startswith("pre:")
            golden["vocabs"][key] = cases(path, key, 16 if pre else 48, not pre, extra)
            print(key, flush=True)
    with gzip.open(OUT, "wt", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
    print(f"{OUT}: {OUT.stat().st_size} bytes, {len(golden['vocabs'])} vocabularies")


if __name__ == "__main__":
    main()
