"""pyggml: run and quantize GGUF language models on the CPU."""

from . import models
from .errors import GGUFError, PyggmlError
from .gguf_file import GGUFFile, TensorInfo
from .model import ContextFullError, Model
from .quants import dequantize, quantize
from .types import GGMLType

__version__ = "0.1.0"

__all__ = ["ContextFullError", "GGMLType", "GGUFError", "GGUFFile", "Llama", "Model", "TensorInfo", "models", "PyggmlError", "dequantize", "quantize", "__version__"]


def __getattr__(name: str):
    # pyggml.Llama is imported on first use: it brings in jinja2 and the sampler.
    if name == "Llama":
        from .llama import Llama

        return Llama
    raise AttributeError(f"module 'pyggml' has no attribute {name!r}")
