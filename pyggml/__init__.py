"""pyggml: run and quantize GGUF language models on the CPU."""

try:
    from . import _core
except ImportError as e:  # a source checkout without a build, usually
    raise ImportError(
        f"pyggml's native module _core is missing next to {__file__}: install pyggml with "
        "`pip install .` and run from outside the source tree (or use `pytest`, not `python -m pytest`, "
        "in it), or build it in place with `cmake -S . -B build/dev && cmake --build build/dev`"
    ) from e

from . import models
from .api.llama import Llama
from .errors import ArgumentError, GGUFError, GPUError, NonFiniteError, PyggmlError, ResourceError
from .formats.gguf_file import GGUFFile, TensorInfo
from .formats.quants import dequantize, quantize
from .formats.types import GGMLType
from .runtime.model import ContextFullError, Model
from .runtime.sampling import Sampler, SamplingParams
from .text.chat_template import ChatTemplate
from .text.tokenizer import Tokenizer

__version__ = "0.1.0"

__all__ = [
    "ArgumentError", "ChatTemplate", "ContextFullError", "GGMLType", "GGUFError", "GGUFFile", "GPUError", "Llama",
    "Model", "NonFiniteError", "PyggmlError", "ResourceError", "Sampler", "SamplingParams", "TensorInfo", "Tokenizer",
    "dequantize", "models", "quantize", "__version__",
]
