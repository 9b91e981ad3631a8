"""The CPU kernel tiers (pyggml/runtime/cpu_tier.py) as test parameters: a tier this machine
cannot run is skipped, with its name and what it needs in the reason."""

from __future__ import annotations

import platform

import pytest

from pyggml import _core

NEEDS = {
    "avx2": "x86-64 with AVX2, FMA, F16C and BMI2",
    "avxvnni": "x86-64 with AVX2 and AVX-VNNI (Intel Core 12th generation and later, Core Ultra)",
    "avx512": "x86-64 with AVX-512 F/BW/VL/DQ and VNNI (AMD Zen 4 and later, Intel Xeon since Cascade Lake)",
    "neon": "aarch64 with Advanced SIMD",
    "dotprod": "aarch64 with Advanced SIMD, dot product and FP16",
    "i8mm": "aarch64 with the dotprod tier's features and I8MM (SMMLA)",
}
AVAILABLE = tuple(_core.cpu_tier()["available"])
# The SIMD tiers of this machine's architecture (the other's are tested under qemu:
# test_neon_qemu.py on x86-64, and no x86 tier can run on aarch64).
HOST_SIMD_TIERS = (("neon", "dotprod", "i8mm") if platform.machine() in ("aarch64", "arm64")
                   else ("avx2", "avxvnni", "avx512"))


def tier_params(*tiers: str) -> list:
    """pytest parameters, one per tier, each skipped where this CPU does not run it."""
    return [
        pytest.param(t, id=t, marks=pytest.mark.skipif(
            t not in AVAILABLE, reason=f"the {t} tier needs {NEEDS[t]}; this CPU runs {', '.join(AVAILABLE)}"))
        for t in tiers
    ]
