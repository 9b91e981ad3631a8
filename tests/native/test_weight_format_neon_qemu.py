"""The NEON twins of the load-time weight formats' kernels (cpp/arch/arm/vec_dot_{int8,bnb4}_neon.cpp),
cross-compiled for aarch64 and run under qemu-user (test_neon_qemu.py's binary and tools) against
the scalar references, for both compiles (the neon and dotprod tiers): the int8 family bit for bit (integer sums, the reference's float order),
NF4 / FP4 within float rounding (another summation order)."""

from __future__ import annotations


import numpy as np
import pytest
from test_neon_qemu import arm_build, neon_binary, pytestmark  # noqa: F401  (the fixtures, the tools' skip)

from pyggml import _core

IDS = {row["name"]: row["id"] for row in _core.runtime_type_table()}
INT8 = ("I8_ROW", "I8Z_ROW", "I8_B64", "I8Z_B64", "LLM_INT8")
BNB4 = ("NF4", "FP4", "NF4_DQ", "FP4_DQ")
T = _core.testing


def cases(rng):
    out = []
    for name in INT8 + BNB4:
        for rows, n, tokens in ((5, 320, 3), (2, 64, 1), (3, 64 * 260, 2)):
            w = (rng.standard_normal((rows, n)) * 0.1).astype(np.float32)
            x = rng.standard_normal((tokens, n)).astype(np.float32)
            x[0, 7] = 10.0  # an outlier (llm.int8, threshold 6)
            out.append((name, _core.quantize_weight(IDS[name], w), T.quantize_activations(IDS[name], x, "scalar", 6.0), n))
    return out


def test_neon_twins_match_scalar(neon_binary, tmp_path):  # noqa: F811
    cs = cases(np.random.default_rng(5))
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    with open(src, "wb") as f:
        for name, w, a, n in cs:
            hdr = [IDS[name], n, w.shape[0], a.shape[0], w.shape[1], a.shape[1]]
            f.write(np.array(hdr, np.int32).tobytes() + w.tobytes() + a.tobytes())
    build, exe = neon_binary
    build.run(exe, src, dst)
    out = np.fromfile(dst, np.float32)
    pos = 0
    for name, w, a, n in cs:
        size = w.shape[0] * a.shape[0]
        ref = out[pos:pos + size].reshape(a.shape[0], w.shape[0])
        neon = out[pos + size:pos + 2 * size].reshape(a.shape[0], w.shape[0])
        pos += 2 * size
        host = T.vec_dot(IDS[name], "scalar", w, a, n)
        np.testing.assert_array_equal(ref, host, err_msg=f"{name}: aarch64 scalar differs from x86 scalar")
        if name in INT8:
            np.testing.assert_array_equal(neon, ref, err_msg=name)
        else:
            np.testing.assert_allclose(neon, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max(), err_msg=name)
    assert pos == out.size
