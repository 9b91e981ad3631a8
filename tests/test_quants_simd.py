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
    fast = _core.quantize(int(t), x, None, 1)
    ref = _core.quantize(int(t), x, None, 1, reference=True)
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_dequantize_fast_equals_reference(t):
    x = rows(100 + int(t))
    data = _core.quantize(int(t), x, None, 1, reference=True)
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
