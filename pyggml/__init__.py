"""pyggml: run and quantize GGUF language models on the CPU."""

from .errors import GGUFError, PyggmlError
from .quants import dequantize, quantize
from .types import GGMLType

__version__ = "0.1.0"

__all__ = ["GGMLType", "GGUFError", "PyggmlError", "dequantize", "quantize", "__version__"]
