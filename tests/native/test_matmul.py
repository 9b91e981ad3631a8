"""matmul: tiling and threading give exactly the dot kernels' results; the pool works."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT

from pyggml import _core

from test_kernels import random_weights, tolerance


@pytest.mark.parametrize("name", ["F32", "F16", "Q4_0", "Q5_1", "Q8_0", "Q4_K", "Q6_K", "IQ4_XS",
                                  "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_matmul_equals_kernel_per_output(name, n_threads):
    """Every output is the dot kernel's, bit for bit: for many tokens the codebook types'
    rows are decoded once per tile (vec_dot_traits::decode), for few the kernel decodes."""
    rng = np.random.default_rng(n_threads)
    n_cols = 512
    pool = _core.ThreadPool(n_threads)
    w = random_weights(rng, name, 37, n_cols)
    for n_tokens in (1, 2, 5, 17, 70):
        x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
        got = _core.testing.matmul(pool, int(QT[name]), w, n_cols, x)
        a = _core.testing.quantize_activations(int(QT[name]), x)
        want = _core.testing.vec_dot(int(QT[name]), "best", w, a, n_cols)
        np.testing.assert_array_equal(got, want)


def q1_0_as_q8_0(w):
    """Q1_0 rows as the Q8_0 rows they stand for: each block's scale over its four 32s, the
    set bits +1 and the clear ones -1."""
    blocks = w.reshape(w.shape[0], -1, 18)
    bits = np.unpackbits(blocks[:, :, 2:], axis=-1, bitorder="little")
    q = np.where(bits == 1, 1, -1).astype(np.int8).reshape(w.shape[0], -1, 4, 32)
    d = np.repeat(blocks[:, :, None, :2], 4, axis=2)
    return np.concatenate([d, q.view(np.uint8)], axis=-1).reshape(w.shape[0], -1)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_q1_0_many_tokens_run_on_the_q8_0_kernels(n_threads):
    """For more tokens than one call takes, Q1_0 rows are decoded per tile into Q8_0 (eight at
    a time into the repacked Q8_0 layout) and run on the tier's Q8_0 kernels: the products
    equal those of the Q8_0 rows they decode to, and Q1_0's reference within its tolerance."""
    rng = np.random.default_rng(40 + n_threads)
    n_cols, n_rows = 512, 37
    pool = _core.ThreadPool(n_threads)
    w = random_weights(rng, "Q1_0", n_rows, n_cols)
    w8 = q1_0_as_q8_0(w)
    isa = _core.cpu_isa()
    np.testing.assert_array_equal(_core.testing.decode_rows(int(QT.Q1_0), isa, w, n_cols), w8)
    layout = _core.testing.repacked_layout(int(QT.Q8_0))
    if layout:
        groups = _core.testing.decode_rows_x8(int(QT.Q1_0), isa, w[:32], n_cols)
        np.testing.assert_array_equal(groups.reshape(-1),
                                      _core.testing.repack(w8[:32], int(QT.Q8_0), n_cols).reshape(-1))
    for n_tokens in (5, 17, 70):
        x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
        got = _core.testing.matmul(pool, int(QT.Q1_0), w, n_cols, x)
        if layout:  # the Q8_0 layout takes whole groups only (its activations carry sums): the last 5 rows plain
            head = _core.testing.repack(w8[:32], int(QT.Q8_0), n_cols)
            want = np.concatenate([_core.testing.matmul(pool, int(QT.Q8_0), head, n_cols, x, layout=layout),
                                   _core.testing.matmul(pool, int(QT.Q8_0), w8[32:], n_cols, x)], axis=1)
        else:
            want = _core.testing.matmul(pool, int(QT.Q8_0), w8, n_cols, x)
        np.testing.assert_array_equal(got, want, err_msg=f"{n_tokens} tokens")
        a = _core.testing.quantize_activations(int(QT.Q1_0), x)
        ref = _core.testing.vec_dot(int(QT.Q1_0), "scalar", w, a, n_cols)
        assert np.all(np.abs(got - ref) <= tolerance("Q1_0", w, a, n_cols))


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_shared_input_equals_one_matmul_each(n_threads):
    """Weights of different types, layouts and activation formats on one input, in one
    dispatch (as the model runs q, k, v and gate, up): each output is bit for bit what its
    own matmul gives, for one token and for many."""
    rng = np.random.default_rng(7)
    n_cols = 512
    pool = _core.ThreadPool(n_threads)
    specs = [("Q4_K", 64), ("Q6_K", 16), ("Q4_K", 8), ("Q8_0", 24), ("F16", 5), ("Q4_0", 40), ("Q5_1", 3)]
    weights = []
    for name, n_rows in specs:
        typ, w = int(QT[name]), random_weights(rng, name, n_rows, n_cols)
        layout = _core.testing.repacked_layout(typ) if n_rows % 8 == 0 else 0
        weights.append((typ, _core.testing.repack(w, typ, n_cols) if layout else w, layout))
    for n_tokens in (1, 3, 70):
        x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
        got = _core.testing.matmul_shared_input(pool, weights, n_cols, x)
        assert len(got) == len(weights)
        for (typ, w, layout), y in zip(weights, got):
            np.testing.assert_array_equal(y, _core.testing.matmul(pool, typ, w, n_cols, x, layout=layout))
    with pytest.raises(ValueError, match="row_bytes"):
        _core.testing.matmul_shared_input(pool, [(int(QT["Q4_0"]), np.zeros((4, 10), np.uint8), 0)], n_cols, x)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_jobs_with_inputs_of_their_own_equal_one_matmul_each(n_threads):
    """matmul_jobs (a mixture of experts' chosen experts, each over its own tokens): every
    output is bit for bit its own matmul's, inputs shared or not, some with no tokens."""
    rng = np.random.default_rng(8)
    n_cols = 256
    pool = _core.ThreadPool(n_threads)
    jobs, want = [], []
    xs = [rng.standard_normal((n, n_cols)).astype(np.float32) for n in (1, 5, 0, 17, 5)]
    for i, (name, n_rows) in enumerate([("Q4_K", 32), ("Q8_0", 16), ("Q4_0", 8), ("F16", 12), ("Q6_K", 24),
                                        ("Q4_K", 32)]):
        typ, w = int(QT[name]), random_weights(rng, name, n_rows, n_cols)
        layout = _core.testing.repacked_layout(typ) if n_rows % 8 == 0 else 0
        wl = _core.testing.repack(w, typ, n_cols) if layout else w
        x = xs[i % len(xs)]
        jobs.append((typ, wl, layout, x))
        want.append(_core.testing.matmul(pool, typ, wl, n_cols, x, layout=layout) if len(x) else
                    np.zeros((0, n_rows), np.float32))
    got = _core.testing.matmul_jobs(pool, jobs, n_cols)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("n_threads", [2, 3])
def test_matmul_threads_give_one_threads_result(n_threads):
    """Enough rows for several tiles per thread (the last ones cut smaller): every thread
    count gives bit for bit what one thread gives, repacked and plain, one token and many."""
    rng = np.random.default_rng(11)
    n_cols = 256
    one, pool = _core.ThreadPool(1), _core.ThreadPool(n_threads)
    for name, n_rows in (("Q4_K", 2048), ("Q6_K", 1000), ("Q8_0", 1992)):
        typ, w = int(QT[name]), random_weights(rng, name, n_rows, n_cols)
        layout = _core.testing.repacked_layout(typ)
        if layout:
            w = _core.testing.repack(w, typ, n_cols)
        for n_tokens in (1, 2, 9):
            x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
            np.testing.assert_array_equal(_core.testing.matmul(pool, typ, w, n_cols, x, layout=layout),
                                          _core.testing.matmul(one, typ, w, n_cols, x, layout=layout))


def test_matmul_many_tokens_and_rows_f32_against_numpy():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((300, 96)).astype(np.float32)
    x = rng.standard_normal((70, 96)).astype(np.float32)
    got = _core.testing.matmul(_core.ThreadPool(2), int(QT.F32), w.view(np.uint8), 96, x)
    want = x.astype(np.float64) @ w.T.astype(np.float64)
    # 96 products: float32 sums within (96/32 + 8) * 2**-24 * sum|x w|
    bound = 11 * 2.0 ** -24 * (np.abs(x).astype(np.float64) @ np.abs(w).T)
    assert np.all(np.abs(got - want) <= bound)


def test_matmul_large_token_count_uses_all_chunks():
    """More tokens than one L2-sized chunk: every (token, row) is written once."""
    rng = np.random.default_rng(4)
    n_cols = 4096
    w = random_weights(rng, "Q8_0", 9, n_cols)
    x = rng.standard_normal((130, n_cols)).astype(np.float32)
    got = _core.testing.matmul(_core.ThreadPool(2), int(QT.Q8_0), w, n_cols, x)
    a = _core.testing.quantize_activations(int(QT.Q8_0), x)
    np.testing.assert_array_equal(got, _core.testing.vec_dot(int(QT.Q8_0), "best", w, a, n_cols))


def test_pool_reused_from_several_python_threads_in_turn():
    pool = _core.ThreadPool(2)
    rng = np.random.default_rng(5)
    w = random_weights(rng, "Q4_0", 64, 256)
    x = rng.standard_normal((3, 256)).astype(np.float32)
    want = _core.testing.matmul(pool, int(QT.Q4_0), w, 256, x)
    lock = threading.Lock()
    results = []

    def work():
        for _ in range(20):
            with lock:  # one pool, calls must not overlap
                results.append(_core.testing.matmul(pool, int(QT.Q4_0), w, 256, x))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 60 and all(np.array_equal(r, want) for r in results)


def test_default_threads_and_bad_input():
    assert _core.ThreadPool.default_threads() >= 1
    assert _core.ThreadPool().n_threads == _core.ThreadPool.default_threads()
    pool = _core.ThreadPool(1)
    with pytest.raises(ValueError):
        _core.testing.matmul(pool, int(QT.Q4_K), np.zeros((1, 144), np.uint8), 128, np.zeros((1, 128), np.float32))
    with pytest.raises(ValueError):
        _core.testing.matmul(pool, int(QT.Q4_0), np.zeros((1, 18), np.uint8), 32, np.zeros((1, 64), np.float32))


def test_memory_read_checksum():
    data = np.arange(1000, dtype=np.uint64).view(np.uint8)
    for n in (1, 2, 3):
        assert _core.memory_read(_core.ThreadPool(n), data) == int(np.arange(1000).sum())
