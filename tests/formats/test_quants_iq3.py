"""The 3-bit codebook formats IQ3_XXS and IQ3_S: write side (cpp/quant/iq3_quant.cpp).

- quantize is byte-identical with ggml's quantize_iq3_xxs / quantize_iq3_s, without and with
  importance vectors: golden bytes made by ggml itself (tests/data/make_golden_quants_iq3.py)
  on seeded random rows and on rows of gemma3-270m, and live ggml when llama-cpp-python is
  installed;
- what it writes dequantizes as gguf.quants says, with the expected error;
- rows ggml cannot take are ValueErrors naming the type.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import gguf
import gguf.quants as gq

from pyggml.formats import quants
from pyggml.formats.types import GGMLType

from support.script_module import load_script
from test_quants_k import DATA, first_bad_rows, same_bits

golden_script = load_script(os.path.join(DATA, "make_golden_quants_iq3.py"))
TYPES = [name for name, _, _ in golden_script.TYPES]


@pytest.fixture(scope="module")
def golden():
    data = np.load(golden_script.GOLDEN_PATH)
    inputs = golden_script.iq3_inputs()
    digest = golden_script.base.inputs_digest(inputs)
    assert str(data["inputs_sha256"]) == digest, (
        "the seeded inputs no longer reproduce (numpy's generator changed?); regenerate "
        "tests/data/golden_quants_iq3.npz with tests/data/make_golden_quants_iq3.py"
    )
    return data, inputs


def case_params(rows: str) -> list:
    return [pytest.param(key, imat, id=key) for name in TYPES for key, r, imat in golden_script.golden_keys(name) if r == rows]


@pytest.mark.parametrize("key,imat_name", case_params("x"))
def test_quantize_matches_ggml_golden(golden, key, imat_name):
    data, inputs = golden
    type_name = key.split("/")[0]
    got = quants.quantize(inputs["x"], type_name, imatrix=None if imat_name is None else inputs[imat_name])
    expected = data[key]
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), f"{key}: rows {first_bad_rows(expected, got)} differ from ggml"


@pytest.mark.real_model
@pytest.mark.parametrize("key,imat_name", case_params("model"))
def test_quantize_real_weights_matches_ggml_golden(gemma_path, key, imat_name):
    data = np.load(golden_script.GOLDEN_PATH)
    x = golden_script.model_rows(gemma_path)
    assert str(data["model_sha256"]) == golden_script.base.inputs_digest({"model": x}), "the model rows changed"
    imatrix = None if imat_name is None else golden_script.model_imatrix(x.shape[1])
    type_name = key.split("/")[0]
    got = quants.quantize(x, type_name, imatrix=imatrix)
    expected = data[key]
    assert np.array_equal(got, expected), f"{key}: rows {first_bad_rows(expected, got)} differ from ggml"


def test_golden_covers_both_types_with_and_without_imatrix():
    keys = [key for name in TYPES for key, _, _ in golden_script.golden_keys(name)]
    data = np.load(golden_script.GOLDEN_PATH)
    assert set(keys) <= set(data.files)
    for name in TYPES:
        assert GGMLType[name].can_quantize and GGMLType[name].uses_imatrix
        assert {k.split("/")[2] for k in keys if k.startswith(name + "/")} == {
            "none", "imatrix", "imatrix_sparse", "model_imatrix"}


@pytest.mark.parametrize("type_name", TYPES)
@pytest.mark.parametrize("with_imatrix", [False, True])
def test_dequantize_written_matches_gguf(type_name, with_imatrix):
    rng = np.random.default_rng(31)
    x = (rng.standard_normal((12, 768)) * 10.0 ** rng.uniform(-3, 2, (12, 1))).astype(np.float32)
    imatrix = rng.uniform(0, 2, 768).astype(np.float32) if with_imatrix else None
    q = quants.quantize(x, type_name, imatrix=imatrix)
    expected = gq.dequantize(q, gguf.GGMLQuantizationType[type_name]).astype(np.float32)
    y = quants.dequantize(q, type_name, x.shape)
    assert same_bits(expected, y)
    rel = np.sqrt(np.mean((y - x) ** 2, axis=1) / np.mean(x**2, axis=1))
    assert np.all(rel < 0.25), rel  # a 3-bit grid: about 0.15 of the signal on gaussian rows


def test_error_between_two_and_four_bits():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((32, 1024)).astype(np.float32)
    rmse = {}
    for name in TYPES + ["Q2_K", "Q4_K"]:
        y = quants.dequantize(quants.quantize(x, name), name, x.shape)
        rmse[name] = float(np.sqrt(np.mean((y - x) ** 2)))
    assert rmse["Q4_K"] < rmse["IQ3_S"] < rmse["IQ3_XXS"] < rmse["Q2_K"], rmse


@pytest.mark.parametrize("type_name", TYPES)
def test_importance_weighting_lowers_weighted_error(type_name):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((32, 1024)).astype(np.float32)
    w = rng.lognormal(0, 1.5, 1024).astype(np.float32)
    err = {}
    for key, imatrix in (("plain", None), ("weighted", w)):
        y = quants.dequantize(quants.quantize(x, type_name, imatrix=imatrix), type_name, x.shape)
        err[key] = float(np.mean(w * (y - x) ** 2))
    assert err["weighted"] < 0.9 * err["plain"]


@pytest.mark.parametrize("type_name", TYPES)
def test_zero_rows_and_threads(type_name):
    x = np.zeros((2, 512), np.float32)
    assert not np.any(quants.quantize(x, type_name))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    assert np.array_equal(quants.quantize(x, type_name, n_threads=1), quants.quantize(x, type_name, n_threads=4))


@pytest.mark.parametrize("type_name", TYPES)
def test_row_length_not_a_multiple_of_256_is_a_value_error(type_name):
    with pytest.raises(ValueError, match=f"{type_name}: row length 640 "):
        quants.quantize(np.ones((2, 640), np.float32), type_name)


@pytest.mark.parametrize("type_name", TYPES)
def test_overflowing_squares_are_a_value_error(type_name):
    x = np.ones((1, 256), np.float32)
    x[0, 40] = 3e37  # finite, but its square is not: ggml stops on a failed assertion here
    with pytest.raises(ValueError, match=f"{type_name}: the weighted squares .* overflow"):
        quants.quantize(x, type_name)


@pytest.mark.llama_cpp
@pytest.mark.parametrize("seed", [1, 2])
def test_quantize_matches_live_ggml(seed):
    try:
        lib = golden_script.base.load_ggml()
    except (ImportError, OSError) as exc:
        pytest.skip(f"llama_cpp's ggml not available: {exc}")
    rng = np.random.default_rng(2000 + seed)
    n = 256 * (seed + 2)
    x = rng.standard_normal((24, n)) * 10.0 ** rng.uniform(-4, 3, (24, 1))
    x[::5] = rng.uniform(-1, 1, (len(x[::5]), n))
    x[7, rng.integers(0, n)] = 1e3
    x[11] = 0
    x[13, 32:64] = 0
    x = x.astype(np.float32)
    imatrices = [None, rng.uniform(0, 3, n).astype(np.float32) ** 2,
                 np.where(rng.uniform(0, 1, n) < 0.5, 0, 1).astype(np.float32)]
    for name in TYPES:
        t = GGMLType[name]
        for imatrix in imatrices:
            expected = golden_script.base.ggml_quantize(lib, int(t), t.row_size(n), x, imatrix)
            got = quants.quantize(x, name, imatrix=imatrix)
            assert np.array_equal(got, expected), f"{name} imatrix={imatrix is not None}: rows {first_bad_rows(expected, got)}"
