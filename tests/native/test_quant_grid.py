"""The grid view of the block formats (_core.testing.grid_*): levels, per-group scale/offset,
and unpacking/packing of quant indices.

- packing the unpacked indices of a quantized tensor gives back its bytes exactly;
- scale[g] * levels[q] + offset[g] equals the dequantizer's output bit for bit: the
  grid parameters are the very float32 products the dequantizers form (d * sc,
  dmin * m), and numpy evaluates the multiply and the add as separately rounded
  float32 operations, as the dequantizers do (the build disables FMA contraction);
- rewriting the indices with random ones round-trips and dequantizes to the grid values;
- bad input raises ValueError.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyggml import _core
from pyggml.formats import quants
from pyggml.formats.types import GGMLType

# type -> (group size, levels) as ggml's dequantizers define them.
KVALUES_IQ4NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
GRIDS = {
    "Q4_0": (32, np.arange(16) - 8),
    "Q4_1": (32, np.arange(16)),
    "Q5_0": (32, np.arange(32) - 16),
    "Q5_1": (32, np.arange(32)),
    "Q8_0": (32, np.arange(256) - 128),
    "Q2_K": (16, np.arange(4)),
    "Q3_K": (16, np.arange(8) - 4),
    "Q4_K": (32, np.arange(16)),
    "Q5_K": (32, np.arange(32)),
    "Q6_K": (16, np.arange(64) - 32),
    "IQ4_NL": (32, np.array(KVALUES_IQ4NL)),
    "IQ4_XS": (32, np.array(KVALUES_IQ4NL)),
}
TYPES = list(GRIDS)
SHAPES = [(1, 256), (3, 512), (5, 768)]


def _variants(name):
    """(imatrix?) cases worth testing for a type: with an imatrix only where it is used."""
    return [False, True] if GGMLType.parse(name).uses_imatrix else [False]


def _quantized(name, nrows, ncols, with_imatrix, seed=0):
    rng = np.random.default_rng(seed + 7919 * nrows + ncols + (1 if with_imatrix else 0))
    x = rng.standard_normal((nrows, ncols)).astype(np.float32)
    # Uneven magnitudes and a few outliers so groups get different scales and mins.
    x *= rng.uniform(0.01, 3.0, size=(nrows, ncols // 16)).repeat(16, axis=1).astype(np.float32)
    x[rng.random(x.shape) < 0.01] *= 8.0
    x += rng.uniform(-0.5, 0.5, size=(nrows, 1)).astype(np.float32)
    qw = (rng.random(ncols).astype(np.float32) + 0.05) if with_imatrix else None
    return quants.quantize(x, name, imatrix=qw)


def _grid_values(t, data, idx, nrows, ncols):
    scale, offset = _core.testing.grid_params(t, data, nrows, ncols)
    g = _core.testing.grid_group_size(t)
    levels = _core.testing.grid_levels(t)
    assert scale.dtype == offset.dtype == levels.dtype == np.float32
    return np.repeat(scale, g, axis=1) * levels[idx] + np.repeat(offset, g, axis=1)


def _dequantize(t, data, nrows, ncols):
    ref = _core.dequantize(t, data.reshape(-1), nrows, ncols, reference=True)
    fast = _core.dequantize(t, data.reshape(-1), nrows, ncols)
    np.testing.assert_array_equal(fast, ref)
    return ref


@pytest.mark.parametrize("name", TYPES)
def test_levels_and_group_size(name):
    t = int(GGMLType.parse(name))
    group, levels = GRIDS[name]
    assert _core.testing.grid_group_size(t) == group
    got = _core.testing.grid_levels(t)
    assert got.dtype == np.float32 and got.shape == (len(levels),)
    np.testing.assert_array_equal(got, levels.astype(np.float32))


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("nrows,ncols", SHAPES)
def test_unpack_pack_round_trip_and_dequantize(name, nrows, ncols):
    t = int(GGMLType.parse(name))
    group, levels = GRIDS[name]
    for with_imatrix in _variants(name):
        data = _quantized(name, nrows, ncols, with_imatrix)
        idx = _core.testing.grid_unpack(t, data, nrows, ncols)
        assert idx.dtype == np.uint8 and idx.shape == (nrows, ncols)
        assert idx.max() < len(levels)
        # (a) byte-identical round trip
        again = _core.testing.grid_pack(t, data, idx)
        assert again.dtype == np.uint8 and again.shape == data.shape
        np.testing.assert_array_equal(again, data)
        # (b) the grid reproduces the dequantizer exactly
        scale, offset = _core.testing.grid_params(t, data, nrows, ncols)
        assert scale.shape == offset.shape == (nrows, ncols // group)
        np.testing.assert_array_equal(_grid_values(t, data, idx, nrows, ncols),
                                      _dequantize(t, data, nrows, ncols))
        # the data used more than one level and more than one scale
        assert len(np.unique(idx)) > 1 and len(np.unique(scale)) > 1


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("nrows,ncols", SHAPES[:2])
def test_pack_random_indices(name, nrows, ncols):
    t = int(GGMLType.parse(name))
    n_levels = len(GRIDS[name][1])
    data = _quantized(name, nrows, ncols, False, seed=1)
    before = data.copy()
    rng = np.random.default_rng(nrows * ncols)
    cases = [
        rng.integers(0, n_levels, size=(nrows, ncols)).astype(np.uint8),
        np.zeros((nrows, ncols), np.uint8),
        np.full((nrows, ncols), n_levels - 1, np.uint8),
    ]
    for new in cases:
        packed = _core.testing.grid_pack(t, data, new)
        np.testing.assert_array_equal(data, before)  # input untouched
        np.testing.assert_array_equal(_core.testing.grid_unpack(t, packed, nrows, ncols), new)
        # scales, mins and d are kept
        for a, b in zip(_core.testing.grid_params(t, packed, nrows, ncols), _core.testing.grid_params(t, data, nrows, ncols)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(_dequantize(t, packed, nrows, ncols),
                                      _grid_values(t, packed, new, nrows, ncols))
    # non-contiguous indices are accepted and mean the same
    strided = np.repeat(cases[0], 2, axis=1)[:, ::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(_core.testing.grid_pack(t, data, strided), _core.testing.grid_pack(t, data, cases[0]))
    # any integer dtype is accepted and means the same
    wide = cases[0].astype(np.int64)
    np.testing.assert_array_equal(_core.testing.grid_pack(t, data, wide), _core.testing.grid_pack(t, data, cases[0]))


def test_accepts_bytes_and_flat_buffers():
    t = int(GGMLType.Q4_K)
    data = _quantized("Q4_K", 2, 256, False)
    idx = _core.testing.grid_unpack(t, data, 2, 256)
    np.testing.assert_array_equal(_core.testing.grid_unpack(t, data.tobytes(), 2, 256), idx)
    np.testing.assert_array_equal(_core.testing.grid_unpack(t, data.reshape(-1), 2, 256), idx)
    np.testing.assert_array_equal(_core.testing.grid_pack(t, data.tobytes(), idx), data)
    empty = _core.testing.grid_unpack(t, b"", 0, 256)
    assert empty.shape == (0, 256)


@pytest.mark.parametrize("name", ["Q4_0", "Q3_K", "Q8_0", "IQ4_XS"])
def test_bad_input(name):
    t = int(GGMLType.parse(name))
    n_levels = len(GRIDS[name][1])
    data = _quantized(name, 2, 256, False)
    idx = _core.testing.grid_unpack(t, data, 2, 256)
    for fn in (_core.testing.grid_unpack, _core.testing.grid_params):
        with pytest.raises(ValueError, match="need"):
            fn(t, data.reshape(-1)[:-1], 2, 256)  # one byte short
        with pytest.raises(ValueError, match="need"):
            fn(t, data, 3, 256)  # too few bytes for the rows
        with pytest.raises(ValueError, match="block size"):
            fn(t, data, 2, 250)
        with pytest.raises(ValueError, match="negative"):
            fn(t, data, -1, 256)
        with pytest.raises(ValueError, match="need"):
            fn(t, data, 2**62, 256)  # row count whose byte size overflows
        with pytest.raises(ValueError, match="contiguous"):
            fn(t, np.tile(data, (1, 2))[:, ::2], 2, 256)
    with pytest.raises(ValueError, match="need"):
        _core.testing.grid_pack(t, data[:1], idx)  # indices for two rows, bytes for one
    with pytest.raises(ValueError, match="need"):
        _core.testing.grid_pack(t, np.concatenate([data, data]), idx)  # bytes for four rows
    with pytest.raises(ValueError, match="outside the grid"):
        bad = idx.astype(np.int64)
        bad[1, 5] = n_levels
        _core.testing.grid_pack(t, data, bad)
    if n_levels < 256:
        with pytest.raises(ValueError, match="outside the grid"):
            bad = idx.copy()
            bad[0, 0] = n_levels
            _core.testing.grid_pack(t, data, bad)
    with pytest.raises(ValueError, match="outside the grid"):
        bad = idx.astype(np.int32)
        bad[0, 3] = -1
        _core.testing.grid_pack(t, data, bad)
    with pytest.raises(ValueError, match="integer"):
        _core.testing.grid_pack(t, data, idx.astype(np.float32))
    with pytest.raises(ValueError, match="2-D"):
        _core.testing.grid_pack(t, data, idx.reshape(-1))


@pytest.mark.parametrize("name", ["F32", "F16", "BF16", "Q8_1", "Q8_K"])
def test_unsupported_types(name):
    t = int(GGMLType.parse(name))
    for call in (
        lambda: _core.testing.grid_levels(t),
        lambda: _core.testing.grid_group_size(t),
        lambda: _core.testing.grid_params(t, b"\0" * 64, 1, 32),
        lambda: _core.testing.grid_unpack(t, b"\0" * 64, 1, 32),
        lambda: _core.testing.grid_pack(t, b"\0" * 64, np.zeros((1, 32), np.uint8)),
    ):
        with pytest.raises(ValueError, match=name):
            call()
    with pytest.raises(ValueError, match="999"):
        _core.testing.grid_levels(999)
