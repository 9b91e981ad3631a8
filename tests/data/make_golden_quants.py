"""Regenerate tests/data/golden_quants.npz: ggml's own bytes for the k-quant and IQ4 formats,
the ternary, 4-bit float and 1-bit formats (TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0), and the
importance-weighted forms of the legacy Q4_0, Q4_1, Q5_0, Q5_1.

The CI test (tests/formats/test_quants_k.py) rebuilds the same inputs with `golden_inputs()` and
checks that pyggml's quantizers reproduce these bytes exactly, so it runs without llama.cpp.

The expected bytes come from ggml itself: the libggml-base shared library bundled with
llama-cpp-python (`pip install llama-cpp-python`), called through ctypes:
  ggml_quantize_chunk(type, src, dst, start, nrows, n_per_row, imatrix)  for every type but Q8_K
  quantize_row_q8_K_ref(src, dst, k)                                      for Q8_K (no imatrix form)

Usage (from the repository root):
    python3 tests/data/make_golden_quants.py            # rewrites tests/data/golden_quants.npz
Only rerun it to add cases or after a deliberate change of ggml's algorithms; commit the
result together with the change.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys

import numpy as np

SEED = 20240601
N_PER_ROW = 512  # two k-quant super-blocks, sixteen IQ4_NL blocks per row
# (name, ggml type id)
TYPES = [
    ("Q4_0", 2),
    ("Q4_1", 3),
    ("Q5_0", 6),
    ("Q5_1", 7),
    ("Q2_K", 10),
    ("Q3_K", 11),
    ("Q4_K", 12),
    ("Q5_K", 13),
    ("Q6_K", 14),
    ("Q8_K", 15),
    ("IQ4_NL", 20),
    ("IQ4_XS", 23),
    ("TQ1_0", 34),
    ("TQ2_0", 35),
    ("MXFP4", 39),
    ("NVFP4", 40),
    ("Q1_0", 41),
]
NO_IMATRIX = {"Q8_K"}  # ggml has no importance-weighted Q8_K

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_PATH = os.path.join(HERE, "golden_quants.npz")


def golden_inputs() -> "dict[str, np.ndarray]":
    """The seeded inputs: float32 rows of several distributions and two importance vectors.

    Returns {"x": (n_rows, N_PER_ROW) float32, "imatrix": (N_PER_ROW,) float32,
    "imatrix_sparse": (N_PER_ROW,) float32 with many exact zeros}.
    """
    rng = np.random.default_rng(SEED)
    n = N_PER_ROW
    rows = []
    # gaussian with per-row scales from 1e-3 to 1e2
    scales = 10.0 ** rng.uniform(-3, 2, size=(12, 1))
    rows.append(rng.standard_normal((12, n)) * scales)
    # uniform, symmetric and one-sided (exercises the k-quant min)
    rows.append(rng.uniform(-1, 1, (4, n)))
    rows.append(rng.uniform(0.5, 2, (2, n)))
    rows.append(-rng.uniform(0.0, 3, (2, n)))
    # a gaussian row with one large outlier each
    out = rng.standard_normal((4, n))
    out[np.arange(4), rng.integers(0, n, 4)] = [50.0, -80.0, 400.0, -1e4]
    rows.append(out)
    # heavy tails
    rows.append(rng.standard_t(2, (2, n)) * 0.1)
    # an all-zero row, and one whose first super-block is zero
    half = rng.standard_normal((1, n))
    half[0, : n // 2] = 0
    rows.append(np.zeros((1, n)))
    rows.append(half)
    # tiny values: below fp16 range, near GROUP_MAX_EPS, and in between
    rows.append(rng.standard_normal((4, n)) * np.array([[1e-6], [1e-9], [1e-14], [1e-17]]))
    # few distinct values (ties in the searches)
    rows.append(np.round(rng.standard_normal((2, n)) * 3))
    # extremes: sums of squares overflow to inf, and magnitudes spanning 1e-35..1e35
    rows.append(rng.choice([-1.0, 1.0], (1, n)) * 3e37)
    rows.append(np.exp(rng.uniform(-80, 80, (1, n))) * rng.choice([-1.0, 1.0], (1, n)))
    x = np.concatenate(rows).astype(np.float32)
    imatrix = (rng.uniform(0, 1, n) ** 3 * 10).astype(np.float32)
    imatrix_sparse = np.where(rng.uniform(0, 1, n) < 0.4, 0.0, rng.lognormal(0, 2, n)).astype(np.float32)
    return {"x": x, "imatrix": imatrix, "imatrix_sparse": imatrix_sparse}


def inputs_digest(inputs: "dict[str, np.ndarray]") -> str:
    """sha256 of the inputs, stored with the golden bytes to catch a changed generator."""
    h = hashlib.sha256()
    for key in sorted(inputs):
        h.update(key.encode())
        h.update(np.ascontiguousarray(inputs[key]).tobytes())
    return h.hexdigest()


def golden_keys(type_name: str) -> "list[tuple[str, str | None]]":
    """(npz key, imatrix input name or None) for every case of one type."""
    keys = [(f"{type_name}/none", None)]
    if type_name not in NO_IMATRIX:
        keys += [(f"{type_name}/imatrix", "imatrix"), (f"{type_name}/imatrix_sparse", "imatrix_sparse")]
    return keys


def load_ggml() -> ctypes.CDLL:
    """libggml-base from the installed llama_cpp package."""
    import llama_cpp

    path = os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so")
    lib = ctypes.CDLL(path)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    lib.quantize_row_q8_K_ref.restype = None
    lib.quantize_row_q8_K_ref.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    return lib


def ggml_quantize(lib: ctypes.CDLL, type_id: int, row_bytes: int, x: np.ndarray, imatrix=None) -> np.ndarray:
    """Quantize rows of x with ggml itself; returns (n_rows, row_bytes) uint8."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n_rows, n_per_row = x.shape
    dst = np.zeros((n_rows, row_bytes), dtype=np.uint8)  # zeroed: ggml leaves Q8_K bsums of zero blocks unset
    if type_id == 15:
        assert imatrix is None
        lib.quantize_row_q8_K_ref(x.ctypes.data, dst.ctypes.data, x.size)
        return dst
    qw = None if imatrix is None else np.ascontiguousarray(imatrix, dtype=np.float32)
    written = lib.ggml_quantize_chunk(type_id, x.ctypes.data, dst.ctypes.data, 0, n_rows, n_per_row,
                                      None if qw is None else qw.ctypes.data)
    assert written == dst.size, (type_id, written, dst.size)
    return dst


ROW_BYTES = {"Q4_0": 18 * 8, "Q4_1": 20 * 8, "Q5_0": 22 * 8, "Q5_1": 24 * 8, "Q2_K": 84, "Q3_K": 110, "Q4_K": 144, "Q5_K": 176, "Q6_K": 210, "Q8_K": 292,
             "IQ4_NL": 18 * 8, "IQ4_XS": 136, "TQ1_0": 54, "TQ2_0": 66, "MXFP4": 17 * 8, "NVFP4": 36 * 4,
             "Q1_0": 18 * 2}  # per 256 elements


def main() -> int:
    import llama_cpp

    lib = load_ggml()
    inputs = golden_inputs()
    np.seterr(all="ignore")
    out = {"inputs_sha256": np.array(inputs_digest(inputs)),
           "ggml_source": np.array(f"llama-cpp-python {llama_cpp.__version__}")}
    for name, type_id in TYPES:
        row_bytes = ROW_BYTES[name] * N_PER_ROW // 256
        for key, imat_name in golden_keys(name):
            imat = None if imat_name is None else inputs[imat_name]
            out[key] = ggml_quantize(lib, type_id, row_bytes, inputs["x"], imat)
    np.savez_compressed(GOLDEN_PATH, **out)
    print(f"wrote {GOLDEN_PATH} ({os.path.getsize(GOLDEN_PATH)} bytes, {len(out) - 2} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
