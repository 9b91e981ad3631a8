"""Regex pre-tokenizers of byte-level BPE vocabularies, as llama.cpp splits text.

llama.cpp does not run the tokenizer.json regexes with full Unicode support: it
classifies every code point once (letter, number, whitespace, punctuation, accent
mark, symbol, other), writes the text "collapsed" to one byte per code point
(ASCII kept, every other code point replaced by its class byte) and runs the regex
with the Unicode classes rewritten to those bytes. We do the same: the collapsed
text has one character per code point of the input, so match spans map straight
back to the input. Each regex of a pre-tokenizer splits every piece left by the
previous one; text between matches becomes a piece of its own.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np

# Class bytes of non-ASCII code points in the collapsed text (llama.cpp's choice).
_OTHER, _NUMBER, _LETTER, _PUNCT, _MARK, _SYMBOL = 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5
_WHITESPACE = 0x0B  # vertical tab stands for every non-ASCII white space

# Unicode White_Space (PropList.txt); llama.cpp uses exactly this set.
_WHITE_SPACE = [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                0x2028, 0x2029, 0x202F, 0x205F, 0x3000]

# Last assigned plane-0..3 code point is below this; planes 14..16 are tags,
# variation selectors and private use, handled by explicit ranges.
_SCAN_LIMIT = 0x32400
_EXTRA_RANGES = [(0xE0000, 0xE0080), (0xE0100, 0xE01F0)]


@functools.lru_cache(maxsize=1)
def collapse_table() -> np.ndarray:
    """uint8 class byte for every code point 0..0x10FFFF (built once per process)."""
    table = np.full(0x110000, _OTHER, dtype=np.uint8)
    table[:128] = np.arange(128, dtype=np.uint8)
    by_major = {"L": _LETTER, "N": _NUMBER, "P": _PUNCT, "M": _MARK, "S": _SYMBOL}
    category = unicodedata.category
    for lo, hi in [(128, _SCAN_LIMIT), *_EXTRA_RANGES]:
        for cp in range(lo, hi):
            cls = by_major.get(category(chr(cp))[0])
            if cls is not None:
                table[cp] = cls
    for cp in _WHITE_SPACE:
        if cp >= 128:
            table[cp] = _WHITESPACE
    return table


def collapse(text: str) -> str:
    """One character per code point: ASCII as is, others replaced by their class."""
    if text.isascii():
        return text
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return collapse_table()[cps].tobytes().decode("latin-1")


# Building blocks of the collapsed regexes. \s of std::regex in the C locale is
# exactly [\t\n\v\f\r ]; Python's own \s would also take \x1c-\x1f.
_L = r"A-Za-z\xd2"
_N = r"0-9\xd1"
_WS = r"\t\n\x0b\x0c\r "
_P = r"\xd3!-#%-*,-/:-;?-@\[-\]_{}"  # \p{P}: class byte plus ASCII punctuation
_CONTRACTIONS_CI = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"

_GPT2 = (rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{_L}]+| ?[{_N}]+| ?[^{_WS}{_L}{_N}]+"
         rf"|[{_WS}]+(?![^{_WS}])|[{_WS}]+")
_LLAMA3 = (rf"{_CONTRACTIONS_CI}|[^\r\n{_L}{_N}]?[{_L}]+|[{_N}]{{1,3}}"
           rf"| ?[^{_WS}{_L}{_N}]+[\r\n]*|[{_WS}]*[\r\n]+|[{_WS}]+(?![^{_WS}])|[{_WS}]+")
_QWEN2 = (rf"{_CONTRACTIONS_CI}|[^\r\n{_L}{_N}]?[{_L}]+|[{_N}]"
          rf"| ?[^{_WS}{_L}{_N}]+[\r\n]*|[{_WS}]*[\r\n]+|[{_WS}]+(?![^{_WS}])|[{_WS}]+")
_DEFAULT = [
    rf"[{_P}\$\+<=>\^~\|]+",
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{_L}]+| ?[{_N}]+| ?[^{_WS}{_L}{_N}]+|[{_WS}]+(?![^{_WS}])",
    rf"[{_N}]+",
    r"[0-9][0-9][0-9]",
]

# tokenizer.ggml.pre value -> regexes, applied in order (llama.cpp's grouping).
PRETOKENIZERS: dict[str, list[str]] = {
    "default": _DEFAULT,
    "llama3": [_LLAMA3], "llama-v3": [_LLAMA3], "llama-bpe": [_LLAMA3], "falcon3": [_LLAMA3],
    "pixtral": [_LLAMA3], "dbrx": [_LLAMA3], "smaug-bpe": [_LLAMA3],
    "qwen2": [_QWEN2], "deepseek-r1-qwen": [_QWEN2], "stablelm2": [_QWEN2], "megrez": [_QWEN2],
    "gpt2": [_GPT2], "gpt-2": [_GPT2], "phi-2": [_GPT2], "mpt": [_GPT2], "olmo": [_GPT2],
    "jais": [_GPT2], "roberta-bpe": [_GPT2], "exaone4": [_GPT2],
}
# Pre-tokenizers whose whole-word vocabulary hits skip the merges (llama.cpp ignore_merges).
IGNORE_MERGES = {"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"}
# Pre-tokenizers after which llama.cpp turns add_bos on by default.
ADD_BOS_DEFAULT = {"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"}
# Pre-tokenizers whose detokenizer keeps spaces before punctuation (clean_spaces off).
NO_CLEAN_SPACES = {"qwen2", "deepseek-r1-qwen", "megrez"}


class PreTokenizer:
    """Splits text into the words that BPE merges run on."""

    def __init__(self, pre: str):
        if pre not in PRETOKENIZERS:
            raise ValueError(f"unsupported pre-tokenizer {pre!r}; known: {sorted(PRETOKENIZERS)}")
        self.pre = pre
        self._regexes = [re.compile(r) for r in PRETOKENIZERS[pre]]

    def split(self, text: str) -> list[str]:
        collapsed = collapse(text)
        bounds = [(0, len(text))]
        for rx in self._regexes:
            out = []
            for lo, hi in bounds:
                pos = lo
                for m in rx.finditer(collapsed, lo, hi):
                    s, e = m.span()
                    if s > pos:
                        out.append((pos, s))
                    out.append((s, e))
                    pos = e
                if pos < hi:
                    out.append((pos, hi))
            bounds = out
        return [text[s:e] for s, e in bounds]
