"""k-quant (Q2_K..Q6_K, Q8_K) and IQ4 (IQ4_NL, IQ4_XS) block formats, and the
importance-weighted (imatrix) forms of the legacy Q4_0, Q4_1, Q5_0, Q5_1.

- quantize is byte-identical with ggml: golden bytes made by ggml itself
  (tests/data/make_golden_quants.py) and, when llama-cpp-python is installed, live ggml;
- dequantize equals gguf.quants.dequantize bit for bit;
- round trips lose precision in the expected order, and importance weighting helps.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
import pytest

import gguf
import gguf.quants as gq
from gguf.constants import GGMLQuantizationType as GT

import pyggml
from pyggml.formats import quants
from pyggml.formats.types import GGMLType

from support.script_module import load_script

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")

K_TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
IQ4_TYPES = ["IQ4_NL", "IQ4_XS"]
ALL_TYPES = K_TYPES + ["Q8_K"] + IQ4_TYPES
LEGACY_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1"]  # quantized with make_qx/qkx3_quants under an imatrix
# Byte offsets of the fp16 scales inside one block, per type (ggml-common.h layouts).
FP16_FIELDS = {
    "Q2_K": [80, 82],
    "Q3_K": [108],
    "Q4_K": [0, 2],
    "Q5_K": [0, 2],
    "Q6_K": [208],
    "IQ4_NL": [0],
    "IQ4_XS": [0],
}


golden_script = load_script(os.path.join(DATA, "make_golden_quants.py"))


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def first_bad_rows(expected: np.ndarray, got: np.ndarray, limit: int = 5) -> list:
    return np.nonzero((expected != got).any(axis=-1))[0][:limit].tolist()


# ------------------------------------------------------------------ type table


def test_type_table_entries():
    for name in ALL_TYPES:
        t = GGMLType[name]
        assert t.can_quantize and t.can_dequantize, name
        assert t.uses_imatrix == (name != "Q8_K"), name
    for name in LEGACY_TYPES:
        assert GGMLType[name].uses_imatrix, name
    assert GGMLType.Q4_K.row_size(512) == 288
    assert GGMLType.Q8_K.type_size == 292


# ------------------------------------------------------------------ golden bytes from ggml


@pytest.fixture(scope="module")
def golden():
    data = np.load(os.path.join(DATA, "golden_quants.npz"))
    inputs = golden_script.golden_inputs()
    digest = golden_script.inputs_digest(inputs)
    assert str(data["inputs_sha256"]) == digest, (
        "the seeded golden inputs no longer reproduce (numpy's generator changed?); "
        "regenerate tests/data/golden_quants.npz with tests/data/make_golden_quants.py"
    )
    return data, inputs


GOLDEN_CASES = [key for name, _ in golden_script.TYPES for key, _ in golden_script.golden_keys(name)]


@pytest.mark.parametrize("key", GOLDEN_CASES)
def test_quantize_matches_ggml_golden(golden, key):
    data, inputs = golden
    type_name = key.split("/")[0]
    imat_name = dict(golden_script.golden_keys(type_name))[key]
    imatrix = None if imat_name is None else inputs[imat_name]
    got = quants.quantize(inputs["x"], type_name, imatrix=imatrix)
    expected = data[key]
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), f"{key}: rows {first_bad_rows(expected, got)} differ from ggml"


def test_golden_covers_every_type():
    names = {key.split("/")[0] for key in GOLDEN_CASES}
    lowbit = {"TQ1_0", "TQ2_0", "MXFP4", "NVFP4", "Q1_0"}  # tests/formats/test_quants_lowbit.py
    assert names == set(ALL_TYPES) | set(LEGACY_TYPES) | lowbit
    assert sum(k.endswith("/imatrix") for k in GOLDEN_CASES) == len(names) - 1


# ------------------------------------------------------------------ dequantize vs gguf.quants


def random_blocks(rng, type_name: str, n_blocks: int) -> np.ndarray:
    """Random block bytes whose fp16 scale fields hold finite values of many magnitudes."""
    t = GGMLType[type_name]
    raw = rng.integers(0, 256, (n_blocks, t.type_size), dtype=np.uint8)
    for off in FP16_FIELDS[type_name]:
        mag = 10.0 ** rng.uniform(-9, 3, n_blocks)  # includes fp16 subnormals and zeros
        h = (rng.standard_normal(n_blocks) * mag).astype(np.float16)
        raw[:, off : off + 2] = h.view(np.uint8).reshape(n_blocks, 2)
    return raw


@pytest.mark.parametrize("type_name", K_TYPES + IQ4_TYPES)
def test_dequantize_random_bytes_matches_gguf(type_name):
    rng = np.random.default_rng(7)
    t = GGMLType[type_name]
    raw = random_blocks(rng, type_name, 96)
    n = 96 * t.block_size
    expected = gq.dequantize(raw.reshape(-1), gguf.GGMLQuantizationType[type_name]).reshape(-1)
    got = quants.dequantize(raw.reshape(-1), type_name, (n,))
    assert same_bits(expected.astype(np.float32), got)


@pytest.mark.parametrize("type_name", K_TYPES + IQ4_TYPES)
@pytest.mark.parametrize("with_imatrix", [False, True])
def test_dequantize_quantized_matches_gguf(type_name, with_imatrix):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((16, 768)) * 10.0 ** rng.uniform(-3, 2, (16, 1))).astype(np.float32)
    imatrix = rng.uniform(0, 2, 768).astype(np.float32) if with_imatrix else None
    q = quants.quantize(x, type_name, imatrix=imatrix)
    expected = gq.dequantize(q, gguf.GGMLQuantizationType[type_name])
    got = quants.dequantize(q, type_name, x.shape)
    assert same_bits(expected.astype(np.float32), got)


def q8_K_fields(q: np.ndarray):
    """Split Q8_K rows into (d float32, qs int8, bsums int16) per block."""
    blocks = q.reshape(-1, 292)
    d = blocks[:, 0:4].copy().view(np.float32)[:, 0]
    qs = blocks[:, 4:260].copy().view(np.int8)
    bsums = blocks[:, 260:292].copy().view(np.int16)
    return d, qs, bsums


def test_q8_K_layout_and_dequantize():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 512)).astype(np.float32)
    x[2] = 0
    x[4, :256] = 0
    q = quants.quantize(x, "Q8_K")
    d, qs, bsums = q8_K_fields(q)
    assert np.array_equal(bsums, qs.reshape(-1, 16, 16).sum(axis=2, dtype=np.int16))
    assert np.all(qs >= -127) and np.all(qs <= 127)
    zero_blocks = [4, 5, 8]  # row 2 (both blocks) and the first block of row 4
    assert np.all(d[zero_blocks] == 0) and not np.any(qs[zero_blocks]) and not np.any(bsums[zero_blocks])
    expected = (d[:, None] * qs.astype(np.float32)).reshape(x.shape)
    assert same_bits(expected, quants.dequantize(q, "Q8_K", x.shape))
    assert np.abs(expected - x).max() <= np.abs(x).max() / 127


# ------------------------------------------------------------------ round-trip quality


def test_round_trip_error_follows_bit_width():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((32, 1024)).astype(np.float32)
    rmse = {}
    for name in K_TYPES + IQ4_TYPES + ["Q8_K"]:
        y = quants.dequantize(quants.quantize(x, name), name, x.shape)
        rmse[name] = float(np.sqrt(np.mean((y - x) ** 2)))
    assert rmse["Q8_K"] < rmse["Q6_K"] < rmse["Q5_K"] < rmse["Q4_K"] < rmse["Q3_K"] < rmse["Q2_K"]
    assert rmse["Q2_K"] < 0.4 and rmse["Q6_K"] < 0.03
    # the non-linear grid at ~4.25-4.5 bits sits near Q4_K, well below Q3_K
    for name in IQ4_TYPES:
        assert rmse["Q5_K"] < rmse[name] < rmse["Q3_K"]


@pytest.mark.parametrize("type_name", K_TYPES + IQ4_TYPES + LEGACY_TYPES)
def test_importance_weighting_lowers_weighted_error(type_name):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((32, 1024)).astype(np.float32)
    w = rng.lognormal(0, 1.5, 1024).astype(np.float32)
    err = {}
    for key, imatrix in (("plain", None), ("weighted", w)):
        y = quants.dequantize(quants.quantize(x, type_name, imatrix=imatrix), type_name, x.shape)
        err[key] = float(np.mean(w * (y - x) ** 2))
    assert err["weighted"] < 0.9 * err["plain"]


def test_zero_rows_quantize_to_zero():
    x = np.zeros((2, 512), dtype=np.float32)
    for name in ALL_TYPES:
        for imatrix in (None, np.ones(512, np.float32)):
            y = quants.dequantize(quants.quantize(x, name, imatrix=imatrix), name, x.shape)
            assert not np.any(y), name


# ------------------------------------------------------------------ live ggml (optional)


def _ggml_symbol(name: str) -> str:
    """ggml's dequantizer for a type: dequantize_row_q4_K, dequantize_row_iq4_nl, ..."""
    return "dequantize_row_" + (name.lower() if name.startswith("IQ") else name[0].lower() + name[1:])


def _ggml():
    try:
        lib = golden_script.load_ggml()
    except (ImportError, OSError) as exc:  # llama-cpp-python missing or its library unloadable
        pytest.skip(f"llama_cpp's ggml not available: {exc}")
    for name in ALL_TYPES:
        fn = getattr(lib, _ggml_symbol(name))
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    return lib


def _ggml_dequantize(lib, name: str, q: np.ndarray, n: int) -> np.ndarray:
    fn = getattr(lib, _ggml_symbol(name))
    q = np.ascontiguousarray(q)
    y = np.empty(n, dtype=np.float32)
    fn(q.ctypes.data, y.ctypes.data, n)
    return y


@pytest.mark.llama_cpp
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quantize_matches_live_ggml(seed):
    lib = _ggml()
    rng = np.random.default_rng(1000 + seed)
    n = 256 * (seed + 1)
    x = rng.standard_normal((24, n)) * 10.0 ** rng.uniform(-4, 3, (24, 1))
    x[::5] = rng.uniform(-1, 1, (len(x[::5]), n))
    x[7, rng.integers(0, n)] = 1e3
    x[11] = 0
    x = x.astype(np.float32)
    imatrices = [None, rng.uniform(0, 3, n).astype(np.float32) ** 2,
                 np.where(rng.uniform(0, 1, n) < 0.5, 0, 1).astype(np.float32)]
    for name in ALL_TYPES + LEGACY_TYPES:
        t = GGMLType[name]
        for imatrix in imatrices:
            if name == "Q8_K" and imatrix is not None:
                continue
            expected = golden_script.ggml_quantize(lib, int(t), t.row_size(n), x, imatrix)
            got = quants.quantize(x, name, imatrix=imatrix)
            assert np.array_equal(got, expected), f"{name} imatrix={imatrix is not None}: rows {first_bad_rows(expected, got)}"
            if name in LEGACY_TYPES:
                continue  # their dequantizers are tested with the legacy formats
            y = _ggml_dequantize(lib, name, expected, x.size)
            assert same_bits(y, quants.dequantize(expected, name, x.shape).reshape(-1)), name


@pytest.mark.llama_cpp
@pytest.mark.parametrize("type_name", K_TYPES + IQ4_TYPES)
def test_dequantize_random_bytes_matches_live_ggml(type_name):
    lib = _ggml()
    rng = np.random.default_rng(21)
    t = GGMLType[type_name]
    raw = random_blocks(rng, type_name, 64)
    n = 64 * t.block_size
    assert same_bits(_ggml_dequantize(lib, type_name, raw, n), quants.dequantize(raw.reshape(-1), type_name, (n,)))


# ------------------------------------------------------------------ real model weights


@pytest.mark.real_model
@pytest.mark.parametrize("tensor_name", ["blk.0.attn_output.weight", "blk.0.ffn_down.weight"])
def test_real_model_tensors_dequantize_like_gguf(gemma_path, tensor_name):
    with pyggml.GGUFFile(gemma_path) as f:
        info = f.tensor(tensor_name)
        assert info.type.name in ("Q4_K", "Q6_K")
        raw = np.asarray(f.raw(tensor_name)).reshape(info.n_rows, info.row_bytes)
        expected = gq.dequantize(raw, GT[info.type.name])
        got = f.array(tensor_name)
    assert got.shape == expected.shape == info.shape
    assert same_bits(expected.astype(np.float32), got)
