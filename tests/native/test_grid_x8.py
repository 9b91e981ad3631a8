"""The codebook types (IQ1_S .. IQ3_S) over decoded rows: every x86 kernel, one row at a time or
eight (block_grid_x8, kernels/grid_x8.h), and matmul, which decodes each tile once for many
tokens, give the scalar reference dot products bit for bit, for any token count, row count
and thread count."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT

from pyggml import _core

from test_kernels import random_weights, unit_scale_activations

GRID_TYPES = ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"]
# The x86 tiers' IQ kernels sum each super-block exactly (the NEON ones keep their own order).
X86 = [isa for isa in ("avx2", "avxvnni", "avx512") if _core.testing.has_vec_dot_isa(int(QT.IQ2_XS), isa)]
DECODERS = ["scalar", *X86]


def activations(rng, name, n_tokens, n_cols, full_range):
    """Q8_K rows: from random floats, or (full_range) every quant in -127..127 with scale 1."""
    if full_range:
        return unit_scale_activations(rng, "Q8_K", n_tokens, n_cols)
    x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
    return _core.testing.quantize_activations(int(QT[name]), x)


@pytest.mark.parametrize("name", GRID_TYPES)
def test_decoders_give_the_reference_bytes(name):
    rng = np.random.default_rng(100 + GRID_TYPES.index(name))
    w = random_weights(rng, name, 9, 512)
    want = _core.testing.decode_rows(int(QT[name]), "scalar", w, 512)
    assert want.shape == (9, 2 * 292)
    for isa in X86:
        np.testing.assert_array_equal(_core.testing.decode_rows(int(QT[name]), isa, w, 512), want, err_msg=isa)
    w = random_weights(rng, name, 16, 512)
    want = _core.testing.decode_rows_x8(int(QT[name]), "scalar", w, 512)
    assert want.shape == (2, 2 * (32 + 256 + 2048))
    for isa in X86:
        np.testing.assert_array_equal(_core.testing.decode_rows_x8(int(QT[name]), isa, w, 512), want, err_msg=isa)


@pytest.mark.parametrize("name", GRID_TYPES)
@pytest.mark.parametrize("full_range", [False, True])
def test_kernels_equal_the_scalar_reference_bit_for_bit(name, full_range):
    """Plain kernels, one decoded row at a time, and groups of 8 decoded rows (three groups a
    call, the AVX-512 kernels' pair and odd one, and a tail of 5 rows), at every number of
    tokens per call."""
    rng = np.random.default_rng(200 + GRID_TYPES.index(name) + 50 * full_range)
    typ, n_cols, n_rows = int(QT[name]), 768, 29
    w = random_weights(rng, name, n_rows, n_cols)
    a = activations(rng, name, 11, n_cols, full_range)
    ref = _core.testing.vec_dot(typ, "scalar", w, a, n_cols)
    for isa in X86:
        np.testing.assert_array_equal(_core.testing.vec_dot(typ, isa, w, a, n_cols, rows_per_call=3), ref, err_msg=isa)
    for isa in DECODERS:
        np.testing.assert_array_equal(_core.testing.vec_dot_decoded(typ, isa, w, a, n_cols), ref, err_msg=isa)
        max_nt = _core.testing.decoded_x8_max_tokens(typ, isa)
        for nt in range(1, max_nt + 1):
            got = _core.testing.vec_dot_decoded(typ, isa, w, a, n_cols, x8=True, tokens_per_call=nt)
            np.testing.assert_array_equal(got, ref, err_msg=f"{isa} x8, {nt} tokens a call")


def test_every_tier_with_vnni_has_kernels_over_groups():
    for name in GRID_TYPES:
        assert _core.testing.decoded_x8_max_tokens(int(QT[name]), "scalar") == 4
        for isa, want in (("avxvnni", 4), ("avx512", 8)):
            if isa in X86:
                assert _core.testing.decoded_x8_max_tokens(int(QT[name]), isa) == want
    with pytest.raises(ValueError, match="decoder"):
        _core.testing.decode_rows(int(QT.Q4_K), "scalar", np.zeros((1, 144), np.uint8), 256)


@pytest.mark.parametrize("name", GRID_TYPES)
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_matmul_equals_the_scalar_reference(name, n_threads):
    """Odd token counts (one, a few: the plain kernels; more: rows decoded once per tile) and
    row counts (under 8, a ragged last group, many tiles per thread)."""
    rng = np.random.default_rng(300 + 10 * GRID_TYPES.index(name) + n_threads)
    typ, n_cols = int(QT[name]), 256
    pool = _core.ThreadPool(n_threads)
    for n_rows, token_counts in ((5, (1, 9)), (67, (1, 3, 5, 13, 70)), (1003, (2, 9, 33))):
        w = random_weights(rng, name, n_rows, n_cols)
        for n_tokens in token_counts:
            x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
            got = _core.testing.matmul(pool, typ, w, n_cols, x)
            a = _core.testing.quantize_activations(typ, x)
            np.testing.assert_array_equal(got, _core.testing.vec_dot(typ, "scalar", w, a, n_cols),
                                          err_msg=f"{n_rows} rows, {n_tokens} tokens")
