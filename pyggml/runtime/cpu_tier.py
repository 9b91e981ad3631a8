"""The CPU kernel tier in use: which instruction-set kernels the native core dispatches to
(chosen once, at import, from the CPU's features), and the environment variable that caps it.

Tiers, lowest first: scalar (the references), avx2, avxvnni (AVX2 with AVX-VNNI's VPDPBUSD),
avx512 (AVX-512 F/BW/VL/DQ with VNNI) on x86-64; neon (ARMv8.0 Advanced SIMD), dotprod (with
SDOT and FP16) and i8mm (dotprod with SMMLA) on aarch64. Each runs the tiers below it
where it has no kernel of its own. PYGGML_CPU_TIER=avx2 (any tier name) keeps the choice at or
below that tier, for tests and speed comparisons; it is read once, when pyggml._core loads.

    >>> from pyggml.runtime.cpu_tier import cpu_tier
    >>> cpu_tier()["tier"] in cpu_tier()["available"]
    True
"""

from __future__ import annotations

from .. import _core
from ..errors import ArgumentError

TIER_NAMES = ("scalar", "avx2", "avxvnni", "avx512", "neon", "dotprod", "i8mm")


def cpu_tier() -> dict:
    """tier (in use), highest (the best this CPU runs), available (every tier it runs, lowest
    first), requested (PYGGML_CPU_TIER, or None), request_known, variable."""
    return dict(_core.cpu_tier())


def check_cpu_tier_request() -> None:
    """Raises ArgumentError when PYGGML_CPU_TIER names no tier (the kernels then ignore it)."""
    t = _core.cpu_tier()
    if t["requested"] is not None and not t["request_known"]:
        raise ArgumentError(f"{t['variable']}={t['requested']!r} names no CPU tier (one of {', '.join(TIER_NAMES)})")


def describe_cpu_tier() -> str:
    """One line: the tier in use, why, and what else this CPU runs."""
    t = _core.cpu_tier()
    line = f"{t['tier']} (this CPU runs {', '.join(t['available'])})"
    if t["requested"] is not None:
        if t["request_known"]:
            line += f"; capped by {t['variable']}={t['requested']}"
        else:
            line += f"; {t['variable']}={t['requested']!r} names no tier and is ignored"
    return line
