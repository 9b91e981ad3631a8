"""Tokenizers built from GGUF metadata alone, matching llama.cpp token for token.

Two vocabulary kinds are supported, chosen by tokenizer.ggml.model:
  "llama": SentencePiece-style. Spaces become U+2581, the whole text is merged
           bigram by bigram in order of token score (llama.cpp's llm_tokenizer_spm),
           symbols that are not tokens fall back to <0xXX> byte tokens.
  "gpt2":  byte-level BPE. The text is split by the regex pre-tokenizer named by
           tokenizer.ggml.pre (see pretokenizer.py), every word is byte-encoded and
           merged by merge rank.
Special tokens (control, user-defined, unknown) are cut out of the text first, as
llama.cpp does: control and unknown ones only when parse_special is on.
"""

from __future__ import annotations

import bisect
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
from .pretokenizer import ADD_BOS_DEFAULT, IGNORE_MERGES, NO_CLEAN_SPACES, PreTokenizer

# Token attributes (llama.cpp's llama_token_attr bits).
ATTR_UNKNOWN, ATTR_UNUSED, ATTR_NORMAL, ATTR_CONTROL = 1, 2, 4, 8
ATTR_USER_DEFINED, ATTR_BYTE, ATTR_LSTRIP, ATTR_RSTRIP = 16, 32, 128, 256
# tokenizer.ggml.token_type values -> attribute.
_TYPE_TO_ATTR = {1: ATTR_NORMAL, 2: ATTR_UNKNOWN, 3: ATTR_CONTROL, 4: ATTR_USER_DEFINED,
                 5: ATTR_UNUSED, 6: ATTR_BYTE}

# Texts llama.cpp recognises as end-of-turn / end-of-generation tokens.
_EOT_TEXTS = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
              "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
              "<end_of_utterance>"]
_EOG_TEXTS = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
              "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
              "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
              "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["}
_FIM_TEXTS = {
    "fim_pre": ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>"],
    "fim_suf": ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>"],
    "fim_mid": ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>"],
    "fim_pad": ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"],
    "fim_rep": ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
    "fim_sep": ["<|file_sep|>"],
}

_SPACE = "\u2581"  # SentencePiece's escaped space


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
        if key in ("tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
                   "tokenizer.ggml.add_space_prefix") and not isinstance(value, (bool, int)):
            raise fail(key, value, "a boolean")
    return meta


# ---------------------------------------------------------------------------------
# Tokenizer

class Tokenizer:
    """Encode text to token ids and back, exactly as llama.cpp does for the GGUF."""

    def __init__(self, meta: Mapping[str, Any], name: str = "<metadata>"):
        self.name = name
        meta = _checked_metadata(meta, name)
        self.model = str(meta.get("tokenizer.ggml.model", ""))
        if self.model not in ("llama", "gpt2"):
            raise GGUFError(name, f"unsupported tokenizer model {self.model!r} (need 'llama' or 'gpt2')")
        tokens = meta.get("tokenizer.ggml.tokens")
        if tokens is None or len(tokens) == 0:
            raise GGUFError(name, "tokenizer.ggml.tokens is missing")
        n = len(tokens)
        self.tokens: list[str] = list(tokens)
        if not all(self.tokens):
            self.tokens = [t if t else f"[EMPTY_{i}]" for i, t in enumerate(self.tokens)]
        self.token_to_id: dict[str, int] = dict(zip(self.tokens, range(n)))
        if len(self.token_to_id) != n:
            dup = next(t for i, t in enumerate(self.tokens) if self.token_to_id[t] != i)
            raise GGUFError(name, f"duplicate token {dup!r} in vocabulary")
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

        is_spm = self.model == "llama"
        arch = meta.get("general.architecture")
        self.architecture = arch if isinstance(arch, str) else None
        self.chat_template: str | None = meta.get("tokenizer.chat_template")
        self.pre = str(meta.get("tokenizer.ggml.pre", "default")) if not is_spm else "default"
        self.add_space_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", is_spm))
        self.add_bos = is_spm or self.pre in ADD_BOS_DEFAULT
        self.add_eos = False
        self.clean_spaces = not is_spm and self.pre not in NO_CLEAN_SPACES
        self._ignore_merges = self.pre in IGNORE_MERGES

        ids = {"bos": 1, "eos": 2, "unk": 0} if is_spm else {"bos": 11, "eos": 11, "unk": -1}
        for k in ("eot", "eom", "sep", "pad", "mask", *_FIM_TEXTS):
            ids.setdefault(k, -1)
        ids = {k: (v if v < n else -1) for k, v in ids.items()}
        for k in ids:
            v = meta.get(f"tokenizer.ggml.{k}_token_id")
            if v is not None and 0 <= v < n:  # llama.cpp ignores ids outside the vocabulary too
                ids[k] = v
        self.add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", self.add_bos))
        self.add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", self.add_eos))
        self._detect_special(ids)
        self.bos_id, self.eos_id, self.eot_id = ids["bos"], ids["eos"], ids["eot"]
        self.unk_id, self.pad_id = ids["unk"], ids["pad"]
        self.special_ids = ids

        special = np.flatnonzero(self.attrs & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))
        # Longest first, as llama.cpp partitions the text.
        self._special = sorted(special.tolist(), key=lambda i: -len(self.tokens[i].encode("utf-8", "surrogateescape")))
        self._special_rx = {flag: self._special_regex(flag) for flag in (False, True)}
        self._overlap_cache: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        self._special_texts: dict[str, list[str]] = {}

        if is_spm:
            self._byte_tokens = [self._spm_byte_token(b) for b in range(256)]
        else:
            self._init_bpe(meta)
        self._pieces: list[bytes | None] = [None] * n
        self._native: Any = None  # C++ SentencePiece vocabulary, built lazily

    # -- construction helpers -----------------------------------------------------

    @classmethod
    def from_gguf(cls, source: Any) -> "Tokenizer":
        """Build from a GGUF path, a gguf.GGUFReader or a metadata mapping."""
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "path", "<metadata>")
        return cls(read_tokenizer_metadata(source), name=str(name))

    def _detect_special(self, ids: dict[str, int]) -> None:
        """llama.cpp's text-based detection of EOT/FIM/EOG tokens (they become control)."""
        def force_control(i: int) -> None:
            self.attrs[i] |= ATTR_CONTROL

        if ids["eot"] < 0:
            for t in _EOT_TEXTS:
                if t in self.token_to_id:
                    ids["eot"] = self.token_to_id[t]
                    force_control(ids["eot"])
                    break
        for key, texts in _FIM_TEXTS.items():
            if ids[key] < 0:
                for t in texts:
                    if t in self.token_to_id:
                        ids[key] = self.token_to_id[t]
                        force_control(ids[key])
                        break
        for t in ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"):
            if t in self.token_to_id:
                self.attrs[self.token_to_id[t]] = ATTR_USER_DEFINED
        eog = {ids[k] for k in ("fim_pad", "fim_rep", "fim_sep", "eos", "eot", "eom") if ids[k] >= 0}
        for t in _EOG_TEXTS:
            i = self.token_to_id.get(t)
            if i is not None:
                eog.add(i)
                force_control(i)
        self.eog_ids = frozenset(eog)

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
            i = self.token_to_id.get(chr(b), self.unk_id)
        return i

    def _init_bpe(self, meta: Mapping[str, Any]) -> None:
        merges = meta.get("tokenizer.ggml.merges")
        if merges is None:
            raise GGUFError(self.name, "tokenizer.ggml.merges is missing")
        self.ranks: dict[tuple[str, str], int] = {}
        for rank, m in enumerate(merges):
            sp = m.find(" ", 1)
            pair = (m[:sp], m[sp + 1:]) if sp >= 0 else ("", "")
            self.ranks.setdefault(pair, rank)
        try:
            self._pretok = PreTokenizer(self.pre)
        except ValueError as e:
            raise GGUFError(self.name, str(e)) from None
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

        add_special adds BOS/EOS as the vocabulary asks; parse_special lets control
        tokens written in the text (e.g. "<start_of_turn>") become their ids.
        """
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        out: list[int] = []
        if add_special and self.add_bos and self.bos_id >= 0:
            out.append(self.bos_id)
        fragments = self._partition(text, parse_special) if text else []
        if self.model == "llama":
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
        else:
            for frag in fragments:
                if isinstance(frag, int):
                    out.append(frag)
                else:
                    self._bpe_encode(frag, out)
        if add_special and self.add_eos and self.eos_id >= 0:
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
        out.extend(self._native.encode(text.encode("utf-8", "surrogatepass")).tolist())

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

    # Byte-level BPE: regex words, byte-encoded, merged by rank.
    def _bpe_encode(self, text: str, out: list[int]) -> None:
        cache = self._word_cache
        for word in self._pretok.split(text):
            ids = cache.get(word)
            if ids is None:
                ids = self._bpe_word(word)
                if len(cache) < 200_000:
                    cache[word] = ids
            out.extend(ids)

    def _bpe_word(self, word: str) -> list[int]:
        enc = word.encode("utf-8", "surrogatepass").decode("latin-1").translate(self._byte_encoder)
        vocab = self.token_to_id
        if self._ignore_merges and enc in vocab:
            return [vocab[enc]]
        syms = self._bpe_merge(list(enc))
        ids: list[int] = []
        for s in syms:
            tid = vocab.get(s)
            if tid is not None:
                ids.append(tid)
            else:  # llama.cpp looks each UTF-8 byte up as a one-byte token
                ids.extend(vocab[chr(b)] for b in s.encode("utf-8") if b < 0x80 and chr(b) in vocab)
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
        """The bytes a token stands for; control/unknown tokens give b"" unless special."""
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
        if attr & (ATTR_CONTROL | ATTR_UNKNOWN | ATTR_USER_DEFINED):
            return text.encode("utf-8", "surrogateescape")
        if attr & ATTR_NORMAL:
            if self.model == "llama":
                return text.replace(_SPACE, " ").encode("utf-8", "surrogateescape")
            dec = self._byte_decoder
            try:
                return bytes(dec[c] for c in text)
            except KeyError:  # llama.cpp writes unknown code points out in hex
                return b"".join(bytes([dec[c]]) if c in dec else
                                b"[UNK_BYTE_0x" + c.encode().hex().encode() + text.encode() + b"]"
                                for c in text)
        if attr & ATTR_BYTE:
            if _BYTE_TOKEN.fullmatch(text):
                return bytes([int(text[3:5], 16)])
            return text.encode("utf-8", "surrogateescape")  # a byte token not written <0xXX>
        return b""

    def decode_bytes(self, ids: Iterable[int], special: bool = False) -> bytes:
        """llama_detokenize(remove_special=False, unparse_special=special)."""
        parts = [self.token_to_piece(int(t), special) for t in ids]
        if parts and self.add_space_prefix and parts[0][:1] == b" ":
            parts[0] = parts[0][1:]
        data = b"".join(parts)
        return _clean_spaces(data) if self.clean_spaces else data

    def decode(self, ids: Iterable[int], special: bool = False) -> str:
        """Text of the tokens (invalid UTF-8 from partial byte tokens becomes U+FFFD)."""
        return self.decode_bytes(ids, special).decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Tokenizer({self.model}/{self.pre}, n_vocab={self.n_vocab}, bos={self.bos_id}, eos={self.eos_id})"


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


_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


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
