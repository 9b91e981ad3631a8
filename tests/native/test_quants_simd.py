"""The SIMD conversions this CPU runs are bit-identical to the scalar references."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from pyggml import GGMLType, _core

TYPES = [t for t in GGMLType if t.can_quantize and t.can_dequantize]


def rows(seed, n_rows=33, n_cols=512):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_rows, n_cols)) * np.exp(rng.uniform(-10, 10, (n_rows, 1)))
    x[0] = 0.0
    x[1] = -0.0
    x[2, ::7] = 0.0
    x[3] = np.round(x[3])  # exact halves after scaling are likelier with integers
    x[4] = rng.integers(-127, 128, n_cols) / 2.0  # ties for roundf in Q8_0 / Q8_1
    x[5, 3] = -x[5].__abs__().max() * 2  # a negative extreme
    x[6] = 1e-38 * rng.standard_normal(n_cols)  # subnormal scales
    return x.astype(np.float32)


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_quantize_fast_equals_reference(t):
    x = rows(int(t))
    qw = np.ones(x.shape[1], np.float32) if t.requires_imatrix else None
    fast = _core.quantize(int(t), x, qw, 1)
    ref = _core.quantize(int(t), x, qw, 1, reference=True)
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_dequantize_fast_equals_reference(t):
    x = rows(100 + int(t))
    qw = np.ones(x.shape[1], np.float32) if t.requires_imatrix else None
    data = _core.quantize(int(t), x, qw, 1, reference=True)
    fast = _core.dequantize(int(t), data, x.shape[0], x.shape[1], 1)
    ref = _core.dequantize(int(t), data, x.shape[0], x.shape[1], 1, reference=True)
    np.testing.assert_array_equal(fast.view(np.uint32), ref.view(np.uint32))


@pytest.mark.parametrize("t", [GGMLType.F16, GGMLType.BF16], ids=lambda t: t.name)
def test_float_formats_every_bit_pattern(t):
    bits = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.uint8).reshape(1, -1)
    fast = _core.dequantize(int(t), bits, 1, 65536, 1)
    ref = _core.dequantize(int(t), bits, 1, 65536, 1, reference=True)
    np.testing.assert_array_equal(fast.view(np.uint32), ref.view(np.uint32))
    again_fast = _core.quantize(int(t), ref, None, 1)
    again_ref = _core.quantize(int(t), ref, None, 1, reference=True)
    np.testing.assert_array_equal(again_fast, again_ref)


@settings(max_examples=80, deadline=None)
@given(
    t=st.sampled_from([t for t in TYPES if t.block_size == 32 or t.block_size == 1]),
    x=hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.sampled_from([32, 64, 160])),
                 elements=st.floats(allow_nan=False, allow_infinity=False, width=32)),
)
def test_property_fast_equals_reference(t, x):
    np.testing.assert_array_equal(
        _core.quantize(int(t), x, None, 1), _core.quantize(int(t), x, None, 1, reference=True)
    )


K_SEARCH_TYPES = [GGMLType[n] for n in ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS")]


def awkward_k_rows(seed, n_cols=512):
    """Rows that drive the k-quant / IQ4 searches down their rarer branches."""
    rng = np.random.default_rng(seed)
    x = rows(seed, n_rows=40, n_cols=n_cols)
    x[7] = 3.0  # flat groups: max == min
    x[8] = np.abs(x[8]) + 1.0  # all positive: the min is clamped to 0
    x[9] = -np.abs(x[9])  # all negative
    x[10, ::2] = 0.0
    x[11, :16] = 0.0  # one all-zero group inside a non-zero block
    x[12] = rng.integers(-8, 9, n_cols)  # many exact ties on the level grid
    x[13] = rng.standard_normal(n_cols) * 1e-20  # below the group-max epsilon
    x[14] = np.where(rng.uniform(size=n_cols) < 0.9, 0.0, rng.standard_normal(n_cols))  # sparse
    x[15, 5] = 1e6  # one outlier
    x[16] = rng.standard_normal(n_cols) * 1e-30  # subnormal-range scales
    return x.astype(np.float32)


@pytest.mark.parametrize("t", K_SEARCH_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("imatrix", ["none", "squares", "sparse"])
@pytest.mark.parametrize("width", ["even", "odd"])
def test_k_quant_search_fast_equals_reference(t, imatrix, width):
    # An odd number of super-blocks (or of IQ4_NL blocks per eight) leaves groups for the
    # narrower SIMD and scalar tails of the batched searches.
    n_cols = 512 if width == "even" else (800 if t == GGMLType.IQ4_NL else 768)
    x = awkward_k_rows(int(t), n_cols)
    rng = np.random.default_rng(7)
    qw = {
        "none": None,
        "squares": (rng.uniform(0, 3, x.shape[1]) ** 2).astype(np.float32),
        "sparse": np.where(rng.uniform(size=x.shape[1]) < 0.5, 0.0, 1.0).astype(np.float32),
    }[imatrix]
    fast = _core.quantize(int(t), x, qw, 1)
    ref = _core.quantize(int(t), x, qw, 1, reference=True)
    bad = np.nonzero((fast != ref).any(axis=1))[0]
    assert not len(bad), f"rows {bad[:8].tolist()} differ"


@settings(max_examples=40, deadline=None)
@given(
    t=st.sampled_from(K_SEARCH_TYPES),
    x=hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.just(256)),
                 elements=st.floats(-1e4, 1e4, allow_nan=False, width=32)),
    use_imatrix=st.booleans(),
)
def test_property_k_quant_fast_equals_reference(t, x, use_imatrix):
    qw = np.linspace(0, 2, x.shape[1], dtype=np.float32) if use_imatrix else None
    np.testing.assert_array_equal(
        _core.quantize(int(t), x, qw, 1), _core.quantize(int(t), x, qw, 1, reference=True)
    )


GRID_SEARCH_CASES = [
    (GGMLType[n], imatrix)
    for n in ("IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M")
    for imatrix in ("none", "squares", "sparse", "ties")
    if imatrix != "none" or not GGMLType[n].requires_imatrix
]


@pytest.mark.parametrize("t,imatrix", GRID_SEARCH_CASES, ids=lambda v: getattr(v, "name", v))
def test_grid_neighbour_search_fast_equals_reference(t, imatrix):
    # The SIMD neighbour search takes eight grid points per step; equal distances (zero
    # importance weights, integer rows) must still pick the first point of the list.
    x = awkward_k_rows(int(t), 768)
    rng = np.random.default_rng(11)
    qw = {
        "none": None,
        "squares": (rng.uniform(0, 3, x.shape[1]) ** 2).astype(np.float32),
        "sparse": np.where(rng.uniform(size=x.shape[1]) < 0.5, 0.0, 1.0).astype(np.float32),
        "ties": np.tile(np.array([1, 0, 0, 1, 0, 1, 0, 0], np.float32), x.shape[1] // 8),
    }[imatrix]
    fast = _core.quantize(int(t), x, qw, 1)
    ref = _core.quantize(int(t), x, qw, 1, reference=True)
    bad = np.nonzero((fast != ref).any(axis=1))[0]
    assert not len(bad), f"rows {bad[:8].tolist()} differ"
