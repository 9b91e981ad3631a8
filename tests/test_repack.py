"""Q4_K weights repacked 8 rows at a time (cpp/repack.h): the scalar reference of the
repacked dot equals the plain Q4_K dot, the AVX2 kernel equals the scalar reference
bit for bit, and matmul over a repacked buffer (odd row counts: a plain tail) equals
matmul over the plain one, for 1 and several tokens."""

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT

from pyggml import _core
from test_kernels import random_weights

Q4_K = int(QT.Q4_K)
HAS_AVX2 = _core.cpu_isa() == "avx2"


def activations(rng, n_tokens, n_cols, isa="scalar"):
    x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
    return x, _core.quantize_activations(Q4_K, x, isa)


def test_repack_keeps_every_byte_and_the_plain_tail():
    rng = np.random.default_rng(1)
    w = random_weights(rng, "Q4_K", 19, 512)
    p = _core.repack_q4_K(w, 512)
    assert p.shape == w.shape
    # tail rows untouched; per group and super-block, the same quant bytes rearranged
    assert np.array_equal(p[16:], w[16:])
    assert not np.array_equal(p[:16], w[:16])
    plain_qs = w[:16].reshape(2, 8, 2, 144)[..., 16:].transpose(0, 2, 1, 3).reshape(2, 2, -1)
    packed_qs = p[:16].reshape(2, 2, 1152)[..., 128:]
    assert np.array_equal(np.sort(packed_qs, axis=-1), np.sort(plain_qs, axis=-1))


@pytest.mark.parametrize("n_tokens", [1, 3, 6])
def test_repacked_reference_equals_plain_dot(n_tokens):
    rng = np.random.default_rng(2)
    n_rows, n_cols = 24, 768
    w = random_weights(rng, "Q4_K", n_rows, n_cols)
    _, act = activations(rng, n_tokens, n_cols)
    plain = _core.vec_dot(Q4_K, "scalar", w, act, n_cols)
    packed = _core.vec_dot_repacked("scalar", _core.repack_q4_K(w, n_cols), act, n_cols)
    np.testing.assert_allclose(packed, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())


@pytest.mark.skipif(not HAS_AVX2, reason="needs an AVX2 CPU")
@pytest.mark.parametrize("n_tokens", [1, 2, 3, 4, 7])
def test_avx2_repacked_kernel_equals_reference(n_tokens):
    rng = np.random.default_rng(3)
    n_rows, n_cols = 32, 1024
    w = random_weights(rng, "Q4_K", n_rows, n_cols)
    # extreme activations: every sub-block sum near the int16 limits of the kernel
    _, act = activations(rng, n_tokens, n_cols)
    p = _core.repack_q4_K(w, n_cols)
    ref = _core.vec_dot_repacked("scalar", p, act, n_cols)
    assert np.array_equal(_core.vec_dot_repacked("avx2", p, act, n_cols), ref)


@pytest.mark.skipif(not HAS_AVX2, reason="needs an AVX2 CPU")
def test_avx2_repacked_kernel_extreme_values():
    """All nibbles 15 and activations -128/127: the int16 sub-block sums at their bound."""
    rng = np.random.default_rng(4)
    n_cols = 512
    w = random_weights(rng, "Q4_K", 8, n_cols)
    blocks = w.reshape(8, -1, 144)
    blocks[:, :, 16:] = 0xFF  # quants 15
    blocks[:, :, 4:16] = 0xFF  # scales and mins 63
    x = np.where(rng.random((2, n_cols)) < 0.5, -1.0, 1.0).astype(np.float32)
    x[:, ::3] = -1.0
    act = _core.quantize_activations(Q4_K, x, "scalar")
    p = _core.repack_q4_K(w, n_cols)
    ref = _core.vec_dot_repacked("scalar", p, act, n_cols)
    assert np.array_equal(_core.vec_dot_repacked("avx2", p, act, n_cols), ref)
    plain = _core.vec_dot(Q4_K, "scalar", w, act, n_cols)
    np.testing.assert_allclose(ref, plain, rtol=1e-5)


@pytest.mark.parametrize("n_rows", [8, 13, 67])
@pytest.mark.parametrize("n_tokens", [1, 5])
def test_matmul_repacked_equals_plain(n_rows, n_tokens):
    rng = np.random.default_rng(5)
    n_cols = 768
    w = random_weights(rng, "Q4_K", n_rows, n_cols)
    x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
    pool = _core.ThreadPool(2)
    plain = _core.matmul(pool, Q4_K, w, n_cols, x)
    packed = _core.matmul(pool, Q4_K, _core.repack_q4_K(w, n_cols), n_cols, x, layout=1)
    np.testing.assert_allclose(packed, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())


def test_repack_rejects_bad_shapes():
    w = np.zeros((8, 100), np.uint8)
    with pytest.raises(ValueError):
        _core.repack_q4_K(w, 256)
    with pytest.raises(ValueError):
        _core.vec_dot_repacked("scalar", np.zeros((5, 144), np.uint8), np.zeros((1, 292), np.uint8), 256)
    with pytest.raises(ValueError):
        _core.matmul(_core.ThreadPool(1), int(QT.Q6_K), np.zeros((8, 210), np.uint8), 256,
                     np.zeros((1, 256), np.float32), layout=1)


def _rel_diff(got, ref):
    return float(np.abs(got - ref).max() / (ref.max() - ref.min()))


def test_model_logits_with_and_without_repack(tmp_path):
    """One token goes through the same integer sums either way (floats differ by rounding);
    over a batch the file layout uses other kernels than for one token, whose rounding
    can flip the int8 rounding of later activations, so only the tolerance of the fast
    path against the reference (test_model.py) applies there."""
    from synthetic_models import make_model

    from pyggml import Model

    path = tmp_path / "q4k.gguf"
    hp = make_model("gemma3", path, wtype="Q4_K", seed=8)
    toks = np.random.default_rng(9).integers(0, hp["n_vocab"], size=12)
    plain = Model.load(path, n_ctx=32, n_threads=2, repack=False)
    packed = Model.load(path, n_ctx=32, n_threads=2)
    assert plain._native.repacked_bytes == 0
    assert (packed._native.repacked_bytes > 0) == _core.repack_preferred()
    assert _rel_diff(packed.eval(toks[:1]), plain.eval(toks[:1])) <= 1e-5
    plain.reset()
    packed.reset()
    want = plain.eval(toks, all_logits=True)
    got = packed.eval(toks, all_logits=True)
    assert _rel_diff(got, want) <= 3e-2
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.8
    # the repacked kernels give a batch exactly what they give token by token
    packed.reset()
    one_by_one = np.stack([packed.eval([t]).reshape(-1) for t in toks])
    assert np.array_equal(one_by_one, got) or not _core.repack_preferred()


@pytest.mark.real_model
def test_real_qwen_logits_with_and_without_repack(qwen_path):
    from pyggml import Model

    toks = np.random.default_rng(3).integers(1000, 20000, size=9)
    packed = Model.load(qwen_path, n_ctx=64, n_threads=2)
    plain = Model.load(qwen_path, n_ctx=64, n_threads=2, repack=False)
    assert _rel_diff(packed.eval(toks[:1]), plain.eval(toks[:1])) <= 1e-4
    packed.reset()
    plain.reset()
    got, want = packed.eval(toks, all_logits=True), plain.eval(toks, all_logits=True)
    assert _rel_diff(got, want) <= 3e-2
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.75  # random tokens: near ties
