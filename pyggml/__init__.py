"""pyggml: run and quantize GGUF language models on the CPU."""

from . import models
from .chat import ChatTemplate
from .errors import GGUFError, PyggmlError
from .gguf_file import GGUFFile, TensorInfo
from .llama import Llama
from .model import ContextFullError, Model
from .quants import dequantize, quantize
from .sampling import Sampler, SamplingParams
from .tokenizer import Tokenizer
from .types import GGMLType

__version__ = "0.1.0"

__all__ = [
    "ChatTemplate", "ContextFullError", "GGMLType", "GGUFError", "GGUFFile", "Llama", "Model", "PyggmlError",
    "Sampler", "SamplingParams", "TensorInfo", "Tokenizer", "dequantize", "models", "quantize", "__version__",
]
