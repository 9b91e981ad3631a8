"""Tokenizers from GGUF metadata: synthetic vocabularies, llama.cpp golden ids on the
real models, and an optional live cross-check against llama-cpp-python."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from pyggml.errors import GGUFError
from pyggml.text.pretokenizer import PRE_TOKENIZERS, PreTokenizer
from pyggml.text.tokenizer import Tokenizer, bytes_to_unicode, read_tokenizer_metadata
from pyggml.text.unicode import collapse

from support.gguf_files import write_gguf

DATA = Path(__file__).resolve().parents[1] / "data"
SP = "\u2581"


# ---------------------------------------------------------------------------------
# Synthetic vocabularies

def spm_meta(extra_tokens: list[tuple[str, float, int]] = (), **kv) -> dict:
    """A small SentencePiece vocabulary: specials, 256 byte tokens, then pieces."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    scores = [0.0] * len(tokens)
    types = [2, 3, 3] + [6] * 256
    pieces = [(SP, -1.0, 1), ("a", -2.0, 1), ("b", -2.0, 1), ("ab", -1.5, 1), (SP + "ab", -0.5, 1),
              ("c", -3.0, 1), ("bc", -0.2, 1), ("<sot>", 0.0, 3), ("<x>", 0.0, 4), ("<x><y>", 0.0, 4)]
    for t, s, ty in [*pieces, *extra_tokens]:
        tokens.append(t)
        scores.append(s)
        types.append(ty)
    meta = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.scores": np.array(scores, np.float32), "tokenizer.ggml.token_type": np.array(types),
            "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2}
    meta.update(kv)
    return meta


def bpe_meta(pre: str = "gpt-2", merges: list[str] = ("a b", "ab c", "Ġ a"), **kv) -> dict:
    """A small byte-level BPE vocabulary: the 256 byte symbols plus merged tokens."""
    table = bytes_to_unicode()
    byte_syms = [table[b] for b in range(256)]
    tokens = byte_syms + [m.replace(" ", "") for m in merges] + ["<|end|>", "<|user|>"]
    types = [1] * (len(tokens) - 2) + [3, 4]
    meta = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre, "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": np.array(types), "tokenizer.ggml.merges": list(merges),
            "tokenizer.ggml.eos_token_id": len(tokens) - 2}
    meta.update(kv)
    return meta


def test_spm_merges_by_score_with_byte_fallback():
    tok = Tokenizer(spm_meta())
    ids = {t: i for i, t in enumerate(tok.tokens)}
    # " ab" -> "▁ab" (best score); add_space_prefix defaults on for SPM.
    assert tok.encode("ab", add_special=False) == [ids[SP + "ab"]]
    assert tok.encode("ab") == [1, ids[SP + "ab"]]
    # "abc": "bc" (-0.2) beats "ab" (-1.5) and "▁a" is no token; so ▁ a bc.
    assert tok.encode("abc", add_special=False) == [ids[SP], ids["a"], ids["bc"]]
    # Unknown characters fall back to their UTF-8 bytes.
    assert tok.encode("é", add_special=False) == [ids[SP], 3 + 0xC3, 3 + 0xA9]
    # The first piece loses its prefix space; with BOS first (llama.cpp) it keeps it.
    assert tok.decode(tok.encode("ab é", add_special=False)) == "ab é"
    assert tok.decode(tok.encode("ab é")) == " ab é"


def test_spm_without_byte_tokens_falls_back_to_unk():
    meta = spm_meta()
    keep = [i for i, t in enumerate(meta["tokenizer.ggml.tokens"]) if not t.startswith("<0x")]
    meta["tokenizer.ggml.tokens"] = [meta["tokenizer.ggml.tokens"][i] for i in keep]
    meta["tokenizer.ggml.scores"] = meta["tokenizer.ggml.scores"][keep]
    meta["tokenizer.ggml.token_type"] = meta["tokenizer.ggml.token_type"][keep]
    meta["tokenizer.ggml.unknown_token_id"] = 10**6  # out of range: ignored, default 0 is kept
    tok = Tokenizer(meta)
    assert tok.encode("é", add_special=False)[-1] == 0  # falls back to <unk>


def test_spm_without_space_prefix():
    tok = Tokenizer(spm_meta(**{"tokenizer.ggml.add_space_prefix": False}))
    ids = {t: i for i, t in enumerate(tok.tokens)}
    assert tok.encode("ab", add_special=False) == [ids["ab"]]
    assert tok.encode(" ab", add_special=False) == [ids[SP + "ab"]]
    assert tok.decode(tok.encode(" ab")) == " ab"


def test_special_tokens_control_and_user_defined():
    tok = Tokenizer(spm_meta(**{"tokenizer.ggml.add_space_prefix": False}))
    ids = {t: i for i, t in enumerate(tok.tokens)}
    # Control tokens are only parsed with parse_special; user-defined ones always.
    assert ids["<sot>"] not in tok.encode("a<sot>b", add_special=False)
    assert tok.encode("a<sot>b", add_special=False, parse_special=True) == [ids["a"], ids["<sot>"], ids["b"]]
    # The longest special token is cut first.
    assert tok.encode("<x><y>", add_special=False) == [ids["<x><y>"]]
    assert tok.encode("<x><x><y>", add_special=False) == [ids["<x>"], ids["<x><y>"]]
    # Text holding the usual mask characters still splits right.
    assert tok.encode("a\x00<x>\uffffb", add_special=False) == [
        ids["a"], 3 + 0x00, ids["<x>"], 3 + 0xEF, 3 + 0xBF, 3 + 0xBF, ids["b"]]
    # Control pieces are hidden unless special=True; user-defined ones are text.
    assert tok.token_to_piece(ids["<sot>"]) == b""
    assert tok.token_to_piece(ids["<sot>"], special=True) == b"<sot>"
    assert tok.token_to_piece(ids["<x>"]) == b"<x>"


def test_spm_native_matches_python_reference():
    pytest.importorskip("pyggml._core")
    tok = Tokenizer(spm_meta([("aa", -0.1, 1), ("aaa", -0.3, 1), (SP + SP, -0.4, 1), ("cab", -0.05, 1)]))
    rnd = random.Random(0)
    for _ in range(300):
        text = "".join(rnd.choice(["a", "b", "c", "▁", "é", "x", "aa"]) for _ in range(rnd.randrange(0, 30)))
        py: list[int] = []
        tok._spm_encode_py(text, py)
        native: list[int] = []
        tok._spm_encode(text, native)
        assert native == py, text


def test_bpe_merges_by_rank():
    tok = Tokenizer(bpe_meta())
    ids = {t: i for i, t in enumerate(tok.tokens)}
    assert tok.encode("abc") == [ids["abc"]]
    assert tok.encode("ab a") == [ids["ab"], ids["Ġa"]]
    assert tok.encode("cab") == [ids["c"], ids["ab"]]
    assert tok.decode(tok.encode("abc ab a\n")) == "abc ab a\n"
    # Long words take the heap merge; it must merge exactly like the simple loop.
    assert tok._bpe_word("ab" * 50 + "c") == [ids["ab"]] * 49 + [ids["abc"]]
    rnd = random.Random(1)
    for _ in range(200):
        word = "".join(rnd.choice("abcĠ") for _ in range(rnd.randrange(1, 150)))
        assert tok._bpe_merge_heap(list(word)) == tok._bpe_merge_small(list(word))


def test_llama3_whole_word_tokens_skip_merges():
    # "ca" is a token but no merge makes it: gpt2 splits it, llama3 (ignore_merges) does not.
    meta = bpe_meta(pre="llama3")
    meta["tokenizer.ggml.tokens"] = meta["tokenizer.ggml.tokens"][:-2] + ["ca", "<|end|>", "<|user|>"]
    meta["tokenizer.ggml.token_type"] = np.array([1] * (len(meta["tokenizer.ggml.tokens"]) - 2) + [3, 4])
    meta["tokenizer.ggml.eos_token_id"] = len(meta["tokenizer.ggml.tokens"]) - 2
    llama3 = Tokenizer(meta)
    assert llama3.add_bos is True  # llama.cpp's default for llama3 vocabularies
    assert llama3.encode("ca", add_special=False) == [llama3.token_to_id["ca"]]
    gpt2 = Tokenizer({**meta, "tokenizer.ggml.pre": "gpt-2"})
    assert gpt2.add_bos is False
    assert gpt2.encode("ca") == [gpt2.token_to_id["c"], gpt2.token_to_id["a"]]


def test_bpe_special_tokens_and_eog():
    tok = Tokenizer(bpe_meta())
    end, user = len(tok) - 2, len(tok) - 1
    assert tok.encode("a<|end|>", parse_special=True) == [tok.token_to_id["a"], end]
    assert end not in tok.encode("a<|end|>")
    assert tok.encode("<|user|>b") == [user, tok.token_to_id["b"]]
    assert tok.eos_id == end and tok.eot_id == end and tok.is_eog(end)
    assert tok.decode([end, user], special=False) == "<|user|>"
    assert tok.decode([end, user], special=True) == "<|end|><|user|>"


def test_bpe_clean_spaces_on_decode():
    tok = Tokenizer(bpe_meta())
    assert tok.decode(tok.encode("a , b 's c ' d ?")) == "a, b's c'd?"
    qwen_like = Tokenizer(bpe_meta(pre="qwen2"))
    assert qwen_like.decode(qwen_like.encode("a , b")) == "a , b"


# Pre-tokenizer splits, checked by hand against llama.cpp's regexes.
@pytest.mark.parametrize("pre, text, words", [
    ("gpt-2", "Hello, world! It's  12345 x\n\ny", ["Hello", ",", " world", "!", " It", "'s", " ", " 12345", " x", "\n", "\n", "y"]),
    ("llama3", "Hello, world! IT'S  12345 x\n\ny", ["Hello", ",", " world", "!", " IT", "'S", " ", " ", "123", "45", " x", "\n\n", "y"]),
    ("qwen2", "Hello, world! It's  12345 x\n\ny", ["Hello", ",", " world", "!", " It", "'s", " ", " ", "1", "2", "3", "4", "5", " x", "\n\n", "y"]),
    ("default", "Hello, world! x+=1234", ["Hello", ",", " world", "!", " x", "+=", "123", "4"]),
    ("qwen2", "café 你好😀 \t\ta", ["café", " 你好", "😀", " \t", "\ta"]),
])
def test_pretokenizer_splits(pre, text, words):
    assert PreTokenizer(pre).split(text) == words


def test_pretokenizer_known_names():
    for name in ("default", "llama3", "qwen2", "gpt-2", "qwen35", "kimi-k2"):
        assert name in PRE_TOKENIZERS
    with pytest.raises(GGUFError, match="unknown pre-tokenizer 'no-such-pre'.*qwen35"):
        Tokenizer(bpe_meta(pre="no-such-pre"))


def test_collapse_keeps_one_char_per_code_point():
    text = "aé 你1٣\u00a0😀!"
    out = collapse(text)
    assert len(out) == len(text)
    assert out == "a\xd2 \xd21\xd1\x0b\xd5!"


def test_unsupported_model_and_missing_tokens():
    with pytest.raises(GGUFError, match="unknown tokenizer model 'wordpiece'.*bert .WordPiece.*t5 "):
        Tokenizer({"tokenizer.ggml.model": "wordpiece", "tokenizer.ggml.tokens": ["a"]})
    with pytest.raises(GGUFError, match="tokens is missing"):
        Tokenizer({"tokenizer.ggml.model": "llama"})
    meta = bpe_meta()
    del meta["tokenizer.ggml.merges"]
    with pytest.raises(GGUFError, match="merges"):
        Tokenizer(meta)


def test_from_gguf_file_and_reader(tmp_path):
    gguf = pytest.importorskip("gguf")
    meta = spm_meta()
    path = tmp_path / "tok.gguf"
    write_gguf(path, metadata={
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": meta["tokenizer.ggml.tokens"],
        "tokenizer.ggml.scores": [float(s) for s in meta["tokenizer.ggml.scores"]],
        "tokenizer.ggml.token_type": ([int(t) for t in meta["tokenizer.ggml.token_type"]],
                                      gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32),
        "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
    })
    from_path = Tokenizer.from_gguf(path)
    from_reader = Tokenizer.from_gguf(gguf.GGUFReader(str(path)))
    from_dict = Tokenizer(meta)
    text = "ab abc é<sot>"
    expected = from_dict.encode(text, parse_special=True)
    assert from_path.encode(text, parse_special=True) == expected
    assert from_reader.encode(text, parse_special=True) == expected
    assert read_tokenizer_metadata(path)["tokenizer.ggml.model"] == "llama"


def test_bad_gguf_names_the_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(GGUFError, match="bad.gguf"):
        Tokenizer.from_gguf(bad)


# ---------------------------------------------------------------------------------
# Real models: llama.cpp's ids, stored in tests/data by scripts/make_tokenizer_golden.py

def _golden(name: str) -> dict:
    return json.loads((DATA / f"tokenizer_golden_{name}.json").read_text(encoding="utf-8"))


def _check_golden(tok: Tokenizer, golden: dict) -> None:
    assert len(tok) == golden["n_vocab"]
    assert (tok.bos_id, tok.eos_id, tok.eot_id) == (golden["bos"], golden["eos"], golden["eot"])
    assert sorted(tok.eog_ids) == golden["eog"]
    assert (tok.add_bos, tok.add_eos) == (golden["add_bos"], golden["add_eos"])
    mismatches = []
    for case in golden["cases"]:
        for add in (0, 1):
            for parse in (0, 1):
                got = tok.encode(case["text"], add_special=bool(add), parse_special=bool(parse))
                if got != case[f"ids_add{add}_parse{parse}"]:
                    mismatches.append((case["text"], add, parse))
        for special in (0, 1):
            got = tok.decode_bytes(case["ids_add1_parse1"], special=bool(special)).hex()
            if got != case[f"decode_special{special}"]:
                mismatches.append((case["text"], "decode", special))
    assert not mismatches
    for token, (plain, special) in golden["pieces"].items():
        assert tok.token_to_piece(int(token)).hex() == plain
        assert tok.token_to_piece(int(token), special=True).hex() == special


@pytest.mark.real_model
def test_gemma_matches_llama_cpp(gemma_tok):
    assert gemma_tok.model == "llama"
    _check_golden(gemma_tok, _golden("gemma3-270m"))


@pytest.mark.real_model
def test_qwen_matches_llama_cpp(qwen_tok):
    assert (qwen_tok.model, qwen_tok.pre) == ("gpt2", "qwen2")
    _check_golden(qwen_tok, _golden("qwen2.5-coder-1.5b"))


@pytest.mark.real_model
def test_gemma_native_spm_matches_python(gemma_tok):
    pytest.importorskip("pyggml._core")
    corpus = json.loads((DATA / "tokenizer_corpus.json").read_text(encoding="utf-8"))
    for text in corpus[:40]:
        text = text.replace(" ", SP)
        py: list[int] = []
        gemma_tok._spm_encode_py(text, py)
        native: list[int] = []
        gemma_tok._spm_encode(text, native)
        assert native == py


@pytest.mark.real_model
def test_round_trip_real_models(gemma_tok, qwen_tok):
    corpus = json.loads((DATA / "tokenizer_corpus.json").read_text(encoding="utf-8"))
    for tok in (gemma_tok, qwen_tok):
        for text in corpus:
            assert tok.decode(tok.encode(text, add_special=False)) == text


# ---------------------------------------------------------------------------------
# Live cross-check with llama-cpp-python (optional)

def _random_texts(seed: int, n: int) -> list[str]:
    rnd = random.Random(seed)
    alphabet = (list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789") + list(" \t\n\r  ") +
                list(".,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`") + list("éüñçøßЖжДπΣ你好世界こんにちは한국어") +
                ["😀", "👍🏽", "🦙", "\u200b", "\u00a0", "'s", "'LL", "<start_of_turn>", "<|im_start|>",
                 "<|endoftext|>", "<end_of_turn>", "\n\n", "    ", "1234567"])
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 60))) for _ in range(n)]


@pytest.mark.llama_cpp
@pytest.mark.real_model
@pytest.mark.parametrize("which", ["gemma", "qwen"])
def test_live_against_llama_cpp(which, request):
    llama_cpp = pytest.importorskip("llama_cpp")
    path = request.getfixturevalue(f"{which}_path")
    tok = request.getfixturevalue(f"{which}_tok")
    try:
        llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    except Exception as e:  # an llama_cpp that cannot load this file is not our failure
        pytest.skip(f"llama_cpp cannot load {path}: {e}")
    for text in _random_texts(1234, 300):
        for add, parse in ((True, False), (False, True)):
            expected = llm.tokenize(text.encode(), add_bos=add, special=parse)
            assert tok.encode(text, add_special=add, parse_special=parse) == expected, (text, add, parse)


# ---------------------------------------------------------------------------------
# Pre-tokenizers llama.cpp special-cases, tokenizer models beyond SentencePiece and BPE

@pytest.mark.parametrize("pre, text, words", [
    # AFMoE and tiny_aya: digit runs cut into the leading len % 3 digits, then threes
    ("afmoe", "ab1234567 x12", ["ab", "1", "234", "567", " x", "12"]),
    ("tiny_aya", "v123456", ["v", "123", "456"]),
    # SuperBPE: runs of numbers, then groups of three from the right
    ("superbpe", "a1234567b", ["a", "1", "234", "567", "b"]),
    # Kimi-K2: Han characters apart from other letters; contractions stay on the word
    ("kimi-k2", "我想在apple工作 it's", ["我想在", "apple", "工作", " it's"]),
    ("gemma4", "a b\n\nc", ["a b", "\n\n", "c"]),
    # Unicode 15.1 classes, not the running Python's: U+0CF3 is a mark, U+31350 a letter
    ("qwen35", "a\u0cf3b \U00031350", ["a\u0cf3b", " \U00031350"]),
])
def test_special_cased_splits(pre, text, words):
    assert PreTokenizer(pre).split(text) == words


def test_digit_groups_take_the_text_before_a_run():
    # llama.cpp's AFMoE splitter puts the text before a digit run into the run's first group
    from pyggml.text.pretokenizer import _digit_groups

    text = "ab1234567 x12"
    assert [text[a:b] for a, b in _digit_groups(text, [(0, len(text))])] == ["ab1", "234", "567", " x12"]


def test_every_pre_tokenizer_compiles_and_splits():
    text = "Hello, world! It's 12345 你好 \u00a0 ＡＢＣ\n\n  x"
    for name in PRE_TOKENIZERS:
        words = PreTokenizer(name).split(text)
        assert "".join(words) == text and all(words), name


def test_wordpiece():
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", SP + "hello", SP + "world", "##", SP + "un", "aff", "able",
              SP + ",", SP + "你", SP + "cafe"]
    tok = Tokenizer({"tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": tokens,
                     "tokenizer.ggml.token_type": [3, 2, 3, 3] + [1] * (len(tokens) - 4),
                     "tokenizer.ggml.unknown_token_id": 1, "tokenizer.ggml.bos_token_id": 2,
                     "tokenizer.ggml.seperator_token_id": 3})
    ids = {t: i for i, t in enumerate(tokens)}
    # lowercased, accents stripped, split at punctuation and CJK; CLS ... SEP around it
    assert tok.encode("Hello, WORLD 你 Café unaffable xyz") == [
        2, ids[SP + "hello"], ids[SP + ","], ids[SP + "world"], ids[SP + "你"], ids[SP + "cafe"],
        ids[SP + "un"], ids["aff"], ids["able"], 1, 3]
    assert tok.decode(tok.encode("hello world", add_special=False)) == " hello world"  # as llama.cpp gives it


def test_unigram_viterbi_and_unknown_merging():
    tokens = ["<pad>", "</s>", "<unk>", SP, SP + "a", "a", "b", "ab", SP + "ab", "c"]
    scores = [0, 0, 0, -2.0, -3.0, -1.0, -1.0, -1.5, -4.5, -5.0]
    tok = Tokenizer({"tokenizer.ggml.model": "t5", "tokenizer.ggml.tokens": tokens,
                     "tokenizer.ggml.scores": np.array(scores, np.float32),
                     "tokenizer.ggml.token_type": [3, 3, 2] + [1] * 7, "tokenizer.ggml.add_space_prefix": True})
    ids = {t: i for i, t in enumerate(tokens)}
    # highest total score: ▁ + ab (-3.5) beats ▁a + b (-4.0) and ▁ab (-4.5)
    assert tok.encode("ab", add_special=False) == [ids[SP], ids["ab"]]
    assert tok.encode("ab") == [ids[SP], ids["ab"], 1]  # EOS added, as t5 does
    # characters no piece covers are one [UNK] together
    assert tok.encode("ab xyz", add_special=False) == [ids[SP], ids["ab"], ids[SP], 2]


def test_rwkv_greedy_longest_match_over_bytes():
    pieces = [bytes([b]) for b in range(256)] + [b"ab", b"abc", b"\n\n", "é".encode()]
    tokens = ["<s>"] + [repr(p)[2:-1] for p in pieces]
    tok = Tokenizer({"tokenizer.ggml.model": "rwkv", "tokenizer.ggml.tokens": tokens,
                     "tokenizer.ggml.token_type": [3] + [1] * len(pieces)})
    ids = {p: i + 1 for i, p in enumerate(pieces)}
    assert tok.encode("abcab\n\né", add_special=True) == [ids[b"abc"], ids[b"ab"], ids[b"\n\n"], ids["é".encode()]]
    assert tok.token_to_piece(ids[b"\n\n"]) == b"\n\n" and tok.token_to_piece(ids[b"\xff"]) == b"\xff"


def test_plamo2_lowest_cost_longest_on_ties_byte_fallback():
    tokens = ["<|plamo:unk|>", "<|plamo:bos|>", "<|plamo:eos|>", "<|plamo:pad|>"] + [f"<0x{b:02X}>" for b in range(256)]
    pieces = ["a", "b", "ab", "abc", "c"]
    tok = Tokenizer({"tokenizer.ggml.model": "plamo2", "tokenizer.ggml.tokens": tokens + pieces,
                     "tokenizer.ggml.token_type": [2, 3, 3, 3] + [6] * 256 + [1] * len(pieces),
                     "tokenizer.ggml.scores": np.array([0] * 260 + [-1.0, -1.0, -2.0, -5.0, -1.0], np.float32)})
    ids = {t: i for i, t in enumerate(tokens + pieces)}
    assert tok.encode("ab", add_special=False) == [ids["ab"]]  # cost 2 either way: the longer wins
    assert tok.encode("abc") == [ids["ab"], ids["c"]]  # 3 beats 5
    assert tok.encode("\ufeffaé") == [ids["a"], ids["<0xC3>"], ids["<0xA9>"]]  # BOM dropped, é as bytes


def test_broken_vocabularies_are_gguf_errors():
    # a precompiled character map whose double array points outside itself
    charsmap = (8).to_bytes(4, "little") + (0xFFFFFC00).to_bytes(4, "little") * 2 + b"x\0"
    tok = Tokenizer({"tokenizer.ggml.model": "t5", "tokenizer.ggml.tokens": ["<pad>", "</s>", "<unk>", "a"],
                     "tokenizer.ggml.precompiled_charsmap": list(charsmap)})
    with pytest.raises(GGUFError, match="precompiled charsmap"):
        tok.encode("abc")
    with pytest.raises(GGUFError, match="lacks the byte token <0x00>"):
        Tokenizer({"tokenizer.ggml.model": "plamo2", "tokenizer.ggml.tokens": ["a", "b"]})
    # no unknown token: what llama.cpp would give -1 for gives nothing
    rwkv = Tokenizer({"tokenizer.ggml.model": "rwkv", "tokenizer.ggml.tokens": ["a", "b"]})
    assert rwkv.encode("abxa") == [0, 1, 0]
