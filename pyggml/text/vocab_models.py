"""Tokenizer models other than SentencePiece merges and BPE: WordPiece (bert), Unigram (t5),
RWKV, PLaMo-2 and llama.cpp's test vocabulary, each as llama.cpp runs it.

Each class takes the Tokenizer it belongs to (token texts, attributes, special ids, flags)
and appends the ids of one text fragment (special tokens already cut out) to a list. Where a
vocabulary has no unknown token, text llama.cpp would give LLAMA_TOKEN_NULL (-1) for gives no
id here: every id is a token of the vocabulary.
"""

from __future__ import annotations

import bisect
import math
import re
import struct
from typing import TYPE_CHECKING

import numpy as np

from . import unicode as uc

if TYPE_CHECKING:
    from .tokenizer import Tokenizer

# Token attributes (llama.cpp's llama_token_attr bits), as in tokenizer.py.
ATTR_UNKNOWN, ATTR_UNUSED, ATTR_NORMAL, ATTR_CONTROL = 1, 2, 4, 8
ATTR_USER_DEFINED, ATTR_BYTE = 16, 32

SPACE = "\u2581"  # SentencePiece's escaped space


class VocabError(ValueError):
    """The vocabulary's data cannot be used (a byte token missing, a precompiled character
    map whose offsets run outside it); Tokenizer turns it into a GGUFError naming the file."""


def codepoint_text(text: str) -> str:
    """The text as llama.cpp's unicode_cpts_from_utf8 sees it. Bytes that were not UTF-8
    (carried as surrogate escapes, see Tokenizer.encode) are decoded as llama.cpp decodes
    them: a lead byte and its continuation bytes make a code point (overlong forms and
    surrogates too), anything else is U+FFFD for one byte."""
    if text.isascii() or not _ESCAPE.search(text):
        return text
    data = utf8(text)
    out = []
    pos, n = 0, len(data)
    while pos < n:
        k = _utf8_char_len(data, pos)
        if k == 0:
            out.append("\ufffd")
            pos += 1
            continue
        b = data[pos]
        cp = b if k == 1 else (b & (0x7F >> k))
        for j in range(1, k):
            cp = (cp << 6) | (data[pos + j] & 0x3F)
        out.append(chr(cp) if cp <= 0x10FFFF else "\ufffd")  # llama.cpp fails on larger ones
        pos += k
    return "".join(out)


_ESCAPE = re.compile("[\udc80-\udcff]")


def utf8(text: str) -> bytes:
    """The UTF-8 bytes of `text`, surrogate escapes back to the bytes they stand for."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------------
# WordPiece (llama.cpp's llm_tokenizer_wpm)

def _is_chinese_char(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B920 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    """BERT's WordPiece: the text is normalized (lowercase, accents stripped, as the GGUF
    says) and cut into words at white space and around punctuation and CJK characters; each
    word, with U+2581 in front, becomes its longest tokens from the left, or [UNK] whole."""

    def __init__(self, tok: "Tokenizer", lowercase: bool, strip_accents: bool):
        self.vocab = tok.token_to_id
        self.unk = tok.unk_id
        self.max_len = max(len(utf8(t)) for t in tok.tokens)  # in bytes, as llama.cpp counts
        self.lowercase = lowercase
        self.strip_accents = strip_accents

    def words(self, text: str) -> list[str]:
        text = codepoint_text(text)
        if self.strip_accents:
            text = text.translate(uc.nfd_map())
        flags = uc.flags()
        lower = uc.lowercase_map() if self.lowercase else {}
        words: list[str] = []
        cur: list[str] = []
        for ch in text:
            cp = ord(ch)
            f = int(flags[cp])
            if f & uc.WHITESPACE:
                if cur:
                    words.append("".join(cur))
                    cur = []
                continue
            if cp == 0 or cp == 0xFFFD or f & uc.CONTROL or (self.strip_accents and f & uc.MARK):
                continue
            s = chr(lower.get(cp, cp))
            if f & uc.PUNCTUATION or (cp < 0x7F and f & uc.SYMBOL) or _is_chinese_char(cp):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(s)
            else:
                cur.append(s)
        if cur:
            words.append("".join(cur))
        return words

    def encode(self, text: str, out: list[int]) -> None:
        vocab = self.vocab
        for word in self.words(text):
            w = SPACE + word
            ends = [0]  # byte offset after each character
            for ch in w:
                ends.append(ends[-1] + (len(ch.encode("utf-8", "surrogatepass"))))
            n = len(w)
            start = len(out)
            i = 0
            while i < n:
                # longest token starting at character i (tokens are at most max_len bytes)
                j = min(n, bisect.bisect_right(ends, ends[i] + self.max_len) - 1)
                while j > i and w[i:j] not in vocab:
                    j -= 1
                if j == i:  # no token: the whole word is unknown
                    del out[start:]
                    break
                out.append(vocab[w[i:j]])
                i = j
            if len(out) == start and self.unk >= 0:
                out.append(self.unk)


# ---------------------------------------------------------------------------------
# Unigram (llama.cpp's llm_tokenizer_ugm: SentencePiece's Viterbi)

class Unigram:
    """SentencePiece's unigram model: the text is normalized by the precompiled character
    map (longest match, a double-array trie) with spaces escaped and merged as the GGUF says,
    then the tokenization of highest total score is found by Viterbi; characters no token
    covers are [UNK] at the lowest score less 10, consecutive ones merged."""

    def __init__(self, tok: "Tokenizer", charsmap: bytes | None):
        self.unk = tok.unk_id
        attrs = tok.attrs
        self.pieces: dict[str, tuple[int, float]] = {}
        normal = (attrs & ATTR_NORMAL) != 0
        min_score = float(np.min(tok.scores[normal])) if normal.any() else float(np.finfo(np.float32).max)
        # float arithmetic, as llama.cpp computes it
        self.unk_score = float(np.float32(min_score) - np.float32(10.0))
        user_defined = []
        for i, text in enumerate(tok.tokens):
            a = int(attrs[i])
            if a & (ATTR_NORMAL | ATTR_USER_DEFINED | ATTR_UNUSED):
                # user-defined pieces score 0, normal ones their log probability
                self.pieces[text] = (i, 0.0 if a & ATTR_USER_DEFINED else float(tok.scores[i]))
            if a & ATTR_USER_DEFINED:
                user_defined.append(utf8(text))
        self.max_len = max((len(t) for t in self.pieces), default=1)
        # llama.cpp's trie walk takes the longest prefix of the text that is a prefix of a
        # user-defined token (whole token or not) and keeps it unnormalized
        self.ud_prefixes = {t[:k] for t in user_defined for k in range(1, len(t) + 1)}
        self.ud_max = max((len(t) for t in user_defined), default=0)
        self.escape = tok.escape_whitespaces
        self.add_space_prefix = tok.add_space_prefix
        self.treat_whitespace_as_suffix = tok.treat_whitespace_as_suffix
        self.merge_spaces = tok.remove_extra_whitespaces
        self.xcda: np.ndarray | None = None
        self.replacements = b""
        if charsmap:
            if len(charsmap) < 4:
                raise VocabError("precompiled_charsmap too small for its size header")
            (size,) = struct.unpack_from("<I", charsmap, 0)
            if size + 4 >= len(charsmap):
                raise VocabError("precompiled_charsmap's double array runs past its end")
            self.xcda = np.frombuffer(charsmap, "<u4", size // 4, 4).astype(np.int64)
            self.replacements = charsmap[4 + size:]

    # -- normalization

    def _charsmap_match(self, data: bytes, pos: int) -> tuple[int, int]:
        """(matched length, replacement offset) of the longest charsmap key at data[pos:]."""
        xcda = self.xcda
        n = len(xcda)

        def node(i: int) -> int:
            if i >= n:
                raise VocabError("index out of the precompiled charsmap's double array")
            return int(xcda[i])

        def base(i: int) -> int:
            v = node(i)
            return (v >> 10) << ((v & (1 << 9)) >> 6)

        best_len = best_off = 0
        idx = base(0)
        for p in range(pos, len(data)):
            c = data[p]
            if c == 0:
                break
            idx ^= c
            v = node(idx)
            if (v & ((1 << 31) | 0xFF)) != c:  # LCHECK
                break
            leaf = (v >> 8) & 1
            idx ^= base(idx)
            if leaf:
                best_len = p - pos + 1
                best_off = node(idx) & ((1 << 31) - 1)
        return best_len, best_off

    def _normalize_prefix(self, data: bytes, pos: int) -> tuple[bytes, int]:
        """(normalized bytes, bytes consumed) at data[pos:]."""
        if self.ud_max:
            k = 0
            while k < self.ud_max and pos + k < len(data) and data[pos:pos + k + 1] in self.ud_prefixes:
                k += 1
            if k:
                return data[pos:pos + k], k
        if self.xcda is not None:
            length, off = self._charsmap_match(data, pos)
            if length:
                if off >= len(self.replacements):
                    raise VocabError("index out of the precompiled charsmap's replacements")
                end = self.replacements.find(b"\0", off)
                if end < 0:
                    raise VocabError("unterminated string in the precompiled charsmap")
                return self.replacements[off:end], length
        n = _utf8_char_len(data, pos)
        if n:
            return data[pos:pos + n], n
        return b"\xef\xbf\xbd", 1  # not UTF-8: one byte becomes U+FFFD

    def normalize(self, text: str) -> str:
        data = utf8(text)
        space = SPACE.encode() if self.escape else b" "
        prepend = not self.treat_whitespace_as_suffix and self.add_space_prefix
        append = self.treat_whitespace_as_suffix and self.add_space_prefix
        merge = self.merge_spaces
        out = bytearray()
        prepended = False
        in_word = False
        pos = 0
        while pos < len(data):
            chunk, used = self._normalize_prefix(data, pos)
            for c in chunk:
                if c != 0x20:
                    if not in_word:
                        in_word = True
                        if (prepend and not prepended) or merge:
                            out += space
                            prepended = True
                    out.append(c)
                else:
                    in_word = False
                    if not merge:
                        out += space
            pos += used
        if append:
            out += space
        return bytes(out).decode("utf-8", "surrogateescape")

    # -- Viterbi

    def encode(self, text: str, out: list[int]) -> None:
        s = self.normalize(text)
        n = len(s)
        if n == 0:
            return
        pieces, unk, unk_score, max_len = self.pieces, self.unk, self.unk_score, self.max_len
        best = [-math.inf] * (n + 1)  # llama.cpp starts from -DBL_MAX
        best[0] = 0.0
        back_tok = [unk] * (n + 1)
        back_pos = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            single = False
            for j in range(i + 1, min(n, i + max_len) + 1):
                hit = pieces.get(s[i:j])
                if hit is None:
                    continue
                if j == i + 1:
                    single = True
                score = here + hit[1]
                if score > best[j]:
                    best[j], back_tok[j], back_pos[j] = score, hit[0], i
            if not single:
                score = here + unk_score
                if score > best[i + 1]:
                    best[i + 1], back_tok[i + 1], back_pos[i + 1] = score, unk, i
        ids = []
        prev_unknown = False
        j = n
        while True:
            t = back_tok[j]
            is_unknown = t == unk
            if not (prev_unknown and is_unknown):
                ids.append(t)
            if back_pos[j] == 0:
                break
            prev_unknown = is_unknown
            j = back_pos[j]
        out.extend(t for t in reversed(ids) if t >= 0)  # no [UNK] in the vocabulary: nothing for it


def _utf8_char_len(data: bytes, pos: int) -> int:
    """Length of the UTF-8 character at data[pos] as llama.cpp's unicode_cpt_from_utf8
    accepts it (lead byte and continuation bytes checked, nothing else), 0 if invalid."""
    b = data[pos]
    if b < 0x80:
        return 1
    if not b & 0x40:
        return 0
    n = 2 if not b & 0x20 else 3 if not b & 0x10 else 4 if not b & 0x08 else 0
    if n == 0 or pos + n - 1 >= len(data):
        return 0
    if any(data[pos + k] & 0xC0 != 0x80 for k in range(1, n)):
        return 0
    return n


# ---------------------------------------------------------------------------------
# RWKV (llama.cpp's llm_tokenizer_rwkv)

def unescape_rwkv(text: str) -> bytes:
    """The bytes an RWKV token stands for: its text with \\t \\n \\r \\xHH escapes."""
    out = bytearray()
    escaping = False
    hex_left = hex_acc = 0
    for c in utf8(text):
        if hex_left:
            value = (c - 0x61 + 10) if c >= 0x61 else (c - 0x30)
            hex_acc = ((hex_acc << 4) + value) & 0xFF
            hex_left -= 1
            if hex_left == 0:
                out.append(hex_acc)
                hex_acc = 0
            continue
        if escaping:
            if c == 0x74:  # t
                out.append(0x09)
            elif c == 0x6E:  # n
                out.append(0x0A)
            elif c == 0x72:  # r
                out.append(0x0D)
            elif c == 0x78:  # x
                hex_left = 2
            else:
                out.append(c)
            escaping = False
            continue
        if c == 0x5C:  # backslash
            escaping = True
            continue
        out.append(c)
    return bytes(out)


class Rwkv:
    """RWKV's "world" tokenizer: the longest token at each byte, greedily."""

    def __init__(self, tok: "Tokenizer"):
        self.ids: dict[bytes, int] = {}
        for i, text in enumerate(tok.tokens):
            self.ids[unescape_rwkv(text)] = i
        self.first_bytes = {t[0] for t in self.ids if t}
        self.max_len = max((len(t) for t in self.ids), default=1)
        self.unk = tok.unk_id

    def encode(self, text: str, out: list[int]) -> None:
        data = utf8(text)
        ids, n = self.ids, len(data)
        pos = 0
        while pos < n:
            if data[pos] not in self.first_bytes:  # no token starts with this byte: [UNK], if there is one
                if self.unk >= 0:
                    out.append(self.unk)
                pos += 1
                continue
            for k in range(min(self.max_len, n - pos), 0, -1):
                t = ids.get(data[pos:pos + k])
                if t is not None:
                    out.append(t)
                    pos += k
                    break
            else:  # llama.cpp would not advance here; a vocabulary with every byte never gets here
                out.append(0)
                pos += 1


# ---------------------------------------------------------------------------------
# PLaMo-2 (llama.cpp's llm_tokenizer_plamo2)

_PLAMO2_UNKNOWN = -10_000_000


def _round_score(score: float) -> int:
    x = score * 1e4
    return int(math.copysign(math.floor(abs(x) + 0.5), x))  # std::round: half away from zero


class Plamo2:
    """PLaMo-2's tokenizer: the tokenization of lowest cost (scores fixed-point, x 1e4),
    longest token first on ties; a character no token covers costs 1e7 and comes out as
    its UTF-8 byte tokens. A leading byte-order mark is dropped."""

    def __init__(self, tok: "Tokenizer"):
        self.byte_ids = [0] * 256
        self.pieces: dict[str, tuple[int, int]] = {}
        for i, text in enumerate(tok.tokens):
            if tok.attrs[i] & ATTR_BYTE:
                if len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
                    try:
                        self.byte_ids[int(text[3:5], 16)] = i
                    except ValueError:
                        pass
                continue
            score = float(tok.scores[i])
            if math.isfinite(score):
                self.pieces[text] = (i, _round_score(score))
        missing = [b for b in range(256) if self.byte_ids[b] == 0]
        if missing:
            raise VocabError(f"PLaMo-2 vocabulary lacks the byte token <0x{missing[0]:02X}>")
        self.max_len = max((len(t) for t in self.pieces), default=1)

    def encode(self, text: str, out: list[int]) -> None:
        text = codepoint_text(text)
        if text[:1] == "\ufeff":
            text = text[1:]
        n = len(text)
        if n == 0:
            return
        pieces = self.pieces
        cost = [0] * (n + 1)
        step = [1] * (n + 1)
        tid = [-1] * (n + 1)
        for i in range(n - 1, -1, -1):
            best, best_len, best_id = 1 << 60, 1, -1
            for k in range(min(self.max_len, n - i), 0, -1):  # longest first: ties keep the longer
                hit = pieces.get(text[i:i + k])
                if hit is not None:
                    c = cost[i + k] - hit[1]
                    if c < best:
                        best, best_len, best_id = c, k, hit[0]
            c = cost[i + 1] - _PLAMO2_UNKNOWN
            if c < best:
                best, best_len, best_id = c, 1, -1
            cost[i], step[i], tid[i] = best, best_len, best_id
        i = 0
        while i < n:
            if tid[i] >= 0:
                out.append(tid[i])
            else:
                out.extend(self.byte_ids[b] for b in text[i].encode("utf-8", "surrogatepass"))
            i += step[i]


# ---------------------------------------------------------------------------------
# llama.cpp's test vocabulary ("test"): ids from a hash of every 5 bytes

class TestVocab:
    def __init__(self, tok: "Tokenizer"):
        self.n = len(tok.tokens)

    def encode(self, text: str, out: list[int]) -> None:
        data = utf8(text)
        for pos in range(0, len(data), 5):
            h = 0
            for b in data[pos:pos + 5]:
                h = (h * 31 + b) & 0xFFFFFFFFFFFFFFFF
            out.append(h % self.n)
