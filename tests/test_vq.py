"""pyggml.vq: scalar and product quantizers, checked against numpy on the same codes."""

import numpy as np
import pytest
from support.cpu_tiers import tier_params

from pyggml import _core, vq
from pyggml.errors import ArgumentError


def clustered(n, dim, n_clusters=40, seed=0):
    """n vectors (n, dim) float32 around n_clusters random centres, as embeddings cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)) * 3
    return (centres[rng.integers(0, n_clusters, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def squared_l2(queries, vectors):
    """(nq, n) squared distances, in float64."""
    q, v = queries.astype(np.float64), vectors.astype(np.float64)
    return np.maximum((q * q).sum(1)[:, None] - 2 * q @ v.T + (v * v).sum(1)[None, :], 0.0)


def assert_top_k(distances, ids, exact, k):
    """ids are k nearest by the exact (nq, n) distances (ties either way), distances theirs, ascending."""
    assert distances.shape == ids.shape == (exact.shape[0], k)
    assert ids.dtype == np.int64 and distances.dtype == np.float32
    np.testing.assert_allclose(distances, np.take_along_axis(exact, ids, 1), rtol=1e-5, atol=1e-4)
    kth = np.sort(exact, axis=1)[:, k - 1]
    assert (np.take_along_axis(exact, ids, 1) <= kth[:, None] * (1 + 1e-5) + 1e-4).all()
    assert (np.diff(distances, axis=1) >= 0).all()
    assert all(len(set(row)) == k for row in ids.tolist())


def recall_at(ids, vectors, queries, k=10):
    truth = np.argsort(squared_l2(queries, vectors), axis=1, kind="stable")[:, :k]
    return np.mean([len(set(a) & set(b)) / k for a, b in zip(ids.tolist(), truth.tolist())])


@pytest.mark.parametrize("bits,dim", [(8, 16), (4, 16), (4, 13)])
def test_scalar_round_trip_within_half_a_step(bits, dim):
    x = clustered(300, dim)
    sq = vq.ScalarQuantizer(dim, bits=bits).train(x)
    codes = sq.encode(x)
    assert codes.dtype == np.uint8 and codes.shape == (300, sq.code_size) == (300, dim if bits == 8 else (dim + 1) // 2)
    back = sq.decode(codes)
    assert back.dtype == np.float32 and back.shape == x.shape
    assert (np.abs(back - x) <= sq.step / 2 * (1 + 1e-4) + 1e-6).all()
    # the levels are the centres of 2**bits equal cells across the trained range
    np.testing.assert_allclose(sq.vmin - sq.step / 2, x.min(0), atol=1e-5)
    np.testing.assert_allclose(sq.vmin + sq.step * ((1 << bits) - 0.5), x.max(0), atol=1e-5)
    # and decoding then encoding is the identity
    np.testing.assert_array_equal(sq.encode(back), codes)


def test_scalar_four_bit_packs_two_components_per_byte_even_low():
    sq = vq.ScalarQuantizer(3, bits=4)
    sq.train(np.array([[0, 0, 0], [15, 15, 15]], np.float32))
    codes = sq.encode(np.array([[1, 2, 3]], np.float32))
    assert codes.tolist() == [[1 | 2 << 4, 3]]


def test_scalar_clamps_to_the_range_and_keeps_constant_components():
    x = np.array([[0.0, 5.0], [1.0, 5.0]], np.float32)
    sq = vq.ScalarQuantizer(2).train(x)
    back = sq.decode(sq.encode(np.array([[-3.0, 5.0], [9.0, 7.0]], np.float32)))
    np.testing.assert_allclose(back, [[0.5 / 256, 5.0], [1 - 0.5 / 256, 5.0]], rtol=1e-6)
    assert sq.encode(np.array([[-3.0, 5.0], [9.0, 7.0]], np.float32)).tolist() == [[0, 0], [255, 0]]


@pytest.mark.parametrize("bits", [8, 4])
def test_scalar_search_equals_brute_force_on_decoded_vectors(bits):
    data = clustered(520, 24, seed=1)
    x, queries = data[:500], data[500:]
    sq = vq.ScalarQuantizer(24, bits=bits).train(x)
    codes = sq.encode(x)
    distances, ids = sq.search(codes, queries, 10)
    assert_top_k(distances, ids, squared_l2(queries, sq.decode(codes)), 10)


# the higher x86 tiers run the AVX2 twins; the other tiers run the reference
@pytest.mark.parametrize("isa", tier_params("avx2"))
@pytest.mark.parametrize("bits,dim", [(8, 64), (8, 13), (4, 64), (4, 13), (4, 6)])
def test_scalar_search_simd_twin_gives_the_reference_bits(isa, bits, dim):
    data = clustered(1040, dim, seed=dim)
    x, queries = data[:1000], data[1000:]
    sq = vq.ScalarQuantizer(dim, bits=bits).train(x)
    codes = sq.encode(x)
    if bits == 4 and dim % 2:  # a stray high nibble past the last component must not count
        codes[:, -1] |= 0xF0
    args = (codes, queries, 1000, sq.vmin, sq.step, bits, 1)
    ref = _core.sq_search(*args, isa="scalar")
    got = _core.sq_search(*args, isa=isa)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def test_product_encode_is_the_nearest_centroid_of_each_sub_vector():
    x = clustered(600, 16, seed=3)
    pq = vq.ProductQuantizer(16, m=4, nbits=5, n_iter=5).train(x)
    assert pq.centroids.shape == (4, 32, 4) and pq.centroids.dtype == np.float32
    codes = pq.encode(x)
    assert codes.dtype == np.uint8 and codes.shape == (600, 4)
    for j in range(4):
        sub = x[:, j * 4:(j + 1) * 4]
        nearest = np.argmin(squared_l2(sub, pq.centroids[j]), axis=1)
        np.testing.assert_array_equal(codes[:, j], nearest)
    back = pq.decode(codes)
    np.testing.assert_array_equal(back[5], np.concatenate([pq.centroids[j, codes[5, j]] for j in range(4)]))


def test_product_search_equals_lookup_tables_and_decoded_distances():
    data = clustered(715, 32, seed=4)
    x, queries = data[:700], data[700:]
    pq = vq.ProductQuantizer(32, m=8, nbits=8, n_iter=4).train(x)
    codes = pq.encode(x)
    distances, ids = pq.search(codes, queries, 10)
    # per-query tables (nq, m, ksub), summed over the code's entries
    tables = np.stack([squared_l2(queries[:, j * 4:(j + 1) * 4], pq.centroids[j]) for j in range(8)], axis=1)
    adc = tables[:, np.arange(8), codes].sum(-1)  # (nq, n)
    assert_top_k(distances, ids, adc, 10)
    # asymmetric distance = distance to the decoded vector
    assert_top_k(distances, ids, squared_l2(queries, pq.decode(codes)), 10)


def test_kmeans_moves_centroids_to_their_means_and_fills_every_cluster():
    x = clustered(400, 3, n_clusters=5, seed=6)
    c = vq.kmeans(x, 8, n_iter=10, seed=0)
    assert c.shape == (8, 3)
    assign = np.argmin(squared_l2(x, c), axis=1)
    assert len(np.unique(assign)) == 8
    # Lloyd's iterations never increase the error: more iterations do at least as well
    err = lambda cen: squared_l2(x, cen).min(1).sum()  # noqa: E731
    assert err(vq.kmeans(x, 8, n_iter=10, seed=0)) <= err(vq.kmeans(x, 8, n_iter=1, seed=0)) + 1e-3


def test_kmeans_splits_empty_clusters_on_duplicate_points():
    # two distinct points for four centroids: the duplicates' ties leave clusters empty
    x = np.repeat(np.array([[1.0, 2.0], [10.0, 10.0]], np.float32), 50, axis=0)
    c = vq.kmeans(x, 4, n_iter=5, seed=0)
    assert np.isfinite(c).all() and len(np.unique(c, axis=0)) == 4
    assert squared_l2(x, c).min(1).max() < 0.1


def test_search_with_k_beyond_the_codes_pads_with_minus_one():
    x = clustered(5, 4, seed=7)
    sq = vq.ScalarQuantizer(4).train(x)
    distances, ids = sq.search(sq.encode(x), x[:2], 7)
    assert sorted(ids[0, :5].tolist()) == [0, 1, 2, 3, 4] and ids[:, 5:].tolist() == [[-1, -1]] * 2
    assert np.isinf(distances[:, 5:]).all() and ids[0, 0] == 0 and ids[1, 0] == 1
    # one query as a 1-D vector
    d1, i1 = sq.search(sq.encode(x), x[0], 3)
    assert i1.shape == (1, 3) and i1[0, 0] == 0


def test_clustered_recall_at_10_is_high():
    data = clustered(3060, 32, seed=8)
    x, queries = data[:3000], data[3000:]
    sq8 = vq.ScalarQuantizer(32, bits=8).train(x)
    sq4 = vq.ScalarQuantizer(32, bits=4).train(x)
    pq = vq.ProductQuantizer(32, m=8, nbits=8, n_iter=10).train(x)
    recall = {name: recall_at(q.search(q.encode(x), queries, 10)[1], x, queries)
              for name, q in [("sq8", sq8), ("sq4", sq4), ("pq", pq)]}
    assert recall["sq8"] >= 0.95 and recall["sq4"] >= 0.6 and recall["pq"] >= 0.3, recall
    assert recall["sq8"] >= recall["sq4"]


def test_training_is_deterministic_for_a_seed_and_thread_count():
    x = clustered(600, 8, seed=10)
    a = vq.ProductQuantizer(8, m=2, nbits=6, n_iter=5, seed=3, n_threads=1).train(x)
    b = vq.ProductQuantizer(8, m=2, nbits=6, n_iter=5, seed=3, n_threads=2).train(x)
    c = vq.ProductQuantizer(8, m=2, nbits=6, n_iter=5, seed=4).train(x)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert not np.array_equal(a.centroids, c.centroids)
    np.testing.assert_array_equal(a.search(a.encode(x), x[:9], 4)[1], b.search(b.encode(x), x[:9], 4)[1])


def test_bad_arguments_raise_value_errors_naming_the_problem():
    x = clustered(300, 8)
    sq = vq.ScalarQuantizer(8)
    with pytest.raises(ArgumentError, match="not trained"):
        sq.encode(x)
    sq.train(x)
    with pytest.raises(ValueError, match=r"x must be \(n, 8\)"):
        sq.encode(x[:, :7])
    with pytest.raises(ValueError, match="real numbers"):
        sq.encode(np.array([["a"] * 8]))
    with pytest.raises(ValueError, match="NaN"):
        sq.train(np.full((2, 8), np.nan))
    with pytest.raises(ValueError, match="codes must be uint8"):
        sq.decode(sq.encode(x).astype(np.int32))
    with pytest.raises(ValueError, match=r"codes must be \(n, 8\)"):
        sq.search(sq.encode(x)[:, :4], x[:1], 3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        sq.search(sq.encode(x), x[:1], 0)
    with pytest.raises(ValueError, match="bits must be 8 or 4"):
        vq.ScalarQuantizer(8, bits=6)
    with pytest.raises(ValueError, match="not a multiple of m"):
        vq.ProductQuantizer(10, m=4)
    with pytest.raises(ValueError, match="nbits must be 1 to 8"):
        vq.ProductQuantizer(8, m=2, nbits=9)
    with pytest.raises(ValueError, match="at least 2\\*\\*nbits = 256"):
        vq.ProductQuantizer(8, m=2).train(x[:100])
    pq = vq.ProductQuantizer(8, m=2, nbits=4, n_iter=2).train(x)
    with pytest.raises(ValueError, match="not below"):
        pq.decode(np.full((1, 2), 16, np.uint8))


def test_core_entry_points_check_shapes_and_code_ranges():
    cen = np.zeros((2, 16, 4), np.float32)
    with pytest.raises(ValueError, match="pq_search: code 16 at vector 0 is not below ksub 16"):
        _core.pq_search(np.full((1, 2), 16, np.uint8), np.zeros((1, 8), np.float32), 1, cen)
    with pytest.raises(ValueError, match="pq_search: queries must be"):
        _core.pq_search(np.zeros((1, 2), np.uint8), np.zeros((1, 7), np.float32), 1, cen)
    with pytest.raises(ValueError, match="sq_search: k must be at least 1"):
        _core.sq_search(np.zeros((1, 4), np.uint8), np.zeros((1, 4), np.float32), 0, np.zeros(4, np.float32),
                        np.ones(4, np.float32), 8)
    with pytest.raises(ValueError, match="instruction set"):
        _core.sq_search(np.zeros((1, 4), np.uint8), np.zeros((1, 4), np.float32), 1, np.zeros(4, np.float32),
                        np.ones(4, np.float32), 8, isa="sse9")
    with pytest.raises(ValueError, match="bits must be 8 or 4"):
        _core.sq_encode(np.zeros((1, 4), np.float32), np.zeros(4, np.float32), np.ones(4, np.float32), 3)
    with pytest.raises(TypeError):  # codes are not converted from other integer types
        _core.sq_decode(np.zeros((1, 4), np.int64), np.zeros(4, np.float32), np.ones(4, np.float32), 8)


@pytest.mark.faiss
@pytest.mark.parametrize("kind", ["sq8", "sq4", "pq"])
def test_recall_at_10_within_one_point_of_faiss(kind):
    faiss = pytest.importorskip("faiss")
    dim = 64
    data = clustered(20200, dim, n_clusters=200, seed=11)
    x, queries = data[:20000], data[20000:]
    if kind == "pq":
        ours, theirs = vq.ProductQuantizer(dim, m=8, nbits=8), faiss.IndexPQ(dim, 8, 8)
    else:
        bits = 8 if kind == "sq8" else 4
        qtype = faiss.ScalarQuantizer.QT_8bit if bits == 8 else faiss.ScalarQuantizer.QT_4bit
        ours, theirs = vq.ScalarQuantizer(dim, bits=bits), faiss.IndexScalarQuantizer(dim, qtype)
    ours.train(x)
    theirs.train(x)
    theirs.add(x)
    ours_recall = recall_at(ours.search(ours.encode(x), queries, 10)[1], x, queries)
    theirs_recall = recall_at(theirs.search(queries, 10)[1], x, queries)
    assert ours_recall >= theirs_recall - 0.01, (ours_recall, theirs_recall)
