"""NEON kernels, cross-compiled for aarch64 and run under qemu-user, against the scalar ones:
the dot kernels (vec_dot_neon.cpp) and the kernels over repacked weights of the neon (SDOT,
repack_neon.cpp) and i8mm (SMMLA, repack_i8mm.cpp) tiers.

tests/native/neon_kernels_main.cpp is built with aarch64-linux-gnu-g++ together with
cpp/kernels/vec_dot*.cpp and their twins cpp/arch/arm/vec_dot*_neon.cpp and fed the same kind of cases as
test_kernels.py. Checks: the aarch64 scalar reference equals the x86 one bit for bit
(both are plain IEEE arithmetic without contraction); NEON equals the scalar reference
bit for bit on unit-scale data and within the float-summation bound otherwise.
.ci/install-cross-tools.sh installs the tools on CI. On an aarch64 host the NEON
kernels are part of the module and test_kernels.py checks them natively.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_kernels import (LAYOUT, QUANTIZED, ALL_TYPES, dequantize_activations, dequantize_weights, dot_type_name,
                          make_case, random_weights, tolerance, type_id, unit_scale_activations)

from pyggml import _core

ROOT = Path(__file__).resolve().parents[2]
CXX = shutil.which("aarch64-linux-gnu-g++")
QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")

ON_X86 = platform.machine() in ("x86_64", "AMD64")
if ON_X86 and not (CXX and QEMU) and os.environ.get("CI"):
    # CI installs the tools (.ci/install-cross-tools.sh): missing tools there are a failure.
    raise RuntimeError("aarch64-linux-gnu-g++ / qemu-aarch64 missing: run .ci/install-cross-tools.sh")
pytestmark = pytest.mark.skipif(
    not ON_X86 or not (CXX and QEMU),
    reason="needs an x86-64 host with aarch64-linux-gnu-g++ and qemu-aarch64 (.ci/install-cross-tools.sh)",
)


@pytest.fixture(scope="module")
def neon_binary(tmp_path_factory):
    exe = tmp_path_factory.mktemp("neon") / "neon_kernels"
    cmd = [CXX, "-O2", "-std=c++17", "-ffp-contract=off", "-march=armv8.2-a+dotprod+fp16", "-static",
           f"-I{ROOT / 'cpp'}", str(ROOT / "cpp" / "kernels" / "vec_dot.cpp"),
           str(ROOT / "cpp" / "arch" / "arm" / "vec_dot_neon.cpp"),
           *(str(ROOT / "cpp" / d / f"vec_dot_{family}{suffix}.cpp")
             for family in ("ternary", "fp4", "q1_0", "iq", "int8", "bnb4")
             for d, suffix in (("kernels", ""), ("arch/arm", "_neon"))),
           str(ROOT / "tests" / "native" / "neon_kernels_main.cpp"), str(ROOT / "cpp" / "quant" / "iq_grids.cpp"),
           str(ROOT / "cpp" / "quant" / "bnb4.cpp"), str(ROOT / "cpp" / "kernels" / "grid_x8.cpp"), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return exe


def run_cases(exe, tmp_path, cases):
    """cases: [(name, w, a, n_cols)] -> [(scalar_aarch64, neon)] float32 (n_tokens, n_rows)."""
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    with open(src, "wb") as f:
        for name, w, a, n_cols in cases:
            hdr = [type_id(name), n_cols, w.shape[0], a.shape[0], w.shape[1], a.shape[1]]
            f.write(np.array(hdr, np.int32).tobytes() + w.tobytes() + a.tobytes())
    subprocess.run([QEMU, "-cpu", "max", str(exe), str(src), str(dst)], check=True, timeout=300)
    out = np.fromfile(dst, np.float32)
    results, pos = [], 0
    for _, w, a, _ in cases:
        size = w.shape[0] * a.shape[0]
        ref = out[pos:pos + size].reshape(a.shape[0], w.shape[0])
        neon = out[pos + size:pos + 2 * size].reshape(a.shape[0], w.shape[0])
        results.append((ref, neon))
        pos += 2 * size
    assert pos == out.size
    return results


def test_neon_kernels_match_scalar(neon_binary, tmp_path):
    rng = np.random.default_rng(42)
    random_cases, exact_cases = [], []
    for name in ALL_TYPES:
        for _ in range(4):
            n_rows, n_tokens, n_blocks = (int(v) for v in rng.integers(1, 8, 3))
            w, a, n_cols = make_case(rng, name, n_rows, n_tokens, n_blocks)
            random_cases.append((name, w, a, n_cols))
    for name in QUANTIZED:
        dot_type = dot_type_name(name)
        n_cols = 256 if dot_type == "Q8_K" else max(64, LAYOUT[name][0])
        w = random_weights(rng, name, 8, n_cols, unit_scales=True)
        a = unit_scale_activations(rng, dot_type, 3, n_cols)
        bound = (np.abs(dequantize_activations(dot_type, a, n_cols)) @ (np.abs(dequantize_weights(name, w, n_cols)) + 126).T)
        assert bound.max() < 2**24
        exact_cases.append((name, w, a, n_cols))
    results = run_cases(neon_binary, tmp_path, random_cases + exact_cases)
    for (name, w, a, n_cols), (ref, neon) in zip(random_cases + exact_cases, results):
        host = _core.testing.vec_dot(type_id(name), "scalar", w, a, n_cols)
        np.testing.assert_array_equal(ref, host, err_msg=f"{name}: aarch64 scalar differs from x86 scalar")
    for (name, w, a, n_cols), (ref, neon) in zip(random_cases, results):
        assert np.all(np.abs(neon - ref) <= tolerance(name, w, a, n_cols)), name
    for (name, w, a, n_cols), (ref, neon) in zip(exact_cases, results[len(random_cases):]):
        np.testing.assert_array_equal(neon, ref, err_msg=f"{name}: NEON integer dot differs")


# ---- the kernels over repacked weights (cpp/arch/arm/repack_neon.cpp)

# type: its layout id (cpp/kernels/weight_view.h)
REPACKED = {"Q2_K": 13, "Q3_K": 12, "Q4_K": 1, "Q4_0": 2, "Q8_0": 3, "Q5_0": 4, "Q6_K": 5, "Q5_K": 8, "Q4_1": 9, "Q5_1": 10, "IQ4_XS": 11, "IQ4_NL": 6, "MXFP4": 7}


def build_neon_repack(d: Path) -> Path:
    """tests/native/neon_repack_main.cpp and each aarch64 tier's file compiled with its own flags
    (CMakeLists.txt), linked together into d / "neon_repack" (the objects stay in d)."""
    objs = []
    for src, march in (("cpp/arch/arm/repack_neon.cpp", "armv8.2-a+dotprod+fp16"),
                       ("cpp/arch/arm/repack_i8mm.cpp", "armv8.2-a+dotprod+fp16+i8mm"),
                       ("tests/native/neon_repack_main.cpp", "armv8.2-a+dotprod+fp16")):
        obj = d / (Path(src).stem + ".o")
        subprocess.run([CXX, "-O3", "-std=c++17", "-ffp-contract=off", f"-march={march}", f"-I{ROOT / 'cpp'}", "-c",
                        str(ROOT / src), "-o", str(obj)], check=True, capture_output=True, timeout=300)
        objs.append(str(obj))
    exe = d / "neon_repack"
    subprocess.run([CXX, "-static", *objs, "-o", str(exe)], check=True, capture_output=True, timeout=300)
    return exe


@pytest.fixture(scope="module")
def neon_repack_binary(tmp_path_factory):
    return build_neon_repack(tmp_path_factory.mktemp("neon"))


@pytest.mark.parametrize("name", list(REPACKED))
@pytest.mark.parametrize("tier", ["neon", "i8mm"])
def test_neon_repacked_kernels_equal_the_reference(neon_repack_binary, tmp_path, tier, name):
    """Every tokens-per-call from 1 to 4 (i8mm: tokens in pairs through SMMLA, an odd one through
    SDOT), random and extreme weights: bit for bit what the scalar reference gives (computed by
    this host's build; the aarch64 references give the same bits, test_neon_kernels_match_scalar).
    qemu's `max` CPU has both dot product and I8MM."""
    from test_repack import _extreme

    rng = np.random.default_rng(31)
    cases = []
    for n_rows, n_cols, extreme in ((16, 512, False), (24, 768, False), (8, 512, True)):
        w = random_weights(rng, name, n_rows, n_cols)
        x = rng.standard_normal((6, n_cols)).astype(np.float32)
        if extreme:
            w = _extreme(name, w)
            x = np.where(rng.random(x.shape) < 0.5, -1.0, 1.0).astype(np.float32)
            x[1] = 1.0
        packed = _core.testing.repack(w, type_id(name), n_cols)
        act = _core.testing.repacked_activations(type_id(name), x)
        cases.append((name, n_cols, packed, act))
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    with open(src, "wb") as f:
        for name, n_cols, packed, act in cases:
            hdr = [REPACKED[name], n_cols, packed.shape[0], act.shape[0], packed.shape[1], act.shape[1]]
            f.write(np.array(hdr, np.int32).tobytes() + packed.tobytes() + act.tobytes())
    subprocess.run([QEMU, "-cpu", "max", str(neon_repack_binary), tier, str(src), str(dst)], check=True, timeout=300)
    out = np.fromfile(dst, np.float32)
    pos = 0
    for name, n_cols, packed, act in cases:
        want = _core.testing.vec_dot_repacked("scalar", type_id(name), packed, act, n_cols)
        for nt in range(1, 5):
            got = out[pos:pos + want.size].reshape(want.shape)
            pos += want.size
            np.testing.assert_array_equal(got, want, err_msg=f"{tier} {name} {packed.shape} tokens per call {nt}")
    assert pos == out.size
