"""Vocabulary-only GGUF files for tokenizer tests: written from token lists, copied from
another vocabulary file with some keys changed, or converted from a SentencePiece unigram
model (tokenizer.ggml.model "t5"). They carry small llama hyper-parameters so that llama.cpp
loads them with vocab_only."""

from __future__ import annotations

import gguf
import numpy as np

_HPARAMS = {"llama.block_count": 1, "llama.context_length": 64, "llama.embedding_length": 8,
            "llama.feed_forward_length": 8, "llama.attention.head_count": 1,
            "llama.attention.head_count_kv": 1, "llama.rope.dimension_count": 8}


def write_vocab(path, model: str, tokens: list, *, types=None, scores=None, merges=None, pre: str | None = None,
                ids: dict | None = None, flags: dict | None = None, charsmap: bytes | None = None,
                name: str = "vocab") -> str:
    """A vocabulary-only GGUF: tokenizer.ggml.model `model`, tokens (str or bytes), token
    types, scores, merges, tokenizer.ggml.pre, special ids ({"bos_token_id": 1, ...}),
    boolean flags ({"add_bos_token": False, ...}) and a precompiled character map."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    for k, v in _HPARAMS.items():
        w.add_uint32(k, v)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    if types is not None:
        w.add_token_types([int(t) for t in types])
    if scores is not None:
        w.add_token_scores([float(s) for s in scores])
    if merges is not None:
        w.add_token_merges(list(merges))
    for key, value in (ids or {}).items():
        w.add_uint32(f"tokenizer.ggml.{key}", int(value))
    for key, value in (flags or {}).items():
        w.add_bool(f"tokenizer.ggml.{key}", bool(value))
    if charsmap is not None:
        w.add_key_value("tokenizer.ggml.precompiled_charsmap", list(charsmap), gguf.GGUFValueType.ARRAY,
                        sub_type=gguf.GGUFValueType.UINT8)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


def copy_vocab(src, dst, set_: dict | None = None, drop: tuple = ()) -> str:
    """Copy a vocabulary-only GGUF's key/values, replacing the string or boolean values in
    `set_` (key -> value) and leaving out the keys in `drop`."""
    r = gguf.GGUFReader(str(src))
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(str(dst), arch)
    set_ = dict(set_ or {})
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in drop:
            continue
        vtype = field.types[0]
        if key in set_:
            value = set_.pop(key)
        elif vtype == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            if sub == gguf.GGUFValueType.STRING:
                value = [bytes(field.parts[i]) for i in field.data]
            else:
                value = [field.parts[i][0].item() for i in field.data]
            w.add_key_value(key, value, vtype, sub_type=sub)
            continue
        else:
            value = field.contents()
        w.add_key_value(key, value, vtype)
    for key, value in set_.items():
        w.add_key_value(key, value, gguf.GGUFValueType.BOOL if isinstance(value, bool) else gguf.GGUFValueType.STRING)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(dst)


# --- SentencePiece unigram models -> "t5" vocabularies ----------------------------------------

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _fields(buf: bytes):
    """(field number, wire type, value) of a serialized protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        else:
            raise ValueError(f"wire type {wire}")
        yield field, wire, value


def sentencepiece_unigram_vocab(model_proto: bytes, path) -> str:
    """A "t5" vocabulary GGUF from a serialized SentencePiece unigram model, as llama.cpp's
    converter writes one: pieces, scores, types, the precompiled character map and the
    normalizer's space flags."""
    tokens, scores, types = [], [], []
    charsmap = b""
    add_dummy_prefix, remove_extra = True, True
    ids = {}
    for field, _, value in _fields(model_proto):
        if field == 1:  # piece
            piece, score, typ = "", 0.0, 1
            for f, _, v in _fields(value):
                if f == 1:
                    piece = v.decode("utf-8")
                elif f == 2:
                    score = float(np.frombuffer(v, "<f4")[0])
                elif f == 3:
                    typ = v
            tokens.append(piece)
            scores.append(score)
            types.append(typ)
        elif field == 3:  # normalizer spec
            for f, _, v in _fields(value):
                if f == 2:
                    charsmap = v
                elif f == 3:
                    add_dummy_prefix = bool(v)
                elif f == 4:
                    remove_extra = bool(v)
        elif field == 2:  # trainer spec: special ids
            for f, _, v in _fields(value):
                if f == 40:
                    ids["unknown_token_id"] = v
                elif f == 41:
                    ids["bos_token_id"] = v
                elif f == 42:
                    ids["eos_token_id"] = v
                elif f == 43 and v < (1 << 63):
                    ids["padding_token_id"] = v
    return write_vocab(path, "t5", tokens, types=types, scores=scores, ids=ids, charsmap=charsmap or None,
                       flags={"add_space_prefix": add_dummy_prefix, "remove_extra_whitespaces": remove_extra,
                              "add_bos_token": False, "add_eos_token": True}, name="t5-unigram")


# --- synthetic vocabularies of the tokenizer models llama.cpp's test files do not cover ---------
#
# Each is a metadata mapping as Tokenizer takes it (synthetic_metadata) and, for llama.cpp, a
# GGUF file written from it (synthetic_vocab).

def _corpus_pieces(n: int) -> list[str]:
    """The n most frequent word prefixes of the calibration text shipped with pyggml."""
    import collections
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "pyggml" / "data" / "devils_dictionary_calib.txt").read_text(
        encoding="utf-8")[:200_000]
    counts = collections.Counter()
    for w in text.split():
        for k in range(2, min(len(w), 8) + 1):
            counts[w[:k]] += 1
    return [w for w, _ in counts.most_common(n)]


def _meta(model: str, tokens: list, types: list, **kv) -> dict:
    meta = {"general.architecture": "llama", "general.name": f"{model}-synthetic", "tokenizer.ggml.model": model,
            "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types}
    meta.update({f"tokenizer.ggml.{k}": v for k, v in kv.items()})
    return meta


def rwkv_metadata() -> dict:
    """An RWKV "world" vocabulary: <s>, the 256 bytes, frequent word prefixes and a few
    multi-byte pieces, written as llama.cpp's converter writes them (Python bytes reprs)."""
    pieces = [bytes([i]) for i in range(256)] + [w.encode() for w in _corpus_pieces(1500)]
    pieces += ["你好".encode(), "é".encode(), b"\xe4\xbd", b" the", b"\n\n", b"\\n", b"'s"]
    pieces = list(dict.fromkeys(pieces))
    tokens = ["<s>"] + [repr(p)[2:-1] for p in pieces]
    return _meta("rwkv", tokens, [3] + [1] * len(pieces))


def plamo2_metadata() -> dict:
    """A PLaMo-2 vocabulary: its special tokens, the 256 byte tokens, then scored pieces."""
    import random

    rnd = random.Random(1)
    tokens = ["<|plamo:unk|>", "<|plamo:bos|>", "<|plamo:eos|>", "<|plamo:pad|>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3, 3] + [6] * 256
    common = _corpus_pieces(1500)
    pieces = list(dict.fromkeys(common + [" " + w for w in common[:500]] + list("abcdefghijklmnopqrstuvwxyz ") +
                                ["你", "好", "你好", "\u2581", "é", "\n", "</s>"]))
    scores = [0.0] * len(tokens) + [-rnd.uniform(1, 12) for _ in pieces]
    return _meta("plamo2", tokens + pieces, types + [1] * len(pieces), scores=scores)


def dna_metadata(gpt2: dict) -> dict:
    """A hybriddna vocabulary: GPT-2's, then <dna>, </dna>, <oov> and DNA 6-mers (with the
    marker suffix llama.cpp's vocabulary gives them)."""
    import random

    rnd = random.Random(3)
    kmers = sorted({"".join(rnd.choice("ACGT") for _ in range(6)) for _ in range(600)} | {"AAAAAA", "CCCCCC"})
    tokens = list(gpt2["tokenizer.ggml.tokens"]) + ["<dna>", "</dna>", "<oov>"] + [k + "\ue000" for k in kmers]
    types = list(gpt2["tokenizer.ggml.token_type"]) + [3, 3, 3] + [1] * len(kmers)
    return _meta("hybriddna", tokens, types, merges=gpt2["tokenizer.ggml.merges"], pre="gpt-2",
                 bos_token_id=50256, eos_token_id=50256)


def dna_texts(seed: int, n: int) -> list[str]:
    import random

    rnd = random.Random(seed)
    return ["<dna>" + "".join(rnd.choice("ACGTacgtN") for _ in range(rnd.randint(0, 40))) +
            ("</dna>" if rnd.random() < 0.7 else "") + rnd.choice(["", " x", "Hello <dna>AC", "é<dna>gg"])
            for _ in range(n)]


_GPT2: dict = {}


def _gpt2(llama_vocabs) -> dict:
    from pyggml.text.tokenizer import read_tokenizer_metadata

    key = str(llama_vocabs)
    if key not in _GPT2:
        _GPT2[key] = read_tokenizer_metadata(f"{llama_vocabs}/ggml-vocab-gpt-2.gguf")
    return _GPT2[key]


def synthetic_metadata(name: str, llama_vocabs) -> dict:
    """The metadata of the synthetic vocabulary `name`: rwkv, plamo2, hybriddna, whitespace,
    test, or pre:NAME (GPT-2's vocabulary with pre-tokenizer NAME); all but the first two
    are built on llama.cpp's GPT-2 vocabulary from the folder llama_vocabs."""
    if name == "rwkv":
        return rwkv_metadata()
    if name == "plamo2":
        return plamo2_metadata()
    gpt2 = _gpt2(llama_vocabs)
    if name == "hybriddna":
        return dna_metadata(gpt2)
    if name == "whitespace":
        return {**gpt2, "tokenizer.ggml.model": "whitespace", "tokenizer.ggml.pre": "whitespace"}
    if name == "test":
        return {**gpt2, "tokenizer.ggml.model": "test"}
    if name.startswith("pre:"):
        return {**gpt2, "tokenizer.ggml.pre": name[4:]}
    raise ValueError(name)


def write_metadata(path, meta: dict) -> str:
    """A vocabulary-only GGUF holding a tokenizer metadata mapping (as synthetic_metadata gives)."""
    g = "tokenizer.ggml."
    ids = {k[len(g):]: v for k, v in meta.items() if k.startswith(g) and k.endswith("_token_id")}
    flags = {k[len(g):]: v for k, v in meta.items() if k.startswith(g) and isinstance(v, bool)}
    return write_vocab(path, meta[g + "model"], meta[g + "tokens"], types=meta.get(g + "token_type"),
                       scores=meta.get(g + "scores"), merges=meta.get(g + "merges"), pre=meta.get(g + "pre"),
                       ids=ids, flags=flags, name=meta.get("general.name", "vocab"))


def synthetic_vocab(name: str, llama_vocabs, path) -> str:
    """synthetic_metadata(name) written to a GGUF at `path`."""
    return write_metadata(path, synthetic_metadata(name, llama_vocabs))


SYNTHETIC = ("rwkv", "plamo2", "hybriddna", "whitespace", "test")
