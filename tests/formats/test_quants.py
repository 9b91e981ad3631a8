"""Block formats: byte-exact with gguf.quants (ggml's reference), plus edge cases."""

import numpy as np
import pytest
from gguf.constants import GGMLQuantizationType as GT
import gguf.quants as gq
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import pyggml
from pyggml import GGMLType

# Types gguf.quants can quantize (its quantizers are ports of ggml's reference ones).
GGUF_QUANTIZABLE = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]


def gguf_bytes(x, name):
    return gq.quantize(x, GT[name]).view(np.uint8).reshape(x.shape[0], -1)


def sample_rows(seed, n_rows=16, n_cols=512):
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.uniform(-8, 8, (n_rows, 1)))
    x = rng.standard_normal((n_rows, n_cols)) * scale
    x[0] = 0.0  # an all-zero row
    x[1, 7] *= 1000.0  # an outlier
    x[2] = rng.uniform(-1, 1, n_cols)  # uniform
    x[3] = 1e-30 * rng.standard_normal(n_cols)  # tiny values
    x[4] = rng.choice([-1.0, 1.0], n_cols) * 3e37  # huge values
    return x.astype(np.float32)


@pytest.mark.parametrize("name", GGUF_QUANTIZABLE)
def test_quantize_matches_gguf(name):
    x = sample_rows(1)
    ours = pyggml.quantize(x, name)
    ref = gguf_bytes(x, name)
    assert ours.dtype == np.uint8
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("name", GGUF_QUANTIZABLE)
def test_dequantize_matches_gguf(name):
    x = sample_rows(2)
    data = gguf_bytes(x, name)
    ours = pyggml.dequantize(data, name, x.shape)
    ref = gq.dequantize(data, GT[name]).reshape(x.shape)
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("name", ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"])
def test_dequantize_arbitrary_blocks_matches_gguf(name):
    # Random bytes with finite half-precision scales: every bit pattern of the quants.
    t = GGMLType[name]
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 256, (64, t.type_size), dtype=np.uint8)
    scales = rng.uniform(-2, 2, (64, 2)).astype(np.float16).view(np.uint8)
    blocks[:, 0:2] = scales[:, 0:2]
    if name in ("Q4_1", "Q5_1"):
        blocks[:, 2:4] = scales[:, 2:4]
    data = blocks.reshape(8, -1)
    shape = (8, 8 * t.block_size)
    np.testing.assert_array_equal(
        pyggml.dequantize(data, name, shape), gq.dequantize(data, GT[name]).reshape(shape)
    )


# -0.0 is mapped to +0.0: on a block of only negative zeros gguf.quants picks d = +0
# while ggml's C reference (and pyggml) pick d = -0 (see test_negative_zero_block).
finite_f32 = st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda v: v + 0.0)


def test_negative_zero_block():
    # ggml starts its signed-max search at +0.0, so an all -0.0 block has max = +0.0 and
    # d = 0 / -8 = -0.0: the scale's sign bit is set, exactly as for an all +0.0 block.
    for x in (np.zeros((1, 32), np.float32), np.full((1, 32), -0.0, np.float32)):
        assert pyggml.quantize(x, "Q4_0")[0, :2].tolist() == [0x00, 0x80]
        assert pyggml.quantize(x, "Q5_0")[0, :2].tolist() == [0x00, 0x80]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(GGUF_QUANTIZABLE),
    x=hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.sampled_from([32, 64, 96])), elements=finite_f32),
)
def test_property_quantize_matches_gguf(name, x):
    np.testing.assert_array_equal(pyggml.quantize(x, name), gguf_bytes(x, name))


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from([t.name for t in GGMLType if t.can_quantize]),
    n=st.integers(1, 1000),
)
def test_property_row_length_not_multiple_of_block_is_clear_error(name, n):
    t = GGMLType[name]
    x = np.zeros((2, n), np.float32)
    if n % t.block_size == 0:
        qw = np.ones(n, np.float32) if t.requires_imatrix else None
        assert pyggml.quantize(x, name, imatrix=qw).shape == (2, t.row_size(n))
    else:
        with pytest.raises(ValueError, match="not a multiple of the block size"):
            pyggml.quantize(x, name)


@pytest.mark.parametrize("name", [t.name for t in GGMLType if t.can_quantize])
def test_zeros_round_trip_to_zeros(name):
    t = GGMLType[name]
    x = np.zeros((3, 2 * max(t.block_size, 32)), np.float32)
    qw = np.ones(x.shape[1], np.float32) if t.requires_imatrix else None
    np.testing.assert_array_equal(pyggml.dequantize(pyggml.quantize(x, name, imatrix=qw), name, x.shape), x)


@pytest.mark.parametrize("name", [t.name for t in GGMLType if t.can_quantize and t.is_quantized])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_block_types_refuse_non_finite(name, bad):
    t = GGMLType[name]
    x = np.ones((2, t.block_size), np.float32)
    x[1, 3] = bad
    with pytest.raises(ValueError, match=r"non-finite value .* row 1, column 3"):
        pyggml.quantize(x, name)


@pytest.mark.parametrize("name", ["F16", "BF16"])
def test_float_types_keep_nan_and_inf(name):
    x = np.array([[np.nan, np.inf, -np.inf, 1e30, -1e-30, 65520.0, 0.0, -0.0]], np.float32)
    ours = pyggml.quantize(x, name)
    np.testing.assert_array_equal(ours, gguf_bytes(x, name))
    back = pyggml.dequantize(ours, name, x.shape)
    assert np.isnan(back[0, 0]) and back[0, 1] == np.inf and back[0, 2] == -np.inf


def test_f16_every_bit_pattern_round_trips():
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    ours = pyggml.dequantize(h.view(np.uint8).reshape(1, -1), "F16", (1, 65536))[0]
    ref = h.view(np.float16).astype(np.float32)
    np.testing.assert_array_equal(ours.view(np.uint32), ref.view(np.uint32))
    finite = np.isfinite(ref)
    again = pyggml.quantize(ours[finite][None, :], "F16").view(np.uint16)[0]
    np.testing.assert_array_equal(again, h[finite])


def test_shapes_and_threads():
    x = sample_rows(5, n_rows=40, n_cols=256)[5:].reshape(5, 7, 256)
    q1 = pyggml.quantize(x, "Q8_0", n_threads=1)
    q2 = pyggml.quantize(x, "Q8_0", n_threads=2)
    assert q1.shape == (5, 7, GGMLType.Q8_0.row_size(256))
    np.testing.assert_array_equal(q1, q2)
    d = pyggml.dequantize(q2, "Q8_0")
    assert d.shape == x.shape
    np.testing.assert_array_equal(d, pyggml.dequantize(q2.reshape(-1), "Q8_0", x.shape, n_threads=1))


def test_dequantize_wrong_byte_count_is_clear_error():
    q = pyggml.quantize(np.ones((2, 64), np.float32), "Q4_0")
    with pytest.raises(ValueError, match="need 72 bytes, got 71"):
        pyggml.dequantize(q.reshape(-1)[:-1], "Q4_0", (2, 64))


def test_type_table():
    assert GGMLType.Q4_0.block_size == 32 and GGMLType.Q4_0.type_size == 18
    assert GGMLType.Q4_0.bits_per_weight == 4.5
    assert GGMLType.Q4_K.bits_per_weight == 4.5
    assert GGMLType.Q6_K.bits_per_weight == 6.5625
    assert GGMLType.Q8_1.type_size == 36  # ggml's layout (gguf's size table says 40)
    for t in GGMLType:
        if t != GGMLType.Q8_1:
            assert (t.block_size, t.type_size) == gq.GGML_QUANT_SIZES[GT[t.name]], t.name
    assert GGMLType.parse("q4_k") is GGMLType.Q4_K
    assert GGMLType.parse(12) is GGMLType.Q4_K
    with pytest.raises(ValueError, match="unknown tensor type 'Q9_9'"):
        GGMLType.parse("Q9_9")


def test_q8_1_layout():
    # Q8_1 has no gguf.quants reference: check d and s = d * sum(qs) directly.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 64)).astype(np.float32)
    q = pyggml.quantize(x, "Q8_1").reshape(2, 36)
    d = q[:, 0:2].copy().view(np.float16).astype(np.float32)[:, 0]
    s = q[:, 2:4].copy().view(np.float16).astype(np.float32)[:, 0]
    qs = q[:, 4:].view(np.int8).astype(np.int32)
    np.testing.assert_array_equal(d, (np.abs(x.reshape(2, 32)).max(1) / 127).astype(np.float16))
    np.testing.assert_array_equal(s, (qs.sum(1) * d).astype(np.float16))
    assert np.abs(pyggml.dequantize(q.reshape(1, -1), "Q8_1", (1, 64)) - x).max() <= d.max() / 2 + 1e-6
