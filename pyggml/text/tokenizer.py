"""Tokenizers built from GGUF metadata alone, matching llama.cpp token for token.

tokenizer.ggml.model names the tokenizer model; TOKENIZER_MODELS lists every one llama.cpp
knows, with its default special tokens and flags:

  llama       SentencePiece: spaces become U+2581, the text is merged bigram by bigram in
              order of token score (llama.cpp's llm_tokenizer_spm, in C++: _core.SpmVocab),
              symbols that are not tokens fall back to <0xXX> byte tokens.
  gpt2        byte-level BPE: the text is split by the pre-tokenizer named by
              tokenizer.ggml.pre (pretokenizer.py lists them all, with the flags each sets),
              every word is byte-encoded and merged by merge rank.
  gemma4      BPE over SentencePiece-style text (spaces as U+2581, raw UTF-8, <0xXX> fallback).
  hybriddna,  BPE with DNA k-mers between <dna> and </dna>; BPE of the text between white
  whitespace  space, lowercased if the GGUF says so.
  bert        WordPiece (vocab_models.WordPiece).
  t5          Unigram, SentencePiece's Viterbi with its precompiled character map (vocab_models.Unigram).
  rwkv        greedy longest match over bytes (vocab_models.Rwkv).
  plamo2      PLaMo-2's Viterbi with byte fallback (vocab_models.Plamo2).
  test        llama.cpp's test vocabulary (ids from a hash of every five bytes).

Special tokens (control, user-defined, unknown) are cut out of the text first, as llama.cpp
does: control and unknown ones only when parse_special is on. Token attributes, the
end-of-generation set and the other special tokens follow llama.cpp's load, including its
detection by token text.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import heapq
import itertools
import os
import re
from collections.abc import Mapping
from typing import Any, Iterable

import numpy as np

from .. import _core
from ..errors import GGUFError, show_value
from . import unicode as uc
from . import vocab_models
from .pretokenizer import PRE_TOKENIZERS, PreTokenizer, PreTokenizerSpec, spec_for

# Token attributes (llama.cpp's llama_token_attr bits).
ATTR_UNKNOWN, ATTR_UNUSED, ATTR_NORMAL, ATTR_CONTROL = 1, 2, 4, 8
ATTR_USER_DEFINED, ATTR_BYTE = 16, 32
ATTR_NORMALIZED, ATTR_LSTRIP, ATTR_RSTRIP, ATTR_SINGLE_WORD = 64, 128, 256, 512
# tokenizer.ggml.token_type values -> attribute.
_TYPE_TO_ATTR = {1: ATTR_NORMAL, 2: ATTR_UNKNOWN, 3: ATTR_CONTROL, 4: ATTR_USER_DEFINED,
                 5: ATTR_UNUSED, 6: ATTR_BYTE}

_SPACE = "\u2581"  # SentencePiece's escaped space


# ---------------------------------------------------------------------------------
# Tokenizer models

@dataclasses.dataclass(frozen=True)
class TokenizerModel:
    """What llama.cpp does for one tokenizer.ggml.model value."""

    kind: str                     # spm, bpe, wpm, ugm, rwkv, plamo2, test
    description: str
    special: Mapping[str, int]    # default special token ids (-1: none)
    add_space_prefix: bool = False
    add_bos: bool = False
    add_eos: bool = False
    add_sep: bool = False
    clean_spaces: bool = False
    pre: str | None = None        # pre-tokenizer the model always uses


def _ids(bos=-1, eos=-1, unk=-1, sep=-1, pad=-1, mask=-1) -> dict[str, int]:
    return dict(bos=bos, eos=eos, unk=unk, sep=sep, pad=pad, mask=mask)


_BPE = dict(kind="bpe", special=_ids(bos=11, eos=11), clean_spaces=True)

# tokenizer.ggml.model -> what llama.cpp does (llama_vocab::impl::load).
TOKENIZER_MODELS: dict[str, TokenizerModel] = {
    "llama": TokenizerModel("spm", "SentencePiece", _ids(bos=1, eos=2, unk=0), add_space_prefix=True, add_bos=True),
    "gpt2": TokenizerModel(description="byte-level BPE", **_BPE),
    "hybriddna": TokenizerModel(description="byte-level BPE with DNA k-mers", **_BPE),
    "whitespace": TokenizerModel(description="BPE of white-space separated words", **_BPE),
    "gemma4": TokenizerModel("bpe", "BPE over SentencePiece-style text (Gemma 4)", _ids(), clean_spaces=True,
                             pre="gemma4"),
    "bert": TokenizerModel("wpm", "WordPiece", _ids(bos=101, unk=100, sep=102, pad=0, mask=103), add_bos=True,
                           add_sep=True, clean_spaces=True),
    "t5": TokenizerModel("ugm", "Unigram (SentencePiece)", _ids(eos=1, unk=2, pad=0), add_eos=True),
    "rwkv": TokenizerModel("rwkv", "RWKV (greedy longest match)", _ids()),
    "plamo2": TokenizerModel("plamo2", "PLaMo-2 (Viterbi with byte fallback)", _ids(bos=1, eos=2, unk=0, pad=3)),
    "test": TokenizerModel("test", "llama.cpp's test vocabulary", _ids()),
}
_NO_VOCAB = ("no_vocab", "none")


def supported_models() -> str:
    return ", ".join(f"{name} ({m.description})" for name, m in TOKENIZER_MODELS.items())


def describe(model: Any, pre: Any) -> dict[str, Any]:
    """What a GGUF's tokenizer.ggml.model and tokenizer.ggml.pre mean, as `pyggml info` shows
    them: the model's kind, and the pre-tokenizer llama.cpp runs (None where the model splits
    no words with one)."""
    spec = TOKENIZER_MODELS.get(model) if isinstance(model, str) else None
    out: dict[str, Any] = {"model_description": spec.description if spec else None, "supported": spec is not None,
                           "pre_tokenizer": None, "pre_tokenizer_from": None}
    if spec is not None and spec.kind == "bpe":
        if spec.pre:
            out["pre_tokenizer"], out["pre_tokenizer_from"] = spec.pre, "tokenizer.ggml.model"
        elif isinstance(pre, str) and pre:
            out["pre_tokenizer"], out["pre_tokenizer_from"] = pre, "tokenizer.ggml.pre"
        else:
            out["pre_tokenizer"], out["pre_tokenizer_from"] = "default", "default"
        if out["pre_tokenizer"] not in PRE_TOKENIZERS:
            out["supported"] = False
    return out


# Texts llama.cpp recognises as special tokens (llama_vocab::impl::load), in the order it
# tries them; they become control tokens.
_EOT_TEXTS = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
              "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
              "<end_of_utterance>"]
_EOM_TEXTS = ["<|eom_id|>"]
_FIM_TEXTS = {
    "fim_pre": ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                "<|code_prefix|>", "<|prefix|>"],
    "fim_suf": ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                "<|code_suffix|>", "<|suffix|>"],
    "fim_mid": ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                "<|code_middle|>", "<|middle|>"],
    "fim_pad": ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    "fim_rep": ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
    "fim_sep": ["<|file_sep|>"],
}
_EOG_TEXTS = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
              "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
              "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
              "<｜end▁of▁sentence｜>", "[e~["]
_ALWAYS_USER_DEFINED = ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>")  # gpt-oss
# GGUF key suffix (tokenizer.ggml.<key>) -> special token; later keys win (deprecated FIM names last).
_SPECIAL_KEYS = [("bos_token_id", "bos"), ("eos_token_id", "eos"), ("eot_token_id", "eot"),
                 ("eom_token_id", "eom"), ("unknown_token_id", "unk"), ("seperator_token_id", "sep"),
                 ("padding_token_id", "pad"), ("mask_token_id", "mask"),
                 ("fim_pre_token_id", "fim_pre"), ("fim_suf_token_id", "fim_suf"),
                 ("fim_mid_token_id", "fim_mid"), ("fim_pad_token_id", "fim_pad"),
                 ("fim_rep_token_id", "fim_rep"), ("fim_sep_token_id", "fim_sep"),
                 ("prefix_token_id", "fim_pre"), ("suffix_token_id", "fim_suf"), ("middle_token_id", "fim_mid")]
# hybriddna: k-mer tokens carry this suffix in the vocabulary, not in their text.
_DNA_KMER_MARKER = "\ue000"


# ---------------------------------------------------------------------------------
# Metadata

_ARRAY, _STRING = 9, 8


def read_tokenizer_metadata(source: Any) -> dict[str, Any]:
    """The tokenizer.* and general.* key/values of a GGUF, as plain Python values.

    `source` is a path (read with pyggml.GGUFFile), a pyggml.GGUFFile or anything
    with a `.metadata` mapping, a gguf.GGUFReader (anything with `.fields`), or a
    mapping of key -> value.
    """
    if isinstance(source, (str, os.PathLike)):
        from ..formats.gguf_file import GGUFFile

        with GGUFFile(source) as f:
            return {k: v for k, v in f.metadata.items() if _wanted(k)}
    fields = getattr(source, "fields", None)
    if fields is not None:
        return {k: _field_value(f) for k, f in fields.items() if _wanted(k)}
    meta = getattr(source, "metadata", source)
    if isinstance(meta, Mapping):
        return {k: v for k, v in meta.items() if _wanted(k)}
    raise TypeError(f"cannot read tokenizer metadata from {type(source).__name__}")


def _wanted(key: str) -> bool:
    return key.startswith("tokenizer.") or key.startswith("general.")


def _field_value(field: Any) -> Any:
    """Value of a gguf.ReaderField (types[0] is the value type, data indexes parts)."""
    if field.types and field.types[0] == _ARRAY:
        if field.types[-1] == _STRING:
            return [bytes(field.parts[i]).decode("utf-8", "surrogateescape") for i in field.data]
        return [field.parts[i][0].item() for i in field.data]
    return field.contents()


def _checked_metadata(meta: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """`meta` after checking the type of every tokenizer key the Tokenizer reads; a
    GGUFError names the file, the key, the value and what was expected."""

    def fail(key: str, value: Any, expected: str) -> GGUFError:
        return GGUFError(name, f"{key} = {show_value(value)}: expected {expected}")

    arrays = (list, tuple, np.ndarray)

    def string_list(key: str) -> None:
        value = meta.get(key)
        if value is not None and (not isinstance(value, arrays) or
                                  not all(issubclass(t, str) for t in set(map(type, value)))):
            raise fail(key, value, "an array of strings")

    def number_list(key: str, kinds: str, expected: str) -> None:
        value = meta.get(key)
        if value is None:
            return
        arr = None
        if isinstance(value, arrays):
            try:
                arr = np.asarray(value)
            except (ValueError, TypeError, OverflowError):
                arr = None
        if arr is None or arr.ndim != 1 or (arr.size and arr.dtype.kind not in kinds):
            raise fail(key, value, expected)
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            i = int(np.flatnonzero(np.isnan(arr))[0])
            raise GGUFError(name, f"{key}[{i}] is NaN: expected {expected}")
        if arr.dtype.kind in "iu" and arr.size and (arr.min() < -(2**31) or arr.max() >= 2**31):
            raise fail(key, value, expected)

    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.chat_template"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise fail(key, value, "a string")
    string_list("tokenizer.ggml.tokens")
    string_list("tokenizer.ggml.merges")
    number_list("tokenizer.ggml.scores", "fiu", "an array of numbers (one score per token)")
    number_list("tokenizer.ggml.token_type", "iu", "an array of 32-bit integers (one token type per token)")
    for key, value in meta.items():
        if not key.startswith("tokenizer.ggml."):
            continue
        if key.endswith("_token_id") and (isinstance(value, bool) or not isinstance(value, int)):
            raise fail(key, value, "an integer token id")
        if key in _BOOLEAN_KEYS and not isinstance(value, (bool, int)):
            raise fail(key, value, "a boolean")
    number_list("tokenizer.ggml.precompiled_charsmap", "iu", "an array of bytes")
    return meta


_BOOLEAN_KEYS = {f"tokenizer.ggml.{k}" for k in (
    "add_bos_token", "add_eos_token", "add_sep_token", "add_space_prefix", "remove_extra_whitespaces",
    "normalizer.lowercase", "normalizer.strip_accents")}


# ---------------------------------------------------------------------------------
# Tokenizer

class Tokenizer:
    """Encode text to token ids and back, exactly as llama.cpp does for the GGUF."""

    def __init__(self, meta: Mapping[str, Any], name: str = "<metadata>"):
        self.name = name
        meta = _checked_metadata(meta, name)
        model = meta.get("tokenizer.ggml.model")
        if model is None:
            raise GGUFError(name, "tokenizer.ggml.model is missing: the file names no tokenizer")
        self.model = str(model)
        if self.model in _NO_VOCAB:
            raise GGUFError(name, f"the file has no vocabulary (tokenizer.ggml.model = {self.model!r})")
        spec = TOKENIZER_MODELS.get(self.model)
        if spec is None:
            raise GGUFError(name, f"unknown tokenizer model {self.model!r} (tokenizer.ggml.model); "
                                  f"pyggml supports {supported_models()}")
        self.kind = spec.kind
        tokens = meta.get("tokenizer.ggml.tokens")
        if tokens is None or len(tokens) == 0:
            raise GGUFError(name, "tokenizer.ggml.tokens is missing")
        n = len(tokens)

        # flags: the model's defaults, then the pre-tokenizer's (BPE), then the GGUF's keys
        self.add_space_prefix = spec.add_space_prefix
        self.add_bos, self.add_eos, self.add_sep = spec.add_bos, spec.add_eos, spec.add_sep
        self.clean_spaces = spec.clean_spaces
        self.escape_whitespaces = True
        self.treat_whitespace_as_suffix = False
        self.ignore_merges = False
        ids = dict(spec.special)
        self.pre = "default"
        self.pre_spec: PreTokenizerSpec | None = None
        if self.kind == "bpe":
            self.pre = spec.pre or str(meta.get("tokenizer.ggml.pre") or "default")
            try:
                self.pre_spec = spec_for(self.pre)
            except ValueError as e:
                raise GGUFError(name, str(e)) from None
            p = self.pre_spec
            self.escape_whitespaces = p.escape_whitespaces
            self.clean_spaces = p.clean_spaces
            self.ignore_merges = p.ignore_merges
            self.add_bos, self.add_sep = p.add_bos, p.add_sep
            if p.no_bos:
                ids["bos"] = -1
        self.add_space_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", self.add_space_prefix))
        self.remove_extra_whitespaces = bool(meta.get("tokenizer.ggml.remove_extra_whitespaces", False))

        self.tokens: list[str] = list(tokens)
        if not all(self.tokens):
            self.tokens = [t if t else f"[EMPTY_{i}]" for i, t in enumerate(self.tokens)]
        self.token_to_id: dict[str, int] = dict(zip(self.tokens, range(n)))
        if len(self.token_to_id) != n:
            dup = next(t for i, t in enumerate(self.tokens) if self.token_to_id[t] != i)
            raise GGUFError(name, f"duplicate token {dup!r} in vocabulary")
        if self.model == "hybriddna":  # k-mers: found with the marker, spelled without it
            oov = self.token_to_id.get("<oov>")
            if oov is not None:
                m = len(_DNA_KMER_MARKER)
                self.tokens[oov + 1:] = [t[:-m] if len(t) > m and t.endswith(_DNA_KMER_MARKER) else t
                                         for t in self.tokens[oov + 1:]]
        scores = meta.get("tokenizer.ggml.scores")
        with np.errstate(over="ignore"):  # scores beyond float32 become infinite, as in llama.cpp
            self.scores = np.zeros(n, np.float32) if scores is None else np.asarray(scores[:n], np.float32)
        types = meta.get("tokenizer.ggml.token_type")
        types = np.ones(n, np.int64) if types is None else np.asarray(types[:n], np.int64)
        if len(self.scores) < n or len(types) < n:
            raise GGUFError(name, f"tokenizer.ggml.scores or tokenizer.ggml.token_type has fewer entries than the "
                                  f"{n} tokens of tokenizer.ggml.tokens")
        lut = np.zeros(8, np.int32)
        for t, attr in _TYPE_TO_ATTR.items():
            lut[t] = attr
        self.attrs = lut[np.where((types >= 0) & (types < 8), types, 0)]

        arch = meta.get("general.architecture")
        self.architecture = arch if isinstance(arch, str) else None
        self.chat_template: str | None = meta.get("tokenizer.chat_template")

        # special tokens: defaults outside the vocabulary are dropped, GGUF ids outside it ignored
        for k in ("eot", "eom", *_FIM_TEXTS):
            ids.setdefault(k, -1)
        ids = {k: (v if v < n else -1) for k, v in ids.items()}
        for key, k in _SPECIAL_KEYS:
            v = meta.get(f"tokenizer.ggml.{key}")
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < n:
                ids[k] = int(v)
        self.add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", self.add_bos))
        self.add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", self.add_eos))
        self.add_sep = bool(meta.get("tokenizer.ggml.add_sep_token", self.add_sep))
        if self.pre_spec is not None and self.pre_spec.gemma4_fixes:
            self.add_bos = True  # llama.cpp turns add_bos on for Gemma 4 whatever the file says
        self.lowercase = bool(meta.get("tokenizer.ggml.normalizer.lowercase", self.pre != "whitespace"))
        self.strip_accents = bool(meta.get("tokenizer.ggml.normalizer.strip_accents", self.lowercase))
        self._detect_special(ids)
        self.bos_id, self.eos_id, self.eot_id = ids["bos"], ids["eos"], ids["eot"]
        self.unk_id, self.pad_id, self.sep_id = ids["unk"], ids["pad"], ids["sep"]
        self.special_ids = ids

        special = np.flatnonzero(self.attrs & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))
        # Longest first, as llama.cpp partitions the text.
        self._special = sorted(special.tolist(), key=lambda i: -len(self.tokens[i].encode("utf-8", "surrogateescape")))
        self._set_token_attributes(meta)
        self._special_rx = {flag: self._special_regex(flag) for flag in (False, True)}
        self._overlap_cache: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        self._special_texts: dict[str, list[str]] = {}

        self._pieces: list[bytes | None] = [None] * n
        self._piece_tables: dict[bool, list[bytes | None]] = {False: [None] * n, True: [None] * n}
        self._native: Any = None  # C++ SentencePiece vocabulary, built lazily
        self._encoder: Any = None
        try:
            if self.kind == "spm":
                self._byte_tokens = [self._spm_byte_token(b) for b in range(256)]
            elif self.kind == "bpe":
                self._init_bpe(meta)
            elif self.kind == "wpm":
                self._encoder = vocab_models.WordPiece(self, self.lowercase, self.strip_accents)
            elif self.kind == "ugm":
                charsmap = meta.get("tokenizer.ggml.precompiled_charsmap")
                blob = None if charsmap is None else (np.asarray(charsmap, np.int64) & 0xFF).astype(np.uint8).tobytes()
                self._encoder = vocab_models.Unigram(self, blob)
            elif self.kind == "rwkv":
                self._encoder = vocab_models.Rwkv(self)
            elif self.kind == "plamo2":
                self._encoder = vocab_models.Plamo2(self)
            else:
                self._encoder = vocab_models.TestVocab(self)
        except ValueError as e:
            raise GGUFError(name, str(e)) from None

    # -- construction helpers -----------------------------------------------------

    @classmethod
    def from_gguf(cls, source: Any) -> "Tokenizer":
        """Build from a GGUF path, a gguf.GGUFReader or a metadata mapping."""
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "path", "<metadata>")
        return cls(read_tokenizer_metadata(source), name=str(name))

    def _detect_special(self, ids: dict[str, int]) -> None:
        """llama.cpp's text-based detection of EOT/EOM/FIM/EOG tokens (they become control),
        its unused-token marking and its fixes for gpt-oss, Solar-Open, Gemma 4 and PLaMo."""
        by_text = self.token_to_id

        def force_control(i: int) -> None:
            self.attrs[i] |= ATTR_CONTROL

        for key, texts in (("eot", _EOT_TEXTS), ("eom", _EOM_TEXTS), *_FIM_TEXTS.items()):
            if ids[key] < 0:
                for t in texts:
                    if t in by_text:
                        ids[key] = by_text[t]
                        force_control(ids[key])
                        break
        control = (self.attrs & ATTR_CONTROL) != 0
        for i in np.flatnonzero(control & ((self.attrs & ATTR_UNUSED) == 0)).tolist():
            if "unused" in self.tokens[i]:
                self.attrs[i] |= ATTR_UNUSED
        eog = [ids[k] for k in ("fim_pad", "fim_rep", "fim_sep") if ids[k] >= 0]
        for t in _EOG_TEXTS:
            i = by_text.get(t)
            if i is not None:
                eog.append(i)
                force_control(i)
        for t in _ALWAYS_USER_DEFINED:
            if t in by_text:
                self.attrs[by_text[t]] = ATTR_USER_DEFINED
        eog.extend(ids[k] for k in ("eos", "eot", "eom") if ids[k] >= 0)
        eog_set = set(eog)
        texts = {self.tokens[i]: i for i in eog_set}
        if "<|end|>" in texts and (("<|return|>" in texts and ("<|call|>" in texts or "<|calls|>" in texts)) or
                                   (("<|call|>" in texts or "<|calls|>" in texts) and "<|flush|>" in texts)):
            end = texts["<|end|>"]  # gpt-oss / Solar-Open: <|end|> ends a message, not the generation
            eog_set.discard(end)
            self.attrs[end] = ATTR_USER_DEFINED
        if "</s>" in texts and ("<|tool_response>" in texts or "<|plamo:eos|>" in texts):
            s = texts["</s>"]  # Gemma 4 and PLaMo: </s> is a normal token
            eog_set.discard(s)
            self.attrs[s] = ATTR_NORMAL
        self.eog_ids = frozenset(eog_set)

    def _set_token_attributes(self, meta: Mapping[str, Any]) -> None:
        """llama.cpp's per-model token attributes: strip white space around some tokens."""
        by_text = self.token_to_id
        name = str(meta.get("general.name") or "").lower()
        pre = str(meta.get("tokenizer.ggml.pre") or "")

        def set_attr(text: str, attr: int, on: bool) -> None:
            i = by_text.get(text)
            if i is not None:
                self.attrs[i] = (self.attrs[i] | attr) if on else (self.attrs[i] & ~attr)

        if (any(p in pre for p in ("jina-v2-de", "jina-v2-es", "jina-v2-code")) or
                any(a in (self.architecture or "") for a in ("nomic-bert-moe", "jina-bert-v3"))):
            set_attr("<mask>", ATTR_LSTRIP, True)
        elif "phi-3" in name or "phi3" in name:
            for i in self._special:
                self.attrs[i] |= ATTR_RSTRIP
            set_attr("</s>", ATTR_RSTRIP, True)
            for t in ("<unk>", "<s>", "<|endoftext|>"):
                set_attr(t, ATTR_RSTRIP, False)
        elif "modern-bert" in name:
            set_attr("[MASK]", ATTR_LSTRIP, True)

    def _special_regex(self, parse_special: bool) -> tuple[re.Pattern | None, list[int]]:
        """(regex matching the longest special token at a position, ids in cut order)."""
        skip = 0 if parse_special else (ATTR_CONTROL | ATTR_UNKNOWN)
        ids = [i for i in self._special if not (self.attrs[i] & skip)]
        if not ids:
            return None, []
        return _longest_match_regex([self.tokens[i] for i in ids]), ids

    def _spm_byte_token(self, b: int) -> int:
        i = self.token_to_id.get(f"<0x{b:02X}>")
        if i is None:
            i = self.token_to_id.get(bytes([b]).decode("utf-8", "surrogateescape"), self.unk_id)
        return i

    def _init_bpe(self, meta: Mapping[str, Any]) -> None:
        merges = meta.get("tokenizer.ggml.merges")
        if merges is None:
            if self.pre != "kimi-k2":  # Kimi-K2 has no merges
                raise GGUFError(self.name, "tokenizer.ggml.merges is missing")
            merges = []
        self.ranks: dict[tuple[str, str], int] = {}
        for rank, m in enumerate(merges):
            sp = m.find(" ", 1)
            pair = (m[:sp], m[sp + 1:]) if sp >= 0 else ("", "")
            self.ranks.setdefault(pair, rank)
        self._pretok = PreTokenizer(self.pre)
        self._byte_encode = self.pre_spec.byte_encode
        self._gemma4_fixes = self.pre_spec.gemma4_fixes
        table = bytes_to_unicode()
        self._byte_encoder = str.maketrans({b: ord(c) for b, c in table.items()})
        self._byte_decoder = {c: b for b, c in table.items()}
        self._word_cache: dict[str, list[int]] = {}

    # -- properties ---------------------------------------------------------------

    @property
    def n_vocab(self) -> int:
        return len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def is_eog(self, token: int) -> bool:
        return token in self.eog_ids

    def is_control(self, token: int) -> bool:
        return bool(self.attrs[token] & ATTR_CONTROL)

    # -- encode -------------------------------------------------------------------

    def encode(self, text: str | bytes, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """Token ids of `text` (llama_tokenize semantics).

        add_special adds BOS/EOS (BERT: CLS/SEP) as the vocabulary asks; parse_special lets
        control tokens written in the text (e.g. "<start_of_turn>") become their ids. Bytes
        that are not UTF-8 are kept for the byte-level tokenizers (SentencePiece, RWKV,
        Unigram's normalizer) and are U+FFFD, one per byte, for the others, as in llama.cpp.
        """
        if isinstance(text, bytes):
            text = text.decode("utf-8", "surrogateescape")
        out: list[int] = []
        kind = self.kind
        if add_special and (self.add_bos or kind == "wpm") and self.bos_id >= 0 and kind not in ("rwkv", "plamo2", "test"):
            out.append(self.bos_id)
        fragments = self._partition(text, parse_special) if text else []
        if kind == "spm":
            prev_special = True
            for frag in fragments:
                if isinstance(frag, int):
                    out.append(frag)
                    prev_special = True
                else:
                    if self.add_space_prefix and prev_special:
                        frag = " " + frag
                    self._spm_encode(frag.replace(" ", _SPACE), out)
                    prev_special = False
        elif kind == "bpe":
            for frag in fragments:
                if isinstance(frag, int):
                    out.append(frag)
                else:
                    if self.escape_whitespaces:
                        frag = frag.replace(" ", _SPACE)
                    self._bpe_session(frag, out)
        else:
            encode = self._encoder.encode
            for frag in fragments:
                if isinstance(frag, int):
                    out.append(frag)
                else:
                    try:
                        encode(frag, out)
                    except vocab_models.VocabError as e:
                        raise GGUFError(self.name, str(e)) from None
        if add_special:
            if kind == "wpm":
                if self.sep_id >= 0:
                    out.append(self.sep_id)
            elif self.add_eos and self.eos_id >= 0 and kind not in ("rwkv", "plamo2", "test"):
                out.append(self.eos_id)
        return out

    def _partition(self, text: str, parse_special: bool) -> list[str | int]:
        """Cut special tokens out of the text as llama.cpp does: one token at a time,
        longest first, each splitting every text fragment at its leftmost matches.

        Cut-out text is overwritten with a sentinel character that no token contains,
        so str.split on the whole masked text splits every fragment at once.
        """
        rx, ids = self._special_rx[parse_special]
        if rx is None:
            return [text]
        present = self._present_specials(text, rx)
        if not present:
            return [text]
        mark = _sentinel(text, present)
        ws = " \t\n\v\f\r"
        masked = text
        cut: list[tuple[int, int]] = []  # (position, token id)
        for i in ids:
            tok = self.tokens[i]
            if tok not in present or tok not in masked:
                continue
            m = len(tok)
            pieces = masked.split(tok)
            lstrip, rstrip = self.attrs[i] & ATTR_LSTRIP, self.attrs[i] & ATTR_RSTRIP
            pos = 0
            for k in range(len(pieces) - 1):
                piece = pieces[k]
                if lstrip:  # whitespace left of the token goes too
                    kept = piece.rstrip(ws)
                    piece = kept + mark * (len(piece) - len(kept))
                if rstrip and k > 0:
                    kept = piece.lstrip(ws)
                    piece = mark * (len(piece) - len(kept)) + kept
                pieces[k] = piece
                pos += len(piece)
                cut.append((pos, i))
                pos += m
            if rstrip:
                kept = pieces[-1].lstrip(ws)
                pieces[-1] = mark * (len(pieces[-1]) - len(kept)) + kept
            masked = (mark * m).join(pieces)
        frags: list[tuple[int, str | int]] = [
            (mt.start(), text[mt.start():mt.end()]) for mt in re.finditer(f"[^{mark}]+", masked)]
        frags.extend(cut)
        frags.sort(key=lambda f: f[0])
        return [f for _, f in frags]

    def _present_specials(self, text: str, rx: re.Pattern) -> set[str]:
        """Every special token text that occurs in `text`, overlapping ones included.

        A regex scan finds non-overlapping longest matches L. Any other occurring
        token lies inside some L or starts inside one and runs past its end; the
        latter are checked with a plain substring search.
        """
        found: set[str] = set()
        for longest in set(rx.findall(text)):
            inside, crossing = self._overlaps(rx, longest)
            found.update(inside)
            found.update(t for t in crossing if t in text)
        return found

    def _overlaps(self, rx: re.Pattern, longest: str) -> tuple[list[str], list[str]]:
        """Special tokens inside `longest`, and those starting inside it that are longer."""
        key = (rx.pattern, longest)
        hit = self._overlap_cache.get(key)
        if hit is not None:
            return hit
        texts = self._sorted_special_texts(rx)
        names = set(texts)
        n = len(longest)
        inside = {longest[a:b] for a in range(n) for b in range(a + 1, n + 1) if longest[a:b] in names}
        crossing = set()
        for j in range(1, n):
            suffix = longest[j:]
            k = bisect.bisect_left(texts, suffix)
            while k < len(texts) and texts[k].startswith(suffix):
                if len(texts[k]) > len(suffix):
                    crossing.add(texts[k])
                k += 1
        hit = (sorted(inside), sorted(crossing - inside))
        self._overlap_cache[key] = hit
        return hit

    def _sorted_special_texts(self, rx: re.Pattern) -> list[str]:
        """Texts of the special tokens `rx` matches, sorted (for prefix searches)."""
        texts = self._special_texts.get(rx.pattern)
        if texts is None:
            ids = next(ids for pattern, ids in self._special_rx.values() if pattern is rx)
            texts = sorted(self.tokens[i] for i in ids)
            self._special_texts[rx.pattern] = texts
        return texts

    def _spm_encode(self, text: str, out: list[int]) -> None:
        if self._native is None:  # the C++ merge loop (pyggml._core.SpmVocab), built on first use
            self._native = _core.SpmVocab([t.encode("utf-8", "surrogateescape") for t in self.tokens],
                                          self.scores, np.asarray(self._byte_tokens, np.int32))
        out.extend(self._native.encode(vocab_models.utf8(text)).tolist())

    # SentencePiece (llama.cpp llm_tokenizer_spm): merge the best-scoring bigram first.
    # Reference implementation of the C++ one _spm_encode runs (cpp/text/tokenizer_spm.cpp); the tests
    # check they agree.
    def _spm_encode_py(self, text: str, out: list[int]) -> None:
        if not text:
            return
        vocab = self.token_to_id
        scores = self.scores
        sym = list(text)                   # symbol text; "" once merged away
        nxt = list(range(1, len(sym) + 1))
        nxt[-1] = -1
        prv = list(range(-1, len(sym) - 1))
        heap: list[tuple[float, int, int, int]] = []

        def add(left: int, right: int) -> None:
            if left < 0 or right < 0:
                return
            t = sym[left] + sym[right]
            tid = vocab.get(t)
            if tid is not None:
                heapq.heappush(heap, (-float(scores[tid]), left, right, len(t)))

        for i in range(1, len(sym)):
            add(i - 1, i)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            a, b = sym[left], sym[right]
            if not a or not b or len(a) + len(b) != size:
                continue
            sym[left] = a + b
            sym[right] = ""
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prv[nxt[right]] = left
            add(prv[left], left)
            add(left, nxt[left])
        i = 0
        while i != -1:
            t = sym[i]
            tid = vocab.get(t)
            if tid is not None:
                out.append(tid)
            else:
                out.extend(self._byte_tokens[b] for b in t.encode("utf-8", "surrogatepass"))
            i = nxt[i]

    # BPE (llama.cpp's llm_tokenizer_bpe_session and its hybriddna / whitespace variants)
    def _bpe_session(self, text: str, out: list[int]) -> None:
        if self.model == "whitespace":
            self._whitespace_session(text, out)
        elif self.model == "hybriddna":
            self._dna_session(text, out)
        else:
            self._bpe_encode(text, out)

    def _whitespace_session(self, text: str, out: list[int]) -> None:
        """BPE of every white-space separated word, lowercased if the GGUF says so."""
        text = vocab_models.codepoint_text(text)
        if self.lowercase:
            text = text.translate(uc.lowercase_map())
        flags = uc.flags()
        start = None
        for i, ch in enumerate(text):
            if flags[ord(ch)] & uc.WHITESPACE:
                if start is not None:
                    self._bpe_encode(text[start:i], out)
                    start = None
            elif start is None:
                start = i
        if start is not None:
            self._bpe_encode(text[start:], out)

    def _dna_session(self, text: str, out: list[int]) -> None:
        """BPE outside <dna>...</dna>; inside, upper-cased 6-byte k-mers (the last padded with A)."""
        begin, end, oov = (self.token_to_id.get(t) for t in ("<dna>", "</dna>", "<oov>"))
        if begin is None or end is None or oov is None:
            self._bpe_encode(text, out)
            return
        pos = 0
        while pos < len(text):
            start = text.find("<dna>", pos)
            if start < 0:
                self._bpe_encode(text[pos:], out)
                break
            if start > pos:
                self._bpe_encode(text[pos:start], out)
            out.append(begin)
            content = start + len("<dna>")
            stop = text.find("</dna>", content)
            seq = vocab_models.utf8(text[content:len(text) if stop < 0 else stop]).upper()  # ASCII letters only
            for i in range(0, len(seq), 6):  # k-mers of bytes, as llama.cpp cuts them
                kmer = seq[i:i + 6].ljust(6, b"A")
                try:
                    out.append(self.token_to_id.get(kmer.decode("utf-8") + _DNA_KMER_MARKER, oov))
                except UnicodeDecodeError:
                    out.append(oov)
            if stop < 0:
                break
            out.append(end)
            pos = stop + len("</dna>")

    def _bpe_encode(self, text: str, out: list[int]) -> None:
        if not text.isascii():
            text = vocab_models.codepoint_text(text)
        cache = self._word_cache
        for word in self._pretok.split(text):
            ids = cache.get(word)
            if ids is None:
                ids = self._bpe_word(word)
                if len(cache) < 200_000:
                    cache[word] = ids
            out.extend(ids)

    def _bpe_word(self, word: str) -> list[int]:
        vocab = self.token_to_id
        if self._byte_encode:
            enc = word.encode("utf-8", "surrogatepass").decode("latin-1").translate(self._byte_encoder)
        else:
            enc = word
        tid = vocab.get(enc)
        if tid is not None and (self.ignore_merges or (self._gemma4_fixes and not enc.strip("\n"))):
            return [tid]
        syms = self._bpe_merge(list(enc))
        ids: list[int] = []
        for s in syms:
            tid = vocab.get(s)
            if tid is not None:
                ids.append(tid)
            elif self._byte_encode:  # llama.cpp looks each UTF-8 byte up as a one-byte token
                for b in s.encode("utf-8", "surrogatepass"):
                    t = vocab.get(bytes([b]).decode("utf-8", "surrogateescape"))
                    if t is not None:
                        ids.append(t)
            else:  # SentencePiece-style byte tokens
                for b in s.encode("utf-8", "surrogatepass"):
                    t = vocab.get(f"<0x{b:02X}>")
                    if t is not None:
                        ids.append(t)
        return ids

    def _bpe_merge(self, syms: list[str]) -> list[str]:
        """Merge the lowest-rank adjacent pair (leftmost on ties) until none is left."""
        return self._bpe_merge_heap(syms) if len(syms) > 64 else self._bpe_merge_small(syms)

    def _bpe_merge_small(self, syms: list[str]) -> list[str]:
        ranks = self.ranks
        while len(syms) > 1:
            best, best_rank = -1, None
            for i in range(len(syms) - 1):
                r = ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best < 0:
                break
            syms[best:best + 2] = [syms[best] + syms[best + 1]]
        return syms

    def _bpe_merge_heap(self, syms: list[str]) -> list[str]:
        """Same merges as _bpe_merge, O(n log n) for long words (llama.cpp's queue)."""
        ranks = self.ranks
        n = len(syms)
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        heap: list[tuple[int, int, str]] = []

        def add(left: int, right: int) -> None:
            if left >= 0 and right >= 0:
                r = ranks.get((syms[left], syms[right]))
                if r is not None:
                    heapq.heappush(heap, (r, left, syms[left] + syms[right]))

        for i in range(1, n):
            add(i - 1, i)
        while heap:
            _, left, text = heapq.heappop(heap)
            right = nxt[left]
            if right < 0 or not syms[left] or syms[left] + syms[right] != text:
                continue
            syms[left] = text
            syms[right] = ""
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prv[nxt[right]] = left
            add(prv[left], left)
            add(left, nxt[left])
        return [s for s in syms if s]

    # -- decode -------------------------------------------------------------------

    def token_to_piece(self, token: int, special: bool = False) -> bytes:
        """The bytes a token stands for (llama_token_to_piece); control and unknown tokens
        give b"" unless special."""
        if not 0 <= token < len(self.tokens):
            raise IndexError(f"token id {token} outside vocabulary of {len(self.tokens)}")
        attr = int(self.attrs[token])
        if attr & (ATTR_CONTROL | ATTR_UNKNOWN) and not special:
            return b""
        piece = self._pieces[token]
        if piece is None:
            piece = self._piece(token, attr)
            self._pieces[token] = piece
        return piece

    def _piece(self, token: int, attr: int) -> bytes:
        text = self.tokens[token]
        kind = self.kind
        raw = vocab_models.utf8(text)
        if kind == "rwkv":
            return vocab_models.unescape_rwkv(text)
        if kind == "test":
            return f"{token:x}".encode()
        if kind == "plamo2":
            if attr & ATTR_BYTE and _BYTE_TOKEN.fullmatch(text):
                return bytes([int(text[3:5], 16)])
            return raw
        if attr & (ATTR_CONTROL | ATTR_UNKNOWN | ATTR_USER_DEFINED):
            return raw
        if attr & ATTR_NORMAL:
            if kind != "bpe" or self.escape_whitespaces:
                return raw.replace(_SPACE.encode(), b" ")
            dec = self._byte_decoder
            try:
                return bytes(dec[c] for c in text)
            except KeyError:  # llama.cpp writes unknown code points out in hex
                return b"".join(bytes([dec[c]]) if c in dec else
                                b"[UNK_BYTE_0x" + vocab_models.utf8(c).hex().encode() + raw + b"]"
                                for c in text)
        if attr & ATTR_BYTE:
            return bytes([_strtol16(text[3:5])])
        return b""

    def decode_bytes(self, ids: Iterable[int], special: bool = False) -> bytes:
        """llama_detokenize(remove_special=False, unparse_special=special)."""
        table = self._piece_tables[special]  # token_to_piece's answers, filled as tokens come
        n = len(table)
        parts = []
        append = parts.append
        for t in ids:
            t = int(t)
            p = table[t] if 0 <= t < n else None
            if p is None:
                p = table[t] = self.token_to_piece(t, special)
            append(p)
        if parts and self.add_space_prefix and parts[0][:1] == b" ":
            parts[0] = parts[0][1:]
        data = b"".join(parts)
        return _clean_spaces(data) if self.clean_spaces else data

    def decode(self, ids: Iterable[int], special: bool = False) -> str:
        """Text of the tokens (invalid UTF-8 from partial byte tokens becomes U+FFFD)."""
        return self.decode_bytes(ids, special).decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Tokenizer({self.model}/{self.pre}, n_vocab={self.n_vocab}, bos={self.bos_id}, eos={self.eos_id})"


_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def _strtol16(text: str) -> int:
    """The byte of a byte token's two hex digits as llama.cpp reads them (strtol, base 16):
    the leading hex digits, 0 if there are none."""
    m = re.match(r"\s*([+-]?)(?:0[xX])?([0-9A-Fa-f]+)", text)
    if not m:
        return 0
    v = int(m.group(2), 16)
    return (-v if m.group(1) == "-" else v) & 0xFF


def _sentinel(text: str, tokens: Iterable[str]) -> str:
    """A character that occurs neither in `text` nor in any of `tokens`."""
    tokens = list(tokens)
    for cp in itertools.chain((0, 0xFFFF), range(0xF0000, 0xF1000)):
        c = chr(cp)
        if c not in text and not any(c in t for t in tokens):
            return c
    raise ValueError("text uses every sentinel character the tokenizer could mask with")


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map used by byte-level BPE vocabularies."""
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _longest_match_regex(words: list[str]) -> re.Pattern:
    """A compiled regex matching the longest of `words` at a position: the trie pattern,
    or, when the trie nests too deep for the regex compiler (a vocabulary of very long or
    prefix-nested special tokens), the same words as alternatives, longest first."""
    try:
        return re.compile(_trie_pattern(words))
    except (RecursionError, re.error, OverflowError):
        return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


def _trie_pattern(words: list[str]) -> str:
    """A regex matching the longest of `words` at a position (a trie, so the regex
    engine never tries thousands of alternatives one after the other)."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts = [re.escape(ch) + emit(child) for ch, child in node.items() if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:  # a word ends here: try the longer ones first
            return "(?:" + body + ")?"
        return body

    return emit(trie)


def _clean_spaces(data: bytes) -> bytes:
    """llama.cpp's detokenizer clean-up for BPE vocabularies with clean_spaces on."""
    data = re.sub(rb" ([?!.,])", rb"\1", data)
    data = data.replace(b" ' ", b"'")
    return re.sub(rb" '(?=(?:s|m|re|ve))", rb"'", data)
