"""The codebook formats IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S and IQ1_M: write side.

- quantize reproduces ggml's bytes (tests/data/golden_quants_iq2.npz, made by
  tests/data/make_golden_quants_iq2.py from llama-cpp-python's ggml) on seeded random rows and on
  rows of a real model, with and without an importance vector where ggml takes none;
- on the rows where ggml aborts (values whose squares overflow float32) pyggml raises ValueError;
- IQ2_XXS, IQ2_XS and IQ1_S refuse to quantize without an importance vector, as ggml does;
- what quantize writes dequantizes exactly as gguf.quants reads it;
- the bytes do not depend on the thread count; live against ggml when llama-cpp-python is there.
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
from test_quants_k import first_bad_rows, same_bits

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
golden_script = load_script(os.path.join(DATA, "make_golden_quants_iq2.py"))
TYPES = list(golden_script.TYPES)
NEEDS_IMATRIX = sorted(golden_script.REQUIRES_IMATRIX)


@pytest.fixture(scope="module")
def golden():
    data = np.load(os.path.join(DATA, "golden_quants_iq2.npz"))
    inputs = golden_script.base.golden_inputs()
    assert str(data["inputs_sha256"]) == golden_script.base.inputs_digest(inputs), (
        "the seeded golden inputs no longer reproduce; regenerate tests/data/golden_quants_iq2.npz")
    inputs |= {k: data[k] for k in ("model_x", "model_imatrix")}
    return data, inputs


CASES = [key for name in TYPES for key, _, _ in golden_script.golden_keys(name)]


@pytest.mark.parametrize("key", CASES)
def test_quantize_matches_ggml_golden(golden, key):
    data, inputs = golden
    name = key.split("/")[0]
    _, rows, imat = next(k for k in golden_script.golden_keys(name) if k[0] == key)
    x, qw = inputs[rows], None if imat is None else inputs[imat]
    aborts = data[key + "/aborts"].tolist()
    keep = [i for i in range(len(x)) if i not in aborts]
    expected = data[key][keep]
    got = quants.quantize(x[keep], name, imatrix=qw)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), f"{key}: rows {first_bad_rows(expected, got)} differ from ggml"
    for i in aborts:  # ggml aborts on these; pyggml refuses them
        with pytest.raises(ValueError, match=f"{name}: the grid search found no point"):
            quants.quantize(x[i:i + 1], name, imatrix=qw)


def test_golden_cases_cover_real_rows_and_imatrix_choices():
    for name in TYPES:
        keys = [k for k, _, _ in golden_script.golden_keys(name)]
        assert f"{name}/model_x/model_imatrix" in keys and f"{name}/x/imatrix_sparse" in keys
        assert (f"{name}/x/none" in keys) == (name not in NEEDS_IMATRIX)


def test_golden_model_rows_hold_ties(golden):
    # dequantized weights repeat values within a group: the sorts in the IQ1 searches meet ties
    x = golden[1]["model_x"]
    assert x.shape == (16, 512)
    assert min(len(np.unique(row[:32])) for row in x) < 32


@pytest.mark.parametrize("name", NEEDS_IMATRIX)
def test_quantize_without_imatrix_is_refused(name):
    with pytest.raises(ValueError, match=f"{name} needs an importance vector"):
        quants.quantize(np.ones((1, 256), np.float32), name)


@pytest.mark.parametrize("name", TYPES)
def test_row_length_not_a_multiple_of_256_is_a_value_error(name):
    with pytest.raises(ValueError, match=f"{name}.*300"):
        quants.quantize(np.ones((2, 300), np.float32), name, imatrix=np.ones(300, np.float32))


@pytest.mark.parametrize("name", TYPES)
def test_written_bytes_dequantize_as_gguf_reads_them(name):
    rng = np.random.default_rng(TYPES.index(name) + 7)
    x = (rng.standard_normal((6, 512)) * rng.uniform(1e-3, 10, (6, 1))).astype(np.float32)
    qw = rng.uniform(0.01, 5, 512).astype(np.float32)
    raw = quants.quantize(x, name, imatrix=qw)
    ours = quants.dequantize(raw.reshape(-1), name, x.shape)
    theirs = gq.dequantize(raw, gguf.GGMLQuantizationType[name]).reshape(x.shape).astype(np.float32)
    assert same_bits(ours, theirs)
    # and the values are a quantization of x: the error is well below the signal
    assert np.mean((ours - x) ** 2) < 0.5 * np.mean(x ** 2)


@pytest.mark.parametrize("name", TYPES)
def test_bytes_do_not_depend_on_threads(name):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    qw = rng.uniform(0, 2, 1024).astype(np.float32)
    one = quants.quantize(x, name, imatrix=qw, n_threads=1)
    assert np.array_equal(one, quants.quantize(x, name, imatrix=qw, n_threads=3))


def test_type_table_says_which_need_an_imatrix():
    for name in TYPES:
        t = GGMLType[name]
        assert t.can_quantize and t.uses_imatrix, name
        assert t.requires_imatrix == (name in NEEDS_IMATRIX), name
    assert [t.name for t in GGMLType if t.requires_imatrix] == ["IQ2_XXS", "IQ2_XS", "IQ1_S"]


@pytest.mark.llama_cpp
@pytest.mark.parametrize("name", TYPES)
def test_quantize_matches_live_ggml(name):
    try:
        lib = golden_script.base.load_ggml()
    except (ImportError, OSError) as exc:
        pytest.skip(f"llama_cpp's ggml not available: {exc}")
    type_id, per_256 = golden_script.TYPES[name]
    rng = np.random.default_rng(99)
    x = (rng.standard_t(3, (24, 768)) * rng.uniform(1e-4, 1e2, (24, 1))).astype(np.float32)
    x[3, :256] = 0  # a zero super-block
    x[5] = np.round(x[5])  # ties
    for qw in [rng.uniform(0, 3, 768).astype(np.float32), None]:
        if qw is None and name in NEEDS_IMATRIX:
            continue
        expected = golden_script.base.ggml_quantize(lib, type_id, per_256 * 3, x, qw)
        got = quants.quantize(x, name, imatrix=qw)
        assert np.array_equal(got, expected), f"{name}: rows {first_bad_rows(expected, got)} differ from ggml"


def test_requires_imatrix_is_what_the_quantizers_do():
    x = np.linspace(-1, 1, 256, dtype=np.float32).reshape(1, 256)
    for t in GGMLType:
        if not t.can_quantize:
            continue
        try:
            quants.quantize(x, t)
            refused = False
        except ValueError as e:
            assert "needs an importance vector" in str(e), t.name
            refused = True
        assert refused == t.requires_imatrix, t.name
