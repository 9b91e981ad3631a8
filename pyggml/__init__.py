"""pyggml: run and quantize GGUF language models on the CPU."""

from . import models
from .errors import GGUFError, PyggmlError
from .gguf_file import GGUFFile, TensorInfo
from .model import ContextFullError, Model
from .quants import dequantize, quantize
from .types import GGMLType

__version__ = "0.1.0"

__all__ = ["ContextFullError", "GGMLType", "GGUFError", "GGUFFile", "Model", "TensorInfo", "models", "PyggmlError", "dequantize", "quantize", "__version__"]
