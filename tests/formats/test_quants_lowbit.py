"""The ternary (TQ1_0, TQ2_0), 4-bit float (MXFP4, NVFP4) and sign (Q1_0) formats.

- quantize is byte-identical with ggml: the golden bytes of tests/data/golden_quants.npz
  (checked for every type in test_quants_k.py) and, with llama-cpp-python, live ggml on
  further random data, with and without an importance vector (which these types ignore, as
  ggml's quantizers do);
- dequantize equals gguf.quants bit for bit (Q1_0, which gguf.quants lacks: a numpy oracle
  written from the block layout);
- the formats' own properties: exact values round-trip, scales follow ggml's rules.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import gguf
import gguf.quants as gq

from pyggml.formats import quants
from pyggml.formats.types import GGMLType

from test_quants_k import golden_script, same_bits

TYPES = ["TQ1_0", "TQ2_0", "MXFP4", "NVFP4", "Q1_0"]
GGUF_DEQUANT = ["TQ1_0", "TQ2_0", "MXFP4", "NVFP4"]  # gguf.quants has these


def random_blocks(rng, name: str, n_blocks: int) -> np.ndarray:
    """Random block bytes with finite fp16 scales of many magnitudes (MXFP4 and NVFP4 scales
    are 8-bit codes without infinities: any byte)."""
    t = GGMLType[name]
    raw = rng.integers(0, 256, (n_blocks, t.type_size), dtype=np.uint8)
    offset = {"TQ1_0": 52, "TQ2_0": 64, "Q1_0": 0}.get(name)
    if offset is not None:
        h = (rng.standard_normal(n_blocks) * 10.0 ** rng.uniform(-9, 3, n_blocks)).astype(np.float16)
        raw[:, offset:offset + 2] = h.view(np.uint8).reshape(n_blocks, 2)
    return raw


def dequantize_q1_0_numpy(raw: np.ndarray) -> np.ndarray:
    """Q1_0 from its layout: fp16 d, then 128 bits (bit j of byte j // 8: element j >= 0)."""
    blocks = raw.reshape(-1, 18)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    bits = np.unpackbits(blocks[:, 2:], axis=1, bitorder="little").astype(bool)
    return np.where(bits, d, -d).reshape(-1)


def reference_dequantize(raw: np.ndarray, name: str) -> np.ndarray:
    if name == "Q1_0":
        return dequantize_q1_0_numpy(raw)
    return gq.dequantize(raw.reshape(-1), gguf.GGMLQuantizationType[name]).reshape(-1).astype(np.float32)


def test_type_table_matches_gguf():
    for name in TYPES:
        t = GGMLType[name]
        assert (t.block_size, t.type_size) == gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]], name
        assert t.can_quantize and t.can_dequantize and t.can_matmul and not t.uses_imatrix, name
    assert GGMLType.NVFP4 == 40 and GGMLType.Q1_0 == 41


@pytest.mark.parametrize("name", TYPES)
def test_dequantize_random_bytes_matches_reference(name):
    rng = np.random.default_rng(TYPES.index(name))
    raw = random_blocks(rng, name, 80)
    n = 80 * GGMLType[name].block_size
    with np.errstate(all="ignore"):
        expected = reference_dequantize(raw, name)
    got = quants.dequantize(raw.reshape(-1), name, (n,))
    assert same_bits(expected, got)


@pytest.mark.parametrize("name", TYPES)
def test_dequantize_quantized_matches_reference(name):
    rng = np.random.default_rng(50 + TYPES.index(name))
    x = (rng.standard_normal((12, 512)) * 10.0 ** rng.uniform(-3, 2, (12, 1))).astype(np.float32)
    q = quants.quantize(x, name)
    assert same_bits(reference_dequantize(q, name).reshape(x.shape), quants.dequantize(q, name, x.shape))


@pytest.mark.parametrize("name", ["TQ1_0", "TQ2_0"])
def test_ternary_values_round_trip(name):
    rng = np.random.default_rng(3)
    scale = np.float32(0.375)  # exact in fp16
    x = (rng.integers(-1, 2, (4, 512)) * scale).astype(np.float32)
    x[:, ::256] = scale  # every block reaches its maximum
    y = quants.dequantize(quants.quantize(x, name), name, x.shape)
    np.testing.assert_array_equal(y, x)


def test_fp4_values_round_trip():
    rng = np.random.default_rng(4)
    e2m1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], np.float32)
    x = (rng.choice(e2m1, (4, 512)) * rng.choice([-1, 1], (4, 512))).astype(np.float32)
    x[:, ::16] = 6.0  # every scale group holds the largest value: MXFP4 exponent 2^0, NVFP4 scale 1
    for name in ("MXFP4", "NVFP4"):
        y = quants.dequantize(quants.quantize(x, name), name, x.shape)
        np.testing.assert_array_equal(y, x, err_msg=name)


def test_mxfp4_shared_exponent_and_nvfp4_scale():
    x = np.zeros((1, 64), np.float32)
    x[0, :32] = np.linspace(-3, 5, 32)  # amax 5: E8M0 exponent floor(log2 5) - 2 + 127 = 127
    q = quants.quantize(x[:, :32], "MXFP4")
    assert q[0, 0] == 127
    q = quants.quantize(x, "NVFP4")
    # sub-block amax / 6 in UE4M3 (bias 7), zero sub-blocks have scale code 0
    assert q[0, 2] == 0 and q[0, 3] == 0 and q[0, 0] != 0


def test_q1_0_keeps_signs_and_mean_magnitude():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 256)).astype(np.float32)
    y = quants.dequantize(quants.quantize(x, "Q1_0"), "Q1_0", x.shape)
    assert np.array_equal(y >= 0, x >= 0)
    mean = np.abs(x).reshape(-1, 128).mean(axis=1).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(np.abs(y).reshape(-1, 128).max(axis=1), mean)


@pytest.mark.parametrize("name", TYPES)
def test_row_length_not_a_block_multiple_is_a_value_error(name):
    n = GGMLType[name].block_size + 16
    with pytest.raises(ValueError, match=f"{name}.*{n}"):
        quants.quantize(np.zeros((2, n), np.float32), name)


@pytest.mark.parametrize("name", TYPES)
def test_non_finite_input_is_a_value_error(name):
    x = np.ones((1, 256), np.float32)
    x[0, 7] = np.nan
    with pytest.raises(ValueError):
        quants.quantize(x, name)


# ------------------------------------------------------------------ live ggml (optional)


def _ggml():
    try:
        lib = golden_script.load_ggml()
    except (ImportError, OSError) as exc:
        pytest.skip(f"llama_cpp's ggml not available: {exc}")
    for name in TYPES:
        fn = getattr(lib, "dequantize_row_" + name.lower())
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    return lib


@pytest.mark.llama_cpp
@pytest.mark.parametrize("seed", [1, 2])
def test_quantize_and_dequantize_match_live_ggml(seed):
    lib = _ggml()
    rng = np.random.default_rng(2000 + seed)
    n = 768 * seed
    x = rng.standard_normal((16, n)) * 10.0 ** rng.uniform(-6, 4, (16, 1))
    x[3] = rng.integers(-1, 2, n) * 0.5
    x[5, rng.integers(0, n)] = 1e4
    x[9] = 0
    x = x.astype(np.float32)
    for name in TYPES:
        t = GGMLType[name]
        for imatrix in (None, rng.uniform(0, 3, n).astype(np.float32)):
            expected = golden_script.ggml_quantize(lib, int(t), t.row_size(n), x, imatrix)
            got = quants.quantize(x, name, imatrix=imatrix)
            assert np.array_equal(got, expected), name
        raw = np.ascontiguousarray(random_blocks(rng, name, 40))
        y = np.empty(40 * t.block_size, np.float32)
        getattr(lib, "dequantize_row_" + name.lower())(raw.ctypes.data, y.ctypes.data, y.size)
        assert same_bits(y, quants.dequantize(raw.reshape(-1), name, y.shape)), name
