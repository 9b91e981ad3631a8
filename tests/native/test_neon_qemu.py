"""NEON kernels, cross-compiled for aarch64 and run under qemu-user, against the scalar ones:
the dot kernels (vec_dot_neon.cpp), the kernels over repacked weights of the neon and dotprod
(repack_neon.cpp) and i8mm (SMMLA, repack_i8mm.cpp) tiers, the forward pass's ops (ops_neon.cpp)
and the activations' conversions (quantize_act_neon.cpp). Each program is built for both
compiles of the NEON files (arch/arm/neon_tier.h): the neon tier's (-march=armv8-a, run on
qemu's Cortex-A72, an ARMv8.0 core on which SDOT is an illegal instruction) and the dotprod
tier's (run on qemu's `max` CPU); each with aarch64-linux-gnu-g++ and with clang++ (Apple's
compiler family). Every test runs on all four builds.

tests/native/neon_kernels_main.cpp is built together with
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
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_kernels import (LAYOUT, QUANTIZED, ALL_TYPES, dequantize_activations, dequantize_weights, dot_type_name,
                          make_case, random_weights, tolerance, type_id, unit_scale_activations)

from pyggml import _core

ROOT = Path(__file__).resolve().parents[2]


def _cross_compilers() -> dict[str, list[str]]:
    """The aarch64 C++ compilers the tests build with, by name: PYGGML_AARCH64_CXX alone where set
    (a command line); else aarch64-linux-gnu-g++ and, where clang++ is installed too, clang++ for
    aarch64 Linux on that toolchain's headers and libraries (clang: the compiler family of Apple's
    toolchain, which builds the module on an M-series Mac). Every test runs once per compiler."""
    if os.environ.get("PYGGML_AARCH64_CXX"):
        return {"custom": shlex.split(os.environ["PYGGML_AARCH64_CXX"])}
    gxx = shutil.which("aarch64-linux-gnu-g++")
    if not gxx:
        return {}
    found = {"g++": [gxx]}
    clang = shutil.which("clang++") or next(
        (path for v in range(30, 13, -1) if (path := shutil.which(f"clang++-{v}"))), None)
    if clang:
        found["clang"] = [clang, "--target=aarch64-linux-gnu"]
    return found


COMPILERS = _cross_compilers()
CXX = next(iter(COMPILERS.values()), [])  # the first: what the benchmarks build with
QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")

ON_X86 = platform.machine() in ("x86_64", "AMD64")
if ON_X86 and os.environ.get("CI") and not (QEMU and ("clang" in COMPILERS or "custom" in COMPILERS)):
    # CI installs the tools (.ci/install-cross-tools.sh): missing tools there are a failure.
    raise RuntimeError("aarch64-linux-gnu-g++ / clang++ / qemu-aarch64 missing: run .ci/install-cross-tools.sh")
pytestmark = pytest.mark.skipif(
    not ON_X86 or not (CXX and QEMU),
    reason="needs an x86-64 host with aarch64-linux-gnu-g++ and qemu-aarch64 (.ci/install-cross-tools.sh)",
)


# The two compiles of the NEON files: the tier, its -march (CMakeLists.txt) and the CPU qemu runs it on.
ARM_BUILDS = {"neon": ("armv8-a", "cortex-a72"), "dotprod": ("armv8.2-a+dotprod+fp16", "max")}
I8MM_MARCH = "armv8.2-a+dotprod+fp16+i8mm"


@dataclass(frozen=True)
class ArmBuild:
    """One build of a test program: the compiler's command, the tier whose compile it is."""

    cxx: list
    tier: str

    @property
    def march(self) -> str:
        return ARM_BUILDS[self.tier][0]

    def run(self, exe, *args) -> None:
        """exe under qemu on the tier's CPU (a Cortex-A72 for the neon tier: no SDOT, no FP16)."""
        subprocess.run([QEMU, "-cpu", ARM_BUILDS[self.tier][1], str(exe), *map(str, args)], check=True, timeout=300)


@pytest.fixture(scope="module", params=[(c, t) for c in COMPILERS for t in ARM_BUILDS] or [("none", "neon")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def arm_build(request):
    """The compiler and tier each test's programs are built for (every COMPILERS entry, both tiers)."""
    compiler, tier = request.param
    return ArmBuild(COMPILERS.get(compiler, []), tier)


@pytest.fixture(scope="module")
def neon_binary(tmp_path_factory, arm_build):
    exe = tmp_path_factory.mktemp("neon") / "neon_kernels"
    cmd = [*arm_build.cxx, "-O2", "-std=c++17", "-ffp-contract=off", f"-march={arm_build.march}", "-static",
           f"-I{ROOT / 'cpp'}", str(ROOT / "cpp" / "kernels" / "vec_dot.cpp"),
           str(ROOT / "cpp" / "arch" / "arm" / "vec_dot_neon.cpp"),
           *(str(ROOT / "cpp" / d / f"vec_dot_{family}{suffix}.cpp")
             for family in ("ternary", "fp4", "q1_0", "iq", "int8", "bnb4")
             for d, suffix in (("kernels", ""), ("arch/arm", "_neon"))),
           str(ROOT / "tests" / "native" / "neon_kernels_main.cpp"), str(ROOT / "cpp" / "quant" / "iq_grids.cpp"),
           str(ROOT / "cpp" / "quant" / "bnb4.cpp"), str(ROOT / "cpp" / "kernels" / "grid_x8.cpp"), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return arm_build, exe


def run_cases(binary, tmp_path, cases):
    """cases: [(name, w, a, n_cols)] -> [(scalar_aarch64, neon)] float32 (n_tokens, n_rows)."""
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    with open(src, "wb") as f:
        for name, w, a, n_cols in cases:
            hdr = [type_id(name), n_cols, w.shape[0], a.shape[0], w.shape[1], a.shape[1]]
            f.write(np.array(hdr, np.int32).tobytes() + w.tobytes() + a.tobytes())
    build, exe = binary
    build.run(exe, src, dst)
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


def build_neon_repack(d: Path, cxx: list[str] = CXX, tier: str = "dotprod") -> Path:
    """tests/native/neon_repack_main.cpp and repack_neon.cpp compiled for the tier (neon or dotprod),
    with repack_i8mm.cpp on its own flags beside the dotprod compile (CMakeLists.txt), linked
    together into d / "neon_repack" (the objects stay in d)."""
    objs = []
    march = ARM_BUILDS[tier][0]
    sources = [("cpp/arch/arm/repack_neon.cpp", march), ("tests/native/neon_repack_main.cpp", march)]
    if tier == "dotprod":
        sources.append(("cpp/arch/arm/repack_i8mm.cpp", I8MM_MARCH))
    for src, march in sources:
        obj = d / (Path(src).stem + ".o")
        subprocess.run([*cxx, "-O3", "-std=c++17", "-ffp-contract=off", f"-march={march}", f"-I{ROOT / 'cpp'}", "-c",
                        str(ROOT / src), "-o", str(obj)], check=True, capture_output=True, timeout=300)
        objs.append(str(obj))
    exe = d / "neon_repack"
    subprocess.run([*cxx, "-static", *objs, "-o", str(exe)], check=True, capture_output=True, timeout=300)
    return exe


@pytest.fixture(scope="module")
def neon_repack_binary(tmp_path_factory, arm_build):
    return arm_build, build_neon_repack(tmp_path_factory.mktemp("neon"), arm_build.cxx, arm_build.tier)


@pytest.mark.parametrize("name", list(REPACKED))
def test_neon_repacked_kernels_equal_the_reference(neon_repack_binary, tmp_path, name):
    """Every tokens-per-call from 1 to 4 (i8mm: tokens in pairs through SMMLA, an odd one through
    SDOT), random and extreme weights: bit for bit what the scalar reference gives (computed by
    this host's build; the aarch64 references give the same bits, test_neon_kernels_match_scalar).
    The neon build's kernels on an ARMv8.0 CPU; the dotprod build's dotprod and i8mm kernels on
    qemu's `max` CPU, which has both dot product and I8MM."""
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
    build, exe = neon_repack_binary
    for tier in ("neon",) if build.tier == "neon" else ("dotprod", "i8mm"):
        build.run(exe, tier, src, dst)
        out = np.fromfile(dst, np.float32)
        pos = 0
        for name, n_cols, packed, act in cases:
            want = _core.testing.vec_dot_repacked("scalar", type_id(name), packed, act, n_cols)
            for nt in range(1, 5):
                got = out[pos:pos + want.size].reshape(want.shape)
                pos += want.size
                np.testing.assert_array_equal(got, want, err_msg=f"{tier} {name} {packed.shape} tokens per call {nt}")
        assert pos == out.size


# ---- the attention tile (cpp/arch/arm/ops_neon.cpp)

# n_tok, n_head, n_kv, hdk, hdv, n_keys, window, softcap, sinks, key cap (attn_tile::n_keys: 0 none)
NEON_ATTN_CASES = [
    (1, 12, 2, 128, 128, 300, 0, 0.0, False, 0),  # decoding, Qwen2.5's heads: groups of six
    (9, 4, 1, 32, 32, 30, 0, 0.0, False, 0),
    (5, 8, 2, 64, 64, 40, 16, 0.0, False, 0),  # a sliding window
    (4, 4, 2, 64, 32, 33, 0, 30.0, False, 0),  # soft-capped scores, value heads narrower
    (3, 8, 1, 256, 256, 50, 0, 0.0, True, 0),  # a group of eight heads (six and two), sinks
    (6, 4, 2, 32, 64, 20, 0, 0.0, False, 17),  # every token sees the first 17 keys (a chunk)
    (2, 4, 2, 24, 40, 11, 0, 0.0, False, 0),  # head dims of 8s but not 32s: no Q8_0
    (3, 2, 1, 20, 20, 9, 0, 0.0, False, 0),  # not of 8s: the reference itself
]


def build_neon_program(d: Path, name: str, sources: list[str], cxx: list[str] = CXX, tier: str = "dotprod") -> Path:
    """Each source (relative to the project root) compiled for the tier (neon or dotprod) with the
    Release flags (-O3) into d / STEM.o, linked into d / name (the objects stay in d)."""
    objs = []
    for src in sources:
        obj = d / (Path(src).stem + ".o")
        subprocess.run([*cxx, "-O3", "-std=c++17", "-ffp-contract=off", f"-march={ARM_BUILDS[tier][0]}",
                        f"-I{ROOT / 'cpp'}", "-c", str(ROOT / src), "-o", str(obj)], check=True, capture_output=True,
                       timeout=300)
        objs.append(str(obj))
    subprocess.run([*cxx, "-static", *objs, "-o", str(d / name)], check=True, capture_output=True, timeout=300)
    return d / name


NEON_OPS_SOURCES = ["cpp/kernels/ops.cpp", "cpp/arch/arm/ops_neon.cpp", "tests/native/neon_ops_main.cpp"]
NEON_QUANTIZE_ACT_SOURCES = ["cpp/quant/legacy.cpp", "cpp/quant/k.cpp", "cpp/quant/search.cpp",
                             "cpp/arch/arm/quantize_act_neon.cpp", "tests/native/neon_quantize_act_main.cpp"]


@pytest.fixture(scope="module")
def neon_ops_binary(tmp_path_factory, arm_build):
    return arm_build, build_neon_program(tmp_path_factory.mktemp("neon"), "neon_ops", NEON_OPS_SOURCES, arm_build.cxx,
                                         arm_build.tier)


def _kv_storage(x, kind):
    """x (float32) as the cache holds it: float32, F16 bits or Q8_0 blocks (gguf's quantizer)."""
    if kind == 0:
        return x.tobytes()
    if kind == 1:
        return x.astype(np.float16).tobytes()
    from gguf import GGMLQuantizationType, quants

    return quants.quantize(x.reshape(-1, 32), GGMLQuantizationType.Q8_0).tobytes()


def test_neon_attention_tile_agrees_with_the_reference(neon_ops_binary, tmp_path):
    """Float32, F16 and Q8_0 keys and values, tiles of one row and of whole groups: the NEON tile's
    outputs and log-sum-exps are the reference's (both built for aarch64) within the polynomial
    exp's few ulps, as the x86 tiles' are; its scores and its products with the values are the
    reference's own operations, so the outputs differ only through the probabilities."""
    from test_ops import np_attend

    rng = np.random.default_rng(11)
    runs = []
    for case in NEON_ATTN_CASES:
        n_tok, n_head, n_kv, hdk, hdv, n_keys, window, softcap, has_sinks, cap = case
        q = (rng.standard_normal((n_tok, n_head, hdk)) / np.sqrt(hdk)).astype(np.float32)
        k = rng.standard_normal((n_keys, n_kv, hdk)).astype(np.float32)
        v = rng.standard_normal((n_keys, n_kv, hdv)).astype(np.float32)
        sinks = np.linspace(-3, 3, n_head).astype(np.float32)
        for kind in (0, 1, 2):
            if kind == 2 and (hdk % 32 or hdv % 32):
                continue
            for tile_tok, tile_heads in ((1, 1), (n_tok, n_head // n_kv)):
                runs.append((case, kind, tile_tok, tile_heads, q, k, v, sinks))
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    with open(src, "wb") as f:
        for (n_tok, n_head, n_kv, hdk, hdv, n_keys, window, softcap, has_sinks, cap), kind, tt, th, q, k, v, sinks in runs:
            hdr = [n_tok, n_head, n_kv, hdk, hdv, n_keys, window, kind, tt, th, int(has_sinks), cap]
            f.write(np.array(hdr, np.int32).tobytes() + np.float32(softcap).tobytes() + q.tobytes()
                    + _kv_storage(k, kind) + _kv_storage(v, kind) + (sinks.tobytes() if has_sinks else b""))
    build, exe = neon_ops_binary
    build.run(exe, "attend", src, dst)
    out = np.fromfile(dst, np.float32)
    pos = 0
    for case, kind, tt, th, q, k, v, sinks in runs:
        n_tok, n_head, n_kv, hdk, hdv, n_keys, window, softcap, has_sinks, cap = case
        got = []
        for _ in range(2):  # the reference, then NEON
            o = out[pos:pos + n_tok * n_head * hdv].reshape(n_tok, n_head, hdv)
            pos += o.size
            lse = out[pos:pos + n_tok * n_head]
            pos += lse.size
            got.append((o, lse))
        (ref, ref_lse), (neon, neon_lse) = got
        what = f"case {case} kind {kind} tile {tt}x{th}"
        np.testing.assert_allclose(neon, ref, rtol=0, atol=2e-6, err_msg=what)
        np.testing.assert_allclose(neon_lse, ref_lse, rtol=1e-6, atol=0, err_msg=what)
        if kind == 0 and not has_sinks and not cap:  # the harness's tiles attend as numpy does
            np.testing.assert_allclose(ref, np_attend(q, k, v, n_keys - n_tok + 1, window, softcap), rtol=0, atol=1e-5)
    assert pos == out.size


# ---- RMSNorm and the activations (cpp/arch/arm/ops_neon.cpp), RoPE

def _elementwise_cases():
    """(op, rows, n, a, b, f, arrays) as neon_ops_main.cpp's elementwise mode reads them."""
    rng = np.random.default_rng(5)
    cases = []
    for n in (1, 3, 7, 8, 37, 640, 1536):
        x = rng.standard_normal((3, n)).astype(np.float32) * 3
        w = rng.standard_normal(n).astype(np.float32)
        cases.append((0, 3, n, 1, 0, 1e-6, (x, w)))
        cases.append((0, 3, n, 0, 0, 1e-5, (x,)))
    # the tails (|g| up to 120, where e^x leaves the float range) and the region near 0; a
    # length of neither 4s nor 8s, so that the scalar tail runs too
    g = np.concatenate([rng.standard_normal(1000) * 4, np.linspace(-120, 120, 997), [0.0, -0.0, 1e-30]])
    g = g.astype(np.float32)[None, :]
    up = rng.standard_normal(g.shape).astype(np.float32)
    for op in (1, 2):
        cases.append((op, 1, g.shape[1], 0, 0, 0.0, (g, up)))
    for head_dim, n_rot in ((64, 64), (48, 32), (40, 40), (256, 256), (12, 6)):
        x = rng.standard_normal((3, head_dim)).astype(np.float32)
        for neox in (0, 1):
            for pos in (0.0, 5.0, 1234.0, -7.0):
                cases.append((3, 3, head_dim, n_rot, neox, pos, (x,)))
    return cases


def test_neon_elementwise_ops_match_the_reference(neon_ops_binary, tmp_path):
    """RMSNorm (its sum of squares in lanes) and the activations (the AVX2 twins' polynomial
    exp) within the bounds test_ops.py sets for every tier, against the reference built for
    aarch64 and against numpy; the activations equal the AVX2 twin's bit for bit where both
    take whole vectors (the same exp, instruction for instruction). RoPE, which the neon tier
    leaves to the reference (the compiler vectorizes it), and RMSNorm's reference give the
    host's bits."""
    from test_ops import np_act, np_rms_norm

    cases = _elementwise_cases()
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    with open(src, "wb") as f:
        for op, rows, n, a, b, fv, arrays in cases:
            f.write(np.array([op, rows, n, a, b], np.int32).tobytes() + np.float32(fv).tobytes()
                    + b"".join(x.tobytes() for x in arrays))
    build, exe = neon_ops_binary
    build.run(exe, "elementwise", src, dst)
    out = np.fromfile(dst, np.float32)
    pos = 0
    for op, rows, n, a, b, fv, arrays in cases:
        ref = out[pos:pos + rows * n].reshape(rows, n)
        neon = out[pos + rows * n:pos + 2 * rows * n].reshape(rows, n)
        pos += 2 * rows * n
        what = f"op {op} rows {rows} n {n} a {a} b {b} f {fv}"
        if op == 0:
            w = arrays[1] if a else None
            np.testing.assert_allclose(neon, ref, rtol=2e-7, atol=0, err_msg=what)
            np.testing.assert_allclose(neon, np_rms_norm(arrays[0], w, fv), rtol=2e-6, atol=1e-7, err_msg=what)
            # the host's reference is the same arithmetic
            np.testing.assert_array_equal(ref, _core.testing.ops_rms_norm(arrays[0], w, fv, "scalar"), err_msg=what)
        elif op in (1, 2):
            act = "silu" if op == 1 else "gelu_tanh"
            g, up = arrays
            atol = 1e-30 if act == "silu" else 5e-7
            np.testing.assert_allclose(neon, ref, rtol=3e-6, atol=atol, err_msg=what)
            np.testing.assert_allclose(neon, np_act(act, g) * up, rtol=3e-6, atol=atol, err_msg=what)
            if "avx2" in _core.cpu_tier()["available"]:
                whole = n // 8 * 8
                avx2 = _core.testing.ops_act_mul(act, g[0], up[0], "avx2")
                np.testing.assert_array_equal(neon[0, :whole], avx2[:whole], err_msg=what)
        else:
            np.testing.assert_array_equal(neon, ref, err_msg=what)
            host = _core.testing.ops_rope(arrays[0], a, bool(b), 10000.0, 1.0, fv, "scalar")
            np.testing.assert_array_equal(ref, host, err_msg=what)
    assert pos == out.size


# ---- the activations' conversions (cpp/arch/arm/quantize_act_neon.cpp)

@pytest.fixture(scope="module")
def neon_quantize_act_binary(tmp_path_factory, arm_build):
    return arm_build, build_neon_program(tmp_path_factory.mktemp("neon"), "neon_quantize_act",
                                         NEON_QUANTIZE_ACT_SOURCES, arm_build.cxx, arm_build.tier)


def test_neon_activation_conversions_equal_the_reference(neon_quantize_act_binary, tmp_path):
    """F16, Q8_0, Q8_1 and Q8_K rows from the NEON twins equal the scalar references' bytes (the
    references built for aarch64 and the host's):
    random rows, rows with ties at every rounding step, all-zero blocks, a block whose largest
    magnitude comes twice (Q8_K takes the first, with its sign), subnormal and large values."""
    from gguf import GGMLQuantizationType as QT

    rng = np.random.default_rng(3)
    k = 512
    rows = [rng.standard_normal(k) * s for s in (1.0, 1e-3, 300.0)]
    # halves in blocks whose largest magnitude is 127: scale 1, every quant a tie to round
    ties = np.clip(np.round(rng.standard_normal(k) * 40) + 0.5, -126.5, 126.5)
    ties[::32] = 127.0
    rows.append(ties)
    zero = rng.standard_normal(k)
    zero[:256] = 0.0  # a zero Q8_K block, eight zero Q8_0 blocks
    rows.append(zero)
    twice = rng.standard_normal(k)
    twice[5], twice[200] = 9.0, -9.0  # the largest magnitude twice, signs apart
    twice[300], twice[301] = -8.0, 8.0
    rows.append(twice)
    # subnormal values beside normal ones (a block whose largest magnitude is below about
    # 4e-37 has no defined quants: 127 / max overflows, in ggml's reference too, and its scale
    # is 0 whatever they are)
    sub = rng.standard_normal(k)
    sub[1::2] *= 1e-40
    rows.append(sub)
    rows.append(np.linspace(-70000, 70000, k))  # past F16's range
    x = np.stack(rows).astype(np.float32)
    # the dot type each weight type's activations take
    types = {"F16": (QT.F16, "F16"), "Q8_0": (QT.Q8_0, "Q8_0"), "Q8_1": (QT.Q8_1, "Q4_1"), "Q8_K": (QT.Q8_K, "Q4_K")}
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    with open(src, "wb") as f:
        for dot_type, _ in types.values():
            f.write(np.array([int(dot_type), x.shape[0], k], np.int32).tobytes() + x.tobytes())
    build, exe = neon_quantize_act_binary
    build.run(exe, src, dst)
    out = np.fromfile(dst, np.uint8)
    pos = 0
    for name, (_, weight_type) in types.items():
        want = _core.testing.quantize_activations(int(QT[weight_type]), x, "scalar")
        for which in ("reference", "neon"):
            got = out[pos:pos + want.size].reshape(want.shape)
            pos += want.size
            for r in range(x.shape[0]):
                np.testing.assert_array_equal(got[r], want[r], err_msg=f"{name} {which} row {r}")
    assert pos == out.size
