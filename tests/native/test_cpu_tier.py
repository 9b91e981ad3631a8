"""The kernel tier: PYGGML_CPU_TIER caps it (read once, when the module loads, so each case runs
in a fresh interpreter), `pyggml info` names it, an unknown name is ignored by the kernels and
refused by Model.load, and a model's matrices (repacked, many tokens, several threads) give the
same bits under every x86 tier this CPU runs (the scalar tier keeps the file layout, whose
kernels sum in another order)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from support.cpu_tiers import AVAILABLE
from test_kernels import random_weights

from pyggml import _core
from pyggml.errors import ArgumentError
from pyggml.runtime import cpu_tier

PACKAGE_PARENT = Path(_core.__file__).resolve().parent.parent  # wherever the tested pyggml lives

SCRIPT = """
import sys, numpy as np
from pyggml import _core
d = np.load(sys.argv[1])
pool = _core.ThreadPool(2)
out = {"tier": np.array(_core.cpu_isa())}
for name in d["types"]:
    typ, w = int(d[name + "_id"]), d[name + "_w"]
    layout = _core.testing.repacked_layout(typ)
    if layout:
        w = _core.testing.repack(w, typ, int(d["n_cols"]))
    out[name] = _core.testing.matmul(pool, typ, w, int(d["n_cols"]), d["x"], layout=layout)
np.savez(sys.argv[2], **out)
"""


def run_python(args, tier, cwd):
    path = os.pathsep.join(p for p in (str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1"}
    env.pop("PYGGML_CPU_TIER", None)
    if tier is not None:
        env["PYGGML_CPU_TIER"] = tier
    return subprocess.run([sys.executable, *args], check=True, timeout=300, cwd=cwd, env=env, capture_output=True,
                          text=True).stdout


@pytest.mark.skipif("avx2" not in AVAILABLE, reason="the tiers above avx2 are x86-64 tiers; this CPU runs no avx2")
def test_every_tier_gives_the_same_matmul(tmp_path):
    rng = np.random.default_rng(21)
    n_cols, types = 512, ["Q4_K", "Q6_K", "Q4_0", "Q5_0", "Q8_0"]
    data = {"types": np.array(types), "n_cols": np.array(n_cols), "x": rng.standard_normal((21, n_cols)).astype(np.float32)}
    for name in types:
        data[name + "_id"] = np.array(int(QT[name]))
        data[name + "_w"] = random_weights(rng, name, 72, n_cols)
    np.savez(tmp_path / "in.npz", **data)
    (tmp_path / "run.py").write_text(SCRIPT)
    outs = {}
    tiers = [t for t in AVAILABLE if t != "scalar"]
    for tier in tiers:
        run_python([str(tmp_path / "run.py"), str(tmp_path / "in.npz"), str(tmp_path / f"{tier}.npz")], tier, tmp_path)
        outs[tier] = np.load(tmp_path / f"{tier}.npz")
        assert str(outs[tier]["tier"]) == tier
    for tier, out in outs.items():
        for name in types:
            np.testing.assert_array_equal(out[name], outs["avx2"][name], err_msg=f"{name} {tier}")


def test_cap_keeps_lower_tiers(tmp_path):
    code = "from pyggml import _core; t = _core.cpu_tier(); print(t['tier'], t['highest'], t['request_known'])"
    highest = AVAILABLE[-1]
    assert run_python(["-c", code], None, tmp_path).split() == [highest, highest, "True"]
    assert run_python(["-c", code], "scalar", tmp_path).split() == ["scalar", highest, "True"]
    assert run_python(["-c", code], "no-such-tier", tmp_path).split() == [highest, highest, "False"]
    if highest == "avx512":  # a tier this CPU lacks below the highest caps at the tier under it
        want = "avxvnni" if "avxvnni" in AVAILABLE else "avx2"
        assert run_python(["-c", code], "avxvnni", tmp_path).split()[0] == want


def test_info_names_the_tier(tmp_path):
    code = "from pyggml.runtime.cpu_tier import describe_cpu_tier; print(describe_cpu_tier())"
    assert run_python(["-c", code], None, tmp_path).startswith(f"{AVAILABLE[-1]} (this CPU runs {', '.join(AVAILABLE)})")
    assert "capped by PYGGML_CPU_TIER=scalar" in run_python(["-c", code], "scalar", tmp_path)
    assert "names no tier" in run_python(["-c", code], "sse9", tmp_path)


def test_model_load_refuses_an_unknown_tier_name(tmp_path, monkeypatch):
    real = _core.cpu_tier()
    monkeypatch.setattr(cpu_tier._core, "cpu_tier", lambda: {**real, "requested": "sse9", "request_known": False})
    with pytest.raises(ArgumentError, match="PYGGML_CPU_TIER='sse9' names no CPU tier"):
        cpu_tier.check_cpu_tier_request()


def test_macos_arm64_probe_reads_the_sysctl_names():
    """macOS has no HWCAP bits: on Apple silicon the probe reads sysctl's hw.optional names (what
    `sysctl hw.optional` prints there), so that an M1 runs the dotprod tier and an M2 the i8mm one."""
    m1 = {"hw.optional.AdvSIMD": 1, "hw.optional.neon": 1, "hw.optional.arm.FEAT_FP16": 1,
          "hw.optional.arm.FEAT_DotProd": 1, "hw.optional.arm.FEAT_I8MM": 0, "hw.optional.arm.FEAT_BF16": 0}
    m2 = {**m1, "hw.optional.arm.FEAT_I8MM": 1, "hw.optional.arm.FEAT_BF16": 1}

    def features(sysctl):
        f = _core.testing.darwin_arm64_features(sysctl)
        assert not any(f[k] for k in ("avx2", "fma", "f16c", "bmi2", "avx_vnni", "avx512", "avx512_vnni", "avx512_bf16"))
        return f["neon"], f["fp16"], f["dotprod"], f["i8mm"]

    assert features(m1) == (True, True, True, False)
    assert features(m2) == (True, True, True, True)
    # macOS 11 names no FEAT_DotProd: the dotprod tier's instructions are not assumed (neon runs)
    assert features({"hw.optional.neon": 1, "hw.optional.neon_fp16": 1}) == (True, True, False, False)
    assert features({}) == (False, False, False, False)


def test_macos_default_threads_are_the_performance_cores():
    """llama.cpp's default on a Mac: an M2 (4 performance + 4 efficiency cores) takes 4 threads;
    an Intel Mac, without performance levels, its physical cores."""
    m2 = {"hw.perflevel0.physicalcpu": 4, "hw.perflevel1.physicalcpu": 4, "hw.physicalcpu": 8, "hw.logicalcpu": 8}
    assert _core.testing.darwin_default_threads(m2) == 4
    assert _core.testing.darwin_default_threads({"hw.physicalcpu": 6, "hw.logicalcpu": 12}) == 6
    assert _core.testing.darwin_default_threads({}) == 0  # the caller falls back to every hardware thread


def _cpuinfo(cores):
    """/proc/cpuinfo's text for processors given as (physical id, core id) in processor order."""
    return "\n".join(f"processor\t: {i}\nvendor_id\t: GenuineIntel\nphysical id\t: {p}\nsiblings\t: 2\n"
                     f"core id\t\t: {c}\ncpu cores\t: 1\n" for i, (p, c) in enumerate(cores)) + "\n"


def test_default_threads_count_physical_and_performance_cores():
    """The default thread count: physical cores (SMT siblings once), and on an Intel CPU with
    efficiency cores only the performance ones (Linux lists their CPUs in
    /sys/devices/cpu_core/cpus), as llama.cpp's default."""
    count = _core.testing.count_physical_cores
    # two sockets of four cores with SMT: 16 processors, 8 cores (core ids repeat per socket)
    two_sockets = _cpuinfo([(p, c) for p in (0, 1) for c in range(4)] * 2)
    assert count(two_sockets) == 8
    # a Core i7-12700H: 6 performance cores with SMT (CPUs 0-11), 8 efficiency cores (12-19)
    hybrid = _cpuinfo([(0, c // 2 * 4) for c in range(12)] + [(0, 24 + c) for c in range(8)])
    assert count(hybrid) == 14
    assert count(hybrid, "0-11\n") == 6
    assert count(hybrid, "0-5,6-11") == 6
    assert count(hybrid, "12-19") == 8
    # aarch64's /proc/cpuinfo names no cores: 0, and the caller takes every hardware thread
    assert count("processor\t: 0\nBogoMIPS\t: 48.00\n\nprocessor\t: 1\nBogoMIPS\t: 48.00\n") == 0


def test_avx512_needs_the_os_to_save_its_registers():
    """XCR0 bits 5-7 (opmask, zmm) besides 1-2 (xmm, ymm); on macOS, which enables the AVX-512
    state when a thread first uses it (XCR0 shows it only afterwards), the ymm state suffices."""
    saves = _core.testing.os_saves_zmm
    assert saves(0xE7, False) and saves(0x2E7, False)
    assert not saves(0x7, False)  # a Linux or Windows kernel without AVX-512 support
    assert not saves(0x67, False)  # the upper zmm halves (bit 7) not saved
    assert saves(0x7, True)  # an Intel Mac with AVX-512 before its first use
    assert not saves(0x3, True)  # no ymm state: no AVX at all
