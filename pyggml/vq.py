"""Scalar and product quantization of vectors, with nearest-neighbour search on the codes.

For embeddings (``Llama.embed``) and any other float vectors: numpy arrays in, numpy arrays
out. The loops over the vectors (encoding, search with its top-k, k-means' assignment step)
run in C++ (cpp/quant/vq.cpp) with the GIL released; training's bookkeeping runs here.

- ``ScalarQuantizer(dim, bits=8)``: each component in 8 or 4 bits: ``2**bits`` equal cells
  between that component's trained minimum and maximum, each read back as its centre (the
  ranges of FAISS's QT_8bit / QT_4bit). 8 bits: ``dim``
  bytes per vector; 4 bits: ``ceil(dim / 2)``.
- ``ProductQuantizer(dim, m=8, nbits=8)``: the vector cut into ``m`` sub-vectors, each stored
  as the index of its nearest of ``2**nbits`` centroids learnt by k-means (FAISS's
  IndexPQ): ``m`` bytes per vector. Search is asymmetric: the query stays exact, and its
  distance to a code is the sum of ``m`` entries of a per-query table.

Distances are squared L2. ``search`` returns ``(distances, ids)``, each ``(n_queries, k)``,
nearest first; ties go to the smaller id, and past the number of codes the ids are -1 at
distance +inf.
"""

from __future__ import annotations

import numpy as np

from pyggml import _core
from pyggml.errors import ArgumentError

__all__ = ["ScalarQuantizer", "ProductQuantizer", "kmeans"]


def _vectors(x, dim: int, what: str, allow_single: bool = False) -> np.ndarray:
    """x as C-contiguous float32 (n, dim), or an ArgumentError naming `what`."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise ArgumentError(f"{what} must hold real numbers, got dtype {a.dtype}")
    if allow_single and a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != dim:
        raise ArgumentError(f"{what} must be (n, {dim}), got shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ArgumentError(f"{what} holds NaN or infinite values")
    return a


def _codes(codes, code_size: int) -> np.ndarray:
    a = np.asarray(codes)
    if a.dtype != np.uint8:
        raise ArgumentError(f"codes must be uint8, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[1] != code_size:
        raise ArgumentError(f"codes must be (n, {code_size}), got shape {a.shape}")
    return np.ascontiguousarray(a)


def _k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ArgumentError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class ScalarQuantizer:
    """Each component quantized to ``2**bits`` levels: the centres of equal cells across its trained range.

    ``n_threads``: threads of encode/decode/search (0: one per physical core).
    """

    def __init__(self, dim: int, bits: int = 8, n_threads: int = 0):
        self.dim = _positive_int(dim, "dim")
        if bits not in (4, 8):
            raise ArgumentError(f"bits must be 8 or 4, got {bits!r}")
        self.bits = int(bits)
        self.n_threads = int(n_threads)
        self.vmin: np.ndarray | None = None  # (dim,) the lowest level (first cell's centre) of each component
        self.step: np.ndarray | None = None  # (dim,) the distance between its levels

    @property
    def code_size(self) -> int:
        """Bytes per encoded vector."""
        return self.dim if self.bits == 8 else (self.dim + 1) // 2

    @property
    def is_trained(self) -> bool:
        return self.vmin is not None

    def train(self, x) -> "ScalarQuantizer":
        """Learns each component's range [min, max] from x (n, dim)."""
        x = _vectors(x, self.dim, "x")
        if len(x) == 0:
            raise ArgumentError("x must hold at least one vector to train on")
        lo, hi = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
        # 2**bits cells of equal width across [min, max], each read back as its centre
        step = (hi - lo) / (1 << self.bits)
        self.vmin = (lo + step / 2).astype(np.float32)
        self.step = step.astype(np.float32)
        return self

    def _trained(self) -> None:
        if not self.is_trained:
            raise ArgumentError("the ScalarQuantizer is not trained: call train(x) first")

    def encode(self, x) -> np.ndarray:
        """Codes (n, code_size) uint8 of x (n, dim)."""
        self._trained()
        return _core.sq_encode(_vectors(x, self.dim, "x"), self.vmin, self.step, self.bits, self.n_threads)

    def decode(self, codes) -> np.ndarray:
        """Vectors (n, dim) float32 that codes (n, code_size) stand for."""
        self._trained()
        return _core.sq_decode(_codes(codes, self.code_size), self.vmin, self.step, self.bits, self.n_threads)

    def search(self, codes, queries, k: int):
        """(distances, ids), each (n_queries, k): the k codes nearest each query, nearest first."""
        self._trained()
        return _core.sq_search(_codes(codes, self.code_size), _vectors(queries, self.dim, "queries", True), _k(k),
                               self.vmin, self.step, self.bits, self.n_threads)


def kmeans(x, k: int, n_iter: int = 25, seed: int = 0, n_threads: int = 0) -> np.ndarray:
    """Centroids (k, dim) float32 of x (n, dim), n >= k, by Lloyd's iterations.

    Starts from k distinct rows drawn with ``seed``; each iteration assigns every row to its
    nearest centroid (in C++) and moves each centroid to the mean of its rows. A centroid
    left without rows takes half of a populated one (chosen in proportion to its size), both
    nudged apart, as FAISS does. Deterministic for a seed, whatever the thread count.
    """
    if np.ndim(x) != 2:
        raise ArgumentError(f"x must be (n, dim), got shape {np.shape(x)}")
    x = _vectors(x, np.shape(x)[1], "x")
    n, dim = x.shape
    k = _positive_int(k, "k")
    if n < k:
        raise ArgumentError(f"k-means needs at least k = {k} vectors, got {n}")
    rng = np.random.default_rng(seed)
    centroids = x[rng.choice(n, size=k, replace=False)].copy()
    for _ in range(_positive_int(n_iter, "n_iter")):
        assign, _dist = _core.vq_assign(x, centroids, n_threads)
        counts = np.bincount(assign, minlength=k)
        sums = np.stack([np.bincount(assign, weights=x[:, d], minlength=k) for d in range(dim)], axis=1)
        filled = counts > 0
        centroids[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
        _split_clusters(centroids, counts, rng)
    return centroids


def _split_clusters(centroids: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> None:
    """Gives every empty cluster half of a populated one, in place (counts updated too)."""
    eps = np.float32(1.0 / 1024)
    sign = np.where(np.arange(centroids.shape[1]) % 2 == 0, eps, -eps).astype(np.float32)
    for empty in np.flatnonzero(counts == 0):
        weights = np.maximum(counts - 1, 0).astype(np.float64)
        if weights.sum() == 0:
            return
        donor = rng.choice(len(counts), p=weights / weights.sum())
        centroids[empty] = centroids[donor] * (1 + sign)
        centroids[donor] = centroids[donor] * (1 - sign)
        counts[empty] = counts[donor] // 2
        counts[donor] -= counts[empty]


class ProductQuantizer:
    """``m`` sub-spaces of ``dim // m`` components, each coded by the nearest of ``2**nbits`` centroids.

    Training runs k-means on each sub-space (``n_iter`` iterations) over at most
    ``max_points_per_centroid * 2**nbits`` vectors drawn with ``seed`` (FAISS's defaults:
    25 iterations, 256 points per centroid). ``n_threads``: 0 for one per physical core.
    """

    def __init__(self, dim: int, m: int = 8, nbits: int = 8, n_iter: int = 25, seed: int = 1234,
                 max_points_per_centroid: int = 256, n_threads: int = 0):
        self.dim = _positive_int(dim, "dim")
        self.m = _positive_int(m, "m")
        if self.dim % self.m:
            raise ArgumentError(f"dim {self.dim} is not a multiple of m {self.m}")
        if isinstance(nbits, bool) or nbits not in range(1, 9):
            raise ArgumentError(f"nbits must be 1 to 8 (one byte per sub-space), got {nbits!r}")
        self.nbits = int(nbits)
        self.n_iter = _positive_int(n_iter, "n_iter")
        self.seed = int(seed)
        self.max_points_per_centroid = _positive_int(max_points_per_centroid, "max_points_per_centroid")
        self.n_threads = int(n_threads)
        self.centroids: np.ndarray | None = None  # (m, ksub, dsub)

    @property
    def dsub(self) -> int:
        return self.dim // self.m

    @property
    def ksub(self) -> int:
        return 1 << self.nbits

    @property
    def code_size(self) -> int:
        """Bytes per encoded vector."""
        return self.m

    @property
    def is_trained(self) -> bool:
        return self.centroids is not None

    def train(self, x) -> "ProductQuantizer":
        """Learns each sub-space's centroids from x (n, dim), n >= 2**nbits."""
        x = _vectors(x, self.dim, "x")
        if len(x) < self.ksub:
            raise ArgumentError(f"training needs at least 2**nbits = {self.ksub} vectors, got {len(x)}")
        rng = np.random.default_rng(self.seed)
        limit = self.max_points_per_centroid * self.ksub
        if len(x) > limit:
            x = x[np.sort(rng.choice(len(x), size=limit, replace=False))]
        centroids = np.empty((self.m, self.ksub, self.dsub), np.float32)
        for j in range(self.m):
            sub = np.ascontiguousarray(x[:, j * self.dsub:(j + 1) * self.dsub])
            centroids[j] = kmeans(sub, self.ksub, self.n_iter, seed=self.seed + j, n_threads=self.n_threads)
        self.centroids = centroids
        return self

    def _trained(self) -> None:
        if not self.is_trained:
            raise ArgumentError("the ProductQuantizer is not trained: call train(x) first")

    def encode(self, x) -> np.ndarray:
        """Codes (n, m) uint8 of x (n, dim): the nearest centroid of each sub-vector."""
        self._trained()
        return _core.pq_encode(_vectors(x, self.dim, "x"), self.centroids, self.n_threads)

    def decode(self, codes) -> np.ndarray:
        """Vectors (n, dim) float32: the centroids the codes (n, m) name, side by side."""
        self._trained()
        codes = _codes(codes, self.m)
        if self.ksub < 256 and codes.size and codes.max() >= self.ksub:
            raise ArgumentError(f"codes hold {codes.max()}, not below 2**nbits = {self.ksub}")
        return self.centroids[np.arange(self.m), codes].reshape(len(codes), self.dim)

    def search(self, codes, queries, k: int):
        """(distances, ids), each (n_queries, k): asymmetric distance search, nearest first."""
        self._trained()
        return _core.pq_search(_codes(codes, self.m), _vectors(queries, self.dim, "queries", True), _k(k),
                               self.centroids, self.n_threads)
