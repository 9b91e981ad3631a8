"""Regenerate tests/data/golden_quants_iq3.npz: ggml's own bytes for the 3-bit codebook formats
IQ3_XXS and IQ3_S, without and with importance vectors, on seeded random rows and on rows of a
real model's weights.

The CI test (tests/formats/test_quants_iq3.py) rebuilds the same inputs (`iq3_inputs()`, and
`model_rows()` from the gemma3-270m model package) and checks that pyggml's quantizers reproduce
these bytes exactly, so it runs without llama.cpp. The bytes come from ggml itself through
make_golden_quants.py's ctypes binding of llama-cpp-python's libggml-base (ggml_quantize_chunk).

The random rows are golden_inputs()'s, less the two whose squares overflow float32 (ggml stops
on those with a failed assertion; pyggml raises ValueError), plus rows with an all-zero group of
32 in the middle of a super-block and groups below IQ3_XXS's 1e-8 threshold.

Usage (from the repository root; needs llama-cpp-python and the gemma3-270m model package):
    python3 tests/data/make_golden_quants_iq3.py       # rewrites tests/data/golden_quants_iq3.npz
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_base():
    """make_golden_quants.py beside this file: golden_inputs, inputs_digest, load_ggml, ggml_quantize."""
    spec = importlib.util.spec_from_file_location("make_golden_quants", os.path.join(HERE, "make_golden_quants.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


base = _load_base()

GOLDEN_PATH = os.path.join(HERE, "golden_quants_iq3.npz")
SEED = 20240603
# (name, ggml type id, bytes per 256 elements)
TYPES = [("IQ3_XXS", 18, 98), ("IQ3_S", 21, 110)]
MODEL = "gemma3-270m"
MODEL_TENSOR = "blk.0.ffn_down.weight"  # rows of 2048 (the model's only tensors with rows a multiple of 256)
MODEL_ROWS = slice(0, 8)
SQUARE_OVERFLOW = 1.8e19  # |x| above this: x * x is inf in float32


def iq3_inputs() -> "dict[str, np.ndarray]":
    """The seeded random inputs: {"x": (n_rows, 512) float32, "imatrix", "imatrix_sparse": (512,)}."""
    inputs = base.golden_inputs()
    x = inputs["x"]
    x = x[np.abs(x).max(axis=1) < SQUARE_OVERFLOW]
    rng = np.random.default_rng(SEED)
    n = x.shape[1]
    extra = rng.standard_normal((4, n)).astype(np.float32)
    extra[0, 64:96] = 0  # a zero group inside the first super-block (IQ3_S shifts the later groups' bytes)
    extra[1, 256:288] = 0  # the first group of the second super-block
    extra[1, 480:512] = 0  # and its last
    extra[2, 32:64] *= 1e-9  # a group below IQ3_XXS's threshold, non-zero for IQ3_S
    extra[3, ::2] = 0  # half the elements zero everywhere
    x = np.concatenate([x, extra]).astype(np.float32)
    return {"x": x, "imatrix": inputs["imatrix"], "imatrix_sparse": inputs["imatrix_sparse"]}


def model_imatrix(n: int) -> np.ndarray:
    """A seeded importance vector for the model rows (lognormal, a few columns zero)."""
    rng = np.random.default_rng(SEED + 1)
    w = rng.lognormal(0, 1.5, n)
    w[rng.uniform(0, 1, n) < 0.05] = 0
    return w.astype(np.float32)


def model_rows(path: str) -> np.ndarray:
    """(8, 2048) float32: the first rows of gemma3-270m's blk.0.ffn_down.weight, dequantized."""
    import pyggml

    with pyggml.GGUFFile(path) as f:
        return np.ascontiguousarray(f.array(MODEL_TENSOR)[MODEL_ROWS], dtype=np.float32)


def golden_keys(type_name: str) -> "list[tuple[str, str, str | None]]":
    """(npz key, input rows name, imatrix name or None) for every case of one type."""
    keys = []
    for rows in ("x", "model"):
        keys.append((f"{type_name}/{rows}/none", rows, None))
        for imat in (("imatrix", "imatrix_sparse") if rows == "x" else ("model_imatrix",)):
            keys.append((f"{type_name}/{rows}/{imat}", rows, imat))
    return keys


def main() -> int:
    import llama_cpp

    import pyggml.models

    lib = base.load_ggml()
    inputs = iq3_inputs()
    inputs["model"] = model_rows(str(pyggml.models.model_path(MODEL)))
    inputs["model_imatrix"] = model_imatrix(inputs["model"].shape[1])
    out = {
        "inputs_sha256": np.array(base.inputs_digest({k: inputs[k] for k in ("x", "imatrix", "imatrix_sparse")})),
        "model_sha256": np.array(base.inputs_digest({"model": inputs["model"]})),
        "ggml_source": np.array(f"llama-cpp-python {llama_cpp.__version__}"),
    }
    for name, type_id, bytes_per_256 in TYPES:
        for key, rows, imat in golden_keys(name):
            x = inputs[rows]
            row_bytes = bytes_per_256 * x.shape[1] // 256
            out[key] = base.ggml_quantize(lib, type_id, row_bytes, x, None if imat is None else inputs[imat])
    np.savez_compressed(GOLDEN_PATH, **out)
    print(f"wrote {GOLDEN_PATH} ({os.path.getsize(GOLDEN_PATH)} bytes, {len(out) - 3} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
