"""Vector quantizers (pyggml.vq) beside FAISS: recall@10 and search throughput on one thread.

Clustered random vectors (as embeddings cluster); each quantizer trained, the base encoded,
then the queries searched for their 10 nearest codes. Prints, per method, recall@10 against
exact search on the float vectors and queries per second, with FAISS's figures and the ratio
measured in the same run when faiss-cpu is installed (`pip install pyggml[faiss]`). Timings
are medians of --repeat runs, pyggml and FAISS alternating.

    python benchmarks/vq.py --n 100000 --dim 128 --queries 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from pyggml import vq


def clustered(n: int, dim: int, n_clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)) * 3
    return (centres[rng.integers(0, n_clusters, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def exact_top(x: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    d = (queries.astype(np.float64) ** 2).sum(1)[:, None] - 2 * queries.astype(np.float64) @ x.T.astype(np.float64)
    d += (x.astype(np.float64) ** 2).sum(1)[None, :]
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def recall(ids: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids.tolist(), truth.tolist())]))


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=50000, help="base vectors")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--clusters", type=int, default=500)
    p.add_argument("--m", type=int, default=8, help="product quantizer sub-spaces")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        faiss = None
    data = clustered(a.n + a.queries, a.dim, a.clusters, a.seed)
    x, queries = data[: a.n], data[a.n:]
    truth = exact_top(x, queries, 10)
    print(f"{a.n} vectors x {a.dim}, {a.queries} queries, k=10, one thread"
          + ("" if faiss else " (faiss-cpu not installed: pyggml only)"))
    print(f"{'method':<10} {'recall@10':>9} {'q/s':>9} {'faiss recall':>12} {'faiss q/s':>9} {'ratio':>6}")
    methods = [("SQ8", lambda: vq.ScalarQuantizer(a.dim, 8, n_threads=1),
                lambda: faiss.IndexScalarQuantizer(a.dim, faiss.ScalarQuantizer.QT_8bit)),
               ("SQ4", lambda: vq.ScalarQuantizer(a.dim, 4, n_threads=1),
                lambda: faiss.IndexScalarQuantizer(a.dim, faiss.ScalarQuantizer.QT_4bit)),
               (f"PQ{a.m}x8", lambda: vq.ProductQuantizer(a.dim, m=a.m, nbits=8, n_threads=1),
                lambda: faiss.IndexPQ(a.dim, a.m, 8))]
    for name, make_ours, make_theirs in methods:
        ours = make_ours().train(x)
        codes = ours.encode(x)
        ours_recall = recall(ours.search(codes, queries, 10)[1], truth)
        row = f"{name:<10} {ours_recall:>9.3f}"
        if faiss is None:
            secs = timed(lambda: ours.search(codes, queries, 10), a.repeat)
            print(f"{row} {a.queries / secs:>9.0f}")
            continue
        theirs = make_theirs()
        theirs.train(x)
        theirs.add(x)
        theirs_recall = recall(theirs.search(queries, 10)[1], truth)
        t_ours, t_theirs = [], []
        for _ in range(a.repeat):
            t_ours.append(timed(lambda: ours.search(codes, queries, 10), 1))
            t_theirs.append(timed(lambda: theirs.search(queries, 10), 1))
        qps, fqps = a.queries / statistics.median(t_ours), a.queries / statistics.median(t_theirs)
        print(f"{row} {qps:>9.0f} {theirs_recall:>12.3f} {fqps:>9.0f} {qps / fqps:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
