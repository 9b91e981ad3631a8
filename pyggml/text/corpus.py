"""Text corpora for evaluation and calibration: read a text file, tokenize it whole, cut it into chunks.

llama.cpp's conventions (its perplexity and imatrix tools), so that the numbers compare: the text
is tokenized once, with BOS first when the vocabulary adds one; chunks are consecutive runs of
n_ctx tokens, the tail dropped; each chunk's first token is replaced by BOS for its evaluation.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from ..errors import PyggmlError


def read_text(path) -> str:
    """The UTF-8 text of `path`, with a clear error for a missing, binary, non-UTF-8 or empty file."""
    path = os.fspath(path)
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        raise PyggmlError(f"{path}: no such text file") from None
    except IsADirectoryError:
        raise PyggmlError(f"{path}: is a directory, not a text file") from None
    except OSError as e:
        raise PyggmlError(f"{path}: cannot read the text file ({e.strerror})") from None
    if b"\0" in data:
        raise PyggmlError(f"{path}: not a text file (NUL byte at offset {data.index(0)})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PyggmlError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    if not text.strip():
        raise PyggmlError(f"{path}: the text is empty")
    return text


def tokenize_text(tokenizer, text: str) -> np.ndarray:
    """Token ids of the whole text, BOS first when the vocabulary adds it (as llama.cpp; which
    refuses vocabularies that add EOS, where we simply add none)."""
    ids = tokenizer.encode(text, add_special=False, parse_special=False)
    if tokenizer.add_bos and tokenizer.bos_id >= 0:
        ids = [tokenizer.bos_id] + ids
    return np.asarray(ids, dtype=np.int32)


def make_chunks(tokens: np.ndarray, n_ctx: int, n_chunks: Optional[int] = None, source: str = "the text") -> np.ndarray:
    """Cut the token stream into (n_chunk, n_ctx) chunks: n_tokens // n_ctx of them, at most n_chunks."""
    if n_ctx < 4:
        raise PyggmlError(f"the context size must be at least 4 tokens, not {n_ctx}")
    n = len(tokens)
    if n < 2 * n_ctx:
        raise PyggmlError(
            f"{source} has only {n} tokens; perplexity with a context of {n_ctx} needs at least {2 * n_ctx}"
            " (use a longer text or a smaller -c)")
    n_chunk = n // n_ctx
    if n_chunks is not None and n_chunks > 0:
        n_chunk = min(n_chunk, n_chunks)
    return np.asarray(tokens[: n_chunk * n_ctx], dtype=np.int32).reshape(n_chunk, n_ctx)


def bos_for_chunks(tokenizer) -> Optional[int]:
    """The BOS id written over each chunk's first token, or None when the vocabulary adds no BOS."""
    return tokenizer.bos_id if tokenizer.add_bos and tokenizer.bos_id >= 0 else None
