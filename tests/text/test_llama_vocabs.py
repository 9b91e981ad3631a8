"""Every vocabulary of llama.cpp's tokenizer tests, and every tokenizer model and pre-tokenizer,
against llama.cpp.

- llama.cpp's own test vectors (models/ggml-vocab-*.gguf.inp / .out), every case;
- golden ids that llama.cpp gave for random and adversarial texts
  (tests/data/tokenizer_golden_vocabs.json.gz, scripts/make_vocab_golden.py): the 19
  vocabulary files, GPT-2's vocabulary under each of llama.cpp's pre-tokenizers, synthetic
  RWKV, PLaMo-2, hybriddna, whitespace and test vocabularies;
- with llama-cpp-python installed (`-m llama_cpp`), live comparisons on a few thousand new
  random texts per vocabulary, decoding and every token's piece included.

The vocabulary files are fetched once (see support/llama_vocab_data.py); without them these
tests are skipped with the reason.
"""

from __future__ import annotations

import gzip
import json
import random
import zlib
from pathlib import Path

import pytest
from support.llama_vocab_data import VocabDataMissing, read_cases, vocab_dir
from support.text_fuzz import random_texts
from support.vocab_files import (SYNTHETIC, dna_texts, sentencepiece_unigram_vocab, synthetic_metadata,
                                 synthetic_vocab)

from pyggml.text.pretokenizer import PRE_TOKENIZERS
from pyggml.text.tokenizer import Tokenizer

DATA = Path(__file__).resolve().parents[1] / "data"
# The vocabulary files of llama-cpp-python 0.3.36's llama.cpp; the first 15 have test vectors.
WITH_CASES = ["bert-bge", "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gemma-4", "gpt-2", "llama-bpe",
              "llama-spm", "mpt", "phi-3", "qwen2", "qwen35", "refact", "starcoder"]
VOCABS = WITH_CASES + ["aquila", "baichuan", "gpt-neox", "nomic-bert-moe"]
PRE_SWEEP = sorted(set(PRE_TOKENIZERS) - {"whitespace"})  # see scripts/make_vocab_golden.py


@pytest.fixture(scope="session")
def vocabs() -> Path:
    try:
        return vocab_dir()
    except VocabDataMissing as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def golden() -> dict:
    with gzip.open(DATA / "tokenizer_golden_vocabs.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)["vocabs"]


def _tokenizer(key: str, vocabs: Path) -> Tokenizer:
    if key in VOCABS:
        return Tokenizer.from_gguf(vocabs / f"ggml-vocab-{key}.gguf")
    return Tokenizer(synthetic_metadata(key, vocabs), name=key)


def _text(t):
    return bytes.fromhex(t["hex"]) if isinstance(t, dict) else t


@pytest.mark.parametrize("name", WITH_CASES)
def test_llama_cpp_test_vectors(vocabs, name):
    path = vocabs / f"ggml-vocab-{name}.gguf"
    tok = Tokenizer.from_gguf(path)
    cases = read_cases(path)
    assert len(cases) >= 46
    wrong = [(text, ids, tok.encode(text, add_special=False)) for text, ids in cases
             if tok.encode(text, add_special=False) != ids]
    assert not wrong, f"{len(wrong)} of {len(cases)} cases differ, first: {wrong[0]}"


@pytest.mark.parametrize("key", VOCABS + list(SYNTHETIC) + [f"pre:{p}" for p in PRE_SWEEP])
def test_golden_ids_from_llama_cpp(vocabs, golden, key):
    tok = _tokenizer(key, vocabs)
    wrong = []
    for case in golden[key]:
        text = _text(case[0])
        if tok.encode(text, add_special=True, parse_special=False) != case[1]:
            wrong.append((text, "add_special"))
        if tok.encode(text, add_special=False, parse_special=True) != case[2]:
            wrong.append((text, "parse_special"))
        for special, want in zip((False, True), case[3:]):
            if tok.decode_bytes(case[1], special).hex() != want:
                wrong.append((text, f"decode special={special}"))
    assert not wrong, f"{len(wrong)} differ of {len(golden[key])} texts, first: {wrong[:3]}"


def test_golden_covers_every_pre_tokenizer(golden):
    assert {k[4:] for k in golden if k.startswith("pre:")} == set(PRE_SWEEP)


# ---------------------------------------------------------------------------------
# Live comparisons with llama.cpp (llama-cpp-python)

def _compare_live(path: str, n: int, seed: int, extra: list[str] = (), pieces: bool = True) -> None:
    pytest.importorskip("llama_cpp")
    from support.llama_cpp_vocab import LlamaVocab

    tok = Tokenizer.from_gguf(path)
    ref = LlamaVocab(path)
    try:
        special = ref.special()
        assert (tok.bos_id, tok.eos_id, tok.eot_id) == (special["bos"], special["eos"], special["eot"])
        assert (tok.add_bos, tok.add_eos) == (special["add_bos"], special["add_eos"])
        assert sorted(tok.eog_ids) == special["eog"]
        assert [ref.attr(i) for i in range(len(tok))] == tok.attrs.tolist()
        specials = [tok.tokens[i] for i in tok._special[:200]] + list(extra)
        wrong = []
        for text in random_texts(seed, n, specials) + list(extra):
            raw = text if isinstance(text, bytes) else text.encode("utf-8")
            for add, parse in ((True, False), (False, True)):
                want = ref.tokenize(raw, add, parse)
                if tok.encode(text, add_special=add, parse_special=parse) != want:
                    wrong.append((text, add, parse))
                for special in (False, True):
                    if tok.decode_bytes(want, special) != ref.detokenize(want, special):
                        wrong.append((text, "decode", special))
        assert not wrong, f"{len(wrong)} differ of {2 * n}, first: {wrong[:3]}"
        if pieces:
            ids = range(len(tok)) if len(tok) <= 70_000 else sorted(random.Random(0).sample(range(len(tok)), 70_000))
            bad = [i for i in ids for s in (False, True) if tok.token_to_piece(i, s) != ref.piece(i, s)]
            assert not bad, f"pieces of {len(bad)} tokens differ, first: {bad[:5]}"
    finally:
        ref.close()


@pytest.mark.llama_cpp
@pytest.mark.slow
@pytest.mark.parametrize("name", VOCABS)
def test_live_vocab_files(vocabs, name):
    _compare_live(str(vocabs / f"ggml-vocab-{name}.gguf"), 3000, zlib.crc32(name.encode()) + 1)


@pytest.mark.llama_cpp
@pytest.mark.slow
@pytest.mark.parametrize("name", SYNTHETIC)
def test_live_synthetic_models(vocabs, name, tmp_path):
    extra = dna_texts(2, 300) if name == "hybriddna" else []
    _compare_live(synthetic_vocab(name, vocabs, tmp_path / "v.gguf"), 2000, 11, extra)


@pytest.mark.llama_cpp
@pytest.mark.slow
@pytest.mark.parametrize("pre", PRE_SWEEP)
def test_live_pre_tokenizers(vocabs, pre, tmp_path):
    _compare_live(synthetic_vocab(f"pre:{pre}", vocabs, tmp_path / "v.gguf"), 300, zlib.crc32(pre.encode()),
                  pieces=False)


@pytest.mark.llama_cpp
@pytest.mark.slow
def test_live_unigram_trained_with_sentencepiece(tmp_path):
    """A t5 vocabulary from a SentencePiece unigram model with its nmt_nfkc character map and
    user-defined pieces, against llama.cpp."""
    import io

    import sentencepiece as spm

    text = (Path(__file__).resolve().parents[2] / "pyggml" / "data" / "devils_dictionary_calib.txt").read_text(
        encoding="utf-8")
    lines = [ln for ln in text.split("\n") if ln.strip()][:3000]
    lines += ["你好世界，今天天气很好。", "Здравствуй, мир! Ünïcödé café naïve", "こんにちは世界 한국어 ①②③ ﬁ ＡＢＣ １２３"] * 20
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, vocab_size=1000,
                                   model_type="unigram", character_coverage=1.0, num_threads=1, minloglevel=2,
                                   normalization_rule_name="nmt_nfkc", user_defined_symbols=["<mask>", "[X]"])
    path = sentencepiece_unigram_vocab(buf.getvalue(), tmp_path / "t5.gguf")
    _compare_live(path, 2000, 5, ["<mask>", "[X]", "</s>", "<unk>", "  a  b  ", "ＡＢＣ"])
