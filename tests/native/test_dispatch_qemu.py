"""Run-time dispatch on an x86-64 CPU without AVX: the module must load, pick the scalar
kernels and compute exactly what the scalar kernels compute here (run under
qemu-x86_64 -cpu Westmere, which has SSE4.2 but no AVX, F16C or FMA)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from test_kernels import random_weights

from pyggml import _core

PACKAGE_PARENT = Path(_core.__file__).resolve().parent.parent  # wherever the tested pyggml lives
QEMU = shutil.which("qemu-x86_64")

pytestmark = [
    pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or not QEMU,
                       reason="needs an x86-64 host with qemu-x86_64 (.ci/install-cross-tools.sh)"),
    # An AddressSanitizer build needs libasan preloaded, which qemu-user cannot host.
    pytest.mark.skipif(bool(os.environ.get("PYGGML_UNDER_ASAN")), reason="the ASan module cannot run under qemu-user"),
]

TYPES = ["F16", "Q4_0", "Q5_0", "Q8_0", "Q4_K", "Q6_K"]

SCRIPT = """
import sys, numpy as np
from pyggml import _core
d = np.load(sys.argv[1])
pool = _core.ThreadPool(2)
out = {"isa": np.array(_core.cpu_isa()), "repack": np.array(_core.testing.repack_preferred())}
for name in d["types"]:
    out[name] = _core.testing.matmul(pool, int(d[name + "_id"]), d[name + "_w"], int(d["n_cols"]), d["x"])
q = d["x"][:, :64].reshape(5, 2, 32)
out["attend"] = _core.testing.ops_attend(q, q[:, :1], q[:, :1], 1, 0, 0.0, 2, 2, "best")
out["gelu"] = _core.testing.ops_act_mul("gelu_tanh", d["x"], d["x"], "best")
np.savez(sys.argv[2], **out)
"""


def test_scalar_dispatch_without_avx(tmp_path):
    rng = np.random.default_rng(9)
    n_cols = 512
    x = rng.standard_normal((5, n_cols)).astype(np.float32)
    data = {"types": np.array(TYPES), "n_cols": np.array(n_cols), "x": x}
    for name in TYPES:
        data[name + "_id"] = np.array(int(QT[name]))
        data[name + "_w"] = random_weights(rng, name, 7, n_cols)
    np.savez(tmp_path / "in.npz", **data)
    (tmp_path / "run.py").write_text(SCRIPT)
    subprocess.run([QEMU, "-cpu", "Westmere", sys.executable, str(tmp_path / "run.py"), str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz")], check=True, timeout=300, cwd=tmp_path,
                   env={"PYTHONPATH": str(PACKAGE_PARENT), "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    out = np.load(tmp_path / "out.npz")
    assert str(out["isa"]) == "scalar"
    assert not out["repack"]  # models keep the file layout without the AVX2 kernels
    for name in TYPES:
        act = _core.testing.quantize_activations(int(QT[name]), x, "scalar")
        want = _core.testing.vec_dot(int(QT[name]), "scalar", data[name + "_w"], act, n_cols)
        np.testing.assert_array_equal(out[name], want, err_msg=name)
    # the forward pass's element-wise and attention kernels fall back to the references
    q = x[:, :64].reshape(5, 2, 32)
    np.testing.assert_array_equal(out["attend"], _core.testing.ops_attend(q, q[:, :1], q[:, :1], 1, 0, 0.0, 2, 2, "scalar"))
    np.testing.assert_array_equal(out["gelu"], _core.testing.ops_act_mul("gelu_tanh", x, x, "scalar"))
