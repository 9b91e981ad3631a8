"""The architectures pyggml runs and converts, one module each; this is their registry.

Every module of this folder that defines ARCH (an Architecture, see base.py) is registered
under ARCH.name, the GGUF general.architecture: adding an architecture is adding a file. A
module with a CONVERSION but no ARCH (mixtral.py) converts checkpoints into another
architecture's files.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Optional

from .base import (DECODER_SITES, MOE_SITES, Architecture, CaptureSite, Conversion, ExpertScales, LayerTensor,
                   RuntimeSpec, Site, decoder_params)


def _discover() -> tuple:
    found, conversions = {}, []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        arch = getattr(module, "ARCH", None)
        if isinstance(arch, Architecture):
            found[arch.name] = arch
            if arch.conversion is not None:
                conversions.append(arch.conversion)
        elif isinstance(getattr(module, "CONVERSION", None), Conversion):
            conversions.append(module.CONVERSION)
    return found, conversions


ARCHITECTURES, _CONVERSIONS = _discover()


def get(name) -> Optional[Architecture]:
    """The architecture a GGUF file's general.architecture names, or None when pyggml lacks it."""
    return ARCHITECTURES.get(name) if isinstance(name, str) else None


def supported() -> str:
    """The names of the architectures pyggml runs, for messages: "gemma3, llama, ..."."""
    return ", ".join(sorted(ARCHITECTURES))


def conversions() -> list:
    """The Conversion of every architecture pyggml converts from Hugging Face checkpoints."""
    return list(_CONVERSIONS)


def for_hf_config(cfg: dict) -> Optional[Conversion]:
    """How to convert the checkpoint whose config.json is `cfg`: its "architectures" classes
    first, then its model_type; None when no architecture here converts it."""
    by_class = {c: conv for conv in conversions() for c in conv.hf_classes}
    for name in cfg.get("architectures") or []:
        if name in by_class:
            return by_class[name]
    by_type = {t: conv for conv in conversions() for t in conv.hf_model_types}
    return by_type.get(cfg.get("model_type"))


__all__ = ["ARCHITECTURES", "DECODER_SITES", "MOE_SITES", "Architecture", "CaptureSite", "Conversion", "ExpertScales",
           "LayerTensor", "RuntimeSpec", "Site", "conversions", "decoder_params", "for_hf_config", "get", "supported"]
