"""Exceptions raised by pyggml. Every error about a file names the file."""

from __future__ import annotations

import os


class PyggmlError(Exception):
    """Base class of every pyggml error."""


class GGUFError(PyggmlError, ValueError):
    """A GGUF file is missing, truncated, corrupt or uses something pyggml cannot read."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
