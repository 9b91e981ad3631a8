"""Exceptions raised by pyggml. Every error about a file names the file.

Every class derives from PyggmlError, and also from the built-in exception a caller
would catch without knowing pyggml: GGUFError and ArgumentError are ValueErrors
(ArgumentError also a TypeError, for arguments of the wrong type), ResourceError is a
MemoryError and NonFiniteError a FloatingPointError.
"""

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


class ArgumentError(PyggmlError, ValueError, TypeError):
    """An argument has the wrong type or is out of range; the message names the argument."""


class ResourceError(PyggmlError, MemoryError):
    """The machine cannot provide what was asked: memory for a model's buffers, or its threads."""


class GPUError(PyggmlError, RuntimeError):
    """A GPU placement that cannot be honoured: no usable GPU, not enough GPU memory, or a
    tensor the GPU kernels do not handle (pyggml.runtime.gpu). Raised before anything is uploaded."""


class NonFiniteError(PyggmlError, FloatingPointError):
    """A forward pass produced a NaN or an infinity; the message names where it first appeared."""


def show_value(value) -> str:
    """A metadata value or argument as an error message shows it: short, an array as its
    first items and its length."""
    if isinstance(value, list):
        head = ", ".join(show_value(v) for v in value[:4])
        return f"[{head}{', ...' if len(value) > 4 else ''}] (an array of {len(value)})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
