"""Code point classes as llama.cpp's tokenizer sees them.

llama.cpp classifies code points with its own table (Unicode 15.1), not with the running
Python's Unicode version, and tokenizers must agree with it on every code point, so the
table ships with pyggml (data/unicode_classes.npz, written by scripts/make_unicode_table.py):
each code point's general category reduced to one class flag, the White_Space set, the simple
lowercase mapping and the first code point of each NFD decomposition.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

# Class flags (llama.cpp's unicode_cpt_flags bits).
UNDEFINED, NUMBER, LETTER, SEPARATOR, MARK, PUNCTUATION, SYMBOL, CONTROL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80
WHITESPACE = 0x100

N_CODEPOINTS = 0x110000
_DATA = Path(__file__).resolve().parents[1] / "data" / "unicode_classes.npz"

# Bytes that stand for the classes of non-ASCII code points in a "collapsed" text, in which
# every code point is one character: ASCII as is, every other code point its class byte.
COLLAPSED_OTHER, COLLAPSED_NUMBER, COLLAPSED_LETTER = 0xD0, 0xD1, 0xD2
COLLAPSED_PUNCTUATION, COLLAPSED_MARK, COLLAPSED_SYMBOL = 0xD3, 0xD4, 0xD5
COLLAPSED_WHITESPACE = 0x0B  # vertical tab stands for every non-ASCII white space
# Kimi-K2's splitter sets Han characters apart: letters among them, and the rest of the range.
COLLAPSED_HAN_LETTER, COLLAPSED_HAN_OTHER = 0xD6, 0xD7

_CLASS_BYTES = {NUMBER: COLLAPSED_NUMBER, LETTER: COLLAPSED_LETTER, PUNCTUATION: COLLAPSED_PUNCTUATION,
                MARK: COLLAPSED_MARK, SYMBOL: COLLAPSED_SYMBOL}

# Han character ranges of llama.cpp's unicode_cpt_is_han (CJK ideographs and extensions A-F).
HAN_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    with np.load(_DATA) as z:
        return {k: z[k] for k in z.files}


@functools.lru_cache(maxsize=1)
def flags() -> np.ndarray:
    """uint16 class flags of every code point 0..0x10FFFF (WHITESPACE added)."""
    d = _data()
    starts = d["flag_starts"].astype(np.int64)
    out = np.repeat(d["flag_values"][:-1], np.diff(starts))
    out[d["whitespace"]] |= WHITESPACE
    return out


def _collapse(han: bool) -> np.ndarray:
    f = flags()
    table = np.full(N_CODEPOINTS, COLLAPSED_OTHER, np.uint8)
    for flag, byte in _CLASS_BYTES.items():
        table[(f & 0xFF) == flag] = byte
    if han:
        for lo, hi in HAN_RANGES:
            seg = table[lo:hi + 1]
            table[lo:hi + 1] = np.where(seg == COLLAPSED_LETTER, COLLAPSED_HAN_LETTER, COLLAPSED_HAN_OTHER)
    table[(f & WHITESPACE) != 0] = COLLAPSED_WHITESPACE
    table[:128] = np.arange(128, dtype=np.uint8)
    return table


@functools.lru_cache(maxsize=1)
def collapse_table() -> np.ndarray:
    """uint8 collapsed byte of every code point."""
    return _collapse(han=False)


@functools.lru_cache(maxsize=1)
def han_collapse_table() -> np.ndarray:
    """collapse_table with Han characters as COLLAPSED_HAN_LETTER / COLLAPSED_HAN_OTHER."""
    return _collapse(han=True)


def codepoints(text: str) -> np.ndarray:
    """uint32 code points of `text` (lone surrogates included)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def collapse(text: str, table: np.ndarray | None = None) -> str:
    """One character per code point: ASCII as is, other code points their class byte."""
    if text.isascii():
        return text
    if table is None:
        table = collapse_table()
    return table[codepoints(text)].tobytes().decode("latin-1")


@functools.lru_cache(maxsize=1)
def non_ascii_whitespace() -> dict[int, int]:
    """str.translate table: every non-ASCII white space code point -> vertical tab."""
    return {int(c): COLLAPSED_WHITESPACE for c in _data()["whitespace"] if c >= 128}


@functools.lru_cache(maxsize=1)
def lowercase_map() -> dict[int, int]:
    """str.translate table of llama.cpp's unicode_tolower (the simple lowercase mapping)."""
    return {int(a): int(b) for a, b in _data()["lowercase"]}


@functools.lru_cache(maxsize=1)
def nfd_map() -> dict[int, int]:
    """str.translate table of llama.cpp's unicode_cpts_normalize_nfd: each code point to the
    first code point of its NFD decomposition."""
    out: dict[int, int] = {}
    for first, last, to in _data()["nfd"]:
        for c in range(int(first), int(last) + 1):
            if c != to:
                out[c] = int(to)
    return out


def is_han(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in HAN_RANGES)
