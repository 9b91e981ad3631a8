"""The dot kernels of the load-time weight formats: every tier's twin against the scalar
reference, the reference against float64 products of the dequantized operands, the activation
conversions (llm.int8's outlier split) against numpy, and the matmul's tiles against one row
at a time."""

from __future__ import annotations

import numpy as np
import pytest
from support.cpu_tiers import tier_params

from pyggml import _core

IDS = {row["name"]: row["id"] for row in _core.runtime_type_table()}
WEIGHT_TYPES = ("I8_ROW", "I8Z_ROW", "I8_B64", "I8Z_B64", "LLM_INT8", "NF4", "FP4", "NF4_DQ", "FP4_DQ")
T = _core.testing
THRESHOLD = 3.0


def case(name, rows=7, n=320, tokens=6, seed=0):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((rows, n)) * 0.1).astype(np.float32)
    w[:, 5] += 0.3  # a shifted column (zero points), and rows of mixed sign
    x = rng.standard_normal((tokens, n)).astype(np.float32)
    x[0, 17] = 9.0   # outliers for llm.int8 (|x| >= THRESHOLD)
    x[-1, n // 2 + 3] = -4.0
    if seed == 2:  # many outlier features (the twins take them 8 at a time)
        x[1, ::13] = 5.0
    return _core.quantize_weight(IDS[name], w), x


def deq_activations(name, x):
    """The activations as the kernels see them: int8 per token (the outliers exact in fp16), or float32."""
    if name in ("NF4", "FP4", "NF4_DQ", "FP4_DQ"):
        return x.astype(np.float64)
    thr = THRESHOLD if name == "LLM_INT8" else np.inf
    mask = (np.abs(x) >= thr).any(axis=0)  # the batch's outlier features
    out = np.zeros(x.shape, np.float64)
    for t, row in enumerate(x):
        amax = np.abs(np.where(mask, 0, row)).max()
        q = np.clip(np.rint(row * np.float32(127 / amax)), -127, 127)
        out[t] = np.where(mask, row.astype(np.float16).astype(np.float64), q * np.float32(amax / 127))
    return out


@pytest.mark.parametrize("name", WEIGHT_TYPES)
def test_reference_kernel_matches_float64(name):
    w, x = case(name)
    a = T.quantize_activations(IDS[name], x, "scalar", THRESHOLD)
    got = T.vec_dot(IDS[name], "scalar", w, a, x.shape[1])
    wd = _core.dequantize(IDS[name], w.reshape(-1), w.shape[0], x.shape[1]).astype(np.float64)
    want = deq_activations(name, x) @ wd.T
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("tier", tier_params("avx2", "neon", "dotprod"))
@pytest.mark.parametrize("name", WEIGHT_TYPES)
def test_tier_twin_matches_scalar(tier, name):
    for seed, (rows, n, tokens) in enumerate(((7, 320, 6), (3, 64, 1), (9, 1024, 5))):
        w, x = case(name, rows, n, tokens, seed)
        a_ref = T.quantize_activations(IDS[name], x, "scalar", THRESHOLD)
        a = T.quantize_activations(IDS[name], x, tier, THRESHOLD)
        np.testing.assert_array_equal(a, a_ref)
        want = T.vec_dot(IDS[name], "scalar", w, a_ref, n)
        for rows_per_call in (1, 4):
            got = T.vec_dot(IDS[name], tier, w, a, n, rows_per_call)
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * np.abs(want).max())


def test_outlier_activation_layout():
    x = np.zeros((1, 64), np.float32)
    x[0, :4] = [1.0, -6.5, 2.0, 7.25]
    a = T.quantize_activations(IDS["LLM_INT8"], x, "scalar", 6.0)[0]
    d, n_out = a[:4].view(np.float32)[0], a[4:8].view(np.int32)[0]
    q = a[8:72].view(np.int8)
    assert n_out == 2 and d == np.float32(2.0) / 127
    assert list(q[:4]) == [64, 0, 127, 0]  # 1.0 * 127 / 2 = 63.5 -> 64 (to even), the outliers zero
    assert list(a[72:80].view(np.int32)) == [1, 3]
    assert list(a[72 + 256:72 + 264].view(np.float32)) == [-6.5, 7.25]


def test_outlier_columns_are_the_batch_union():
    x = np.full((3, 64), 0.5, np.float32)
    x[0, 17] = 8.0    # an outlier of token 0 only
    x[2, 40] = -6.0   # and of token 2 (|x| >= threshold counts)
    a = T.quantize_activations(IDS["LLM_INT8"], x, "scalar", 6.0)
    for t in range(3):
        assert a[t, 4:8].view(np.int32)[0] == 2
        assert list(a[t, 72:80].view(np.int32)) == [17, 40]
        assert list(a[t, 8 + 17:8 + 18]) == [0] and list(a[t, 8 + 40:8 + 41]) == [0]
        assert list(a[t, 72 + 256:72 + 264].view(np.float32)) == [x[t, 17], x[t, 40]]
    assert a[1, :4].view(np.float32)[0] == np.float32(0.5) / 127  # the inliers' own scale


@pytest.mark.parametrize("name", WEIGHT_TYPES)
def test_matmul_tiles_match_the_kernel(name):
    w, x = case(name, rows=40, n=256, tokens=11)
    pool = _core.ThreadPool(2)
    got = T.matmul(pool, IDS[name], w, 256, x, act_param=THRESHOLD)
    a = T.quantize_activations(IDS[name], x, "best", THRESHOLD)
    want = T.vec_dot(IDS[name], "best", w, a, 256)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


def test_llm_int8_beats_absmax_with_outliers():
    """The point of the decomposition: an outlier no longer sets the other features' scale."""
    w, x = case("I8_ROW", rows=32, n=512, tokens=4)
    wf = _core.dequantize(IDS["I8_ROW"], w.reshape(-1), 32, 512).astype(np.float64)
    want = x.astype(np.float64) @ wf.T
    pool = _core.ThreadPool(1)
    plain = T.matmul(pool, IDS["I8_ROW"], w, 512, x)
    split = T.matmul(pool, IDS["LLM_INT8"], w, 512, x, act_param=THRESHOLD)
    err = lambda y: np.abs(y - want)[[0, 3]].mean()  # the two tokens with outliers
    assert err(split) < 0.5 * err(plain)
