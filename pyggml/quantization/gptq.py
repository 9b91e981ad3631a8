"""GPTQ (Frantar et al., 2022) onto the grids of GGUF block formats.

For a weight W (rows, cols) and the Hessian H = 2 X^T X / n of its input X, GPTQ quantizes the
columns one at a time and spreads each column's rounding error over the columns not yet
quantized, weighted by the inverse Hessian, so that ||W X - Q X|| rather than ||W - Q|| is kept
small. As in the paper: damping of 1% of the mean diagonal, the upper Cholesky factor of H^-1,
blocks of 128 columns with lazy batch updates of the rest, and optional act-order (columns in
decreasing order of H's diagonal).

The grid is the target type's own. A GGUF block (32 columns for the legacy types and IQ4_NL,
256 for the k-quants and IQ4_XS) gets its scales from the type's round-to-nearest quantizer
(optionally steered by an importance matrix) run on the block's current, error-corrected weights
when GPTQ reaches the block; with act-order they come from the original weights up front (the
blocks are fixed column ranges of the file). Each element then rounds to the nearest level
scale * levels[q] + offset of its group, and the indices are packed into the scale bytes the
quantizer chose, so the output is a standard GGUF tensor. The loop runs in C++
(_core.gptq_quantize, one call per matrix); the block updates use numpy's BLAS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from ..errors import PyggmlError
from ..formats.types import GGMLType

GRID_TYPES = frozenset(GGMLType[n] for n in (
    "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"))


@dataclass
class Prepared:
    """What GPTQ needs from one Hessian, shared by every weight fed by the same input."""

    u: np.ndarray          # (cols, cols) float32 upper Cholesky factor of the damped H^-1 (permuted)
    perm: np.ndarray | None  # column order with act-order, else None
    dead: np.ndarray       # (cols,) bool: columns that never saw input (set to zero)
    importance: np.ndarray  # (cols,) diag(H) / 2 = mean squared activation per column


def inverse_cholesky_upper(h: np.ndarray) -> np.ndarray:
    """U upper triangular with U^T U = h^-1, for symmetric positive definite h (float32).

    With J the reversal permutation and L L^T = J h J: h^-1 = (L^-1 J)^T (L^-1 J), so
    U = J L^-1 J, one Cholesky and one triangular inverse instead of an inverse and two
    factorizations. Raises np.linalg.LinAlgError when h is not positive definite.
    """
    from scipy.linalg import lapack

    rev = np.ascontiguousarray(h[::-1, ::-1], dtype=np.float32)
    low, info = lapack.spotrf(rev, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    inv, info = lapack.strtri(low, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular factor")
    return np.ascontiguousarray(inv[::-1, ::-1])


def prepare(h: np.ndarray, damp: float = 0.01, act_order: bool = False) -> Prepared:
    """Damp H (damp * mean diagonal, grown tenfold until Cholesky succeeds) and factor its inverse."""
    h = np.array(h, dtype=np.float32)
    diag = np.diag(h).copy()
    importance = diag / 2
    dead = diag <= 0
    idx = np.arange(len(h))
    h[idx[dead], idx[dead]] = 1.0
    perm = None
    if act_order:
        perm = np.argsort(-np.diag(h), kind="stable")
        h = h[perm][:, perm]
    mean = float(np.mean(np.diag(h)))
    for _ in range(6):
        hd = h.copy()
        hd[idx, idx] += damp * mean
        try:
            return Prepared(inverse_cholesky_upper(hd), perm, dead, importance.astype(np.float32))
        except np.linalg.LinAlgError:
            damp *= 10
    raise PyggmlError("GPTQ: the Hessian stays singular after damping (no calibration input reached this layer?)")


def gptq_quantize(w: np.ndarray, prep: Prepared, qtype, importance=None, block: int = 128,
                  n_threads: int = 0) -> np.ndarray:
    """GPTQ of w (rows, cols) onto qtype's grid; returns the tensor's bytes (rows, row_bytes).

    importance (cols,): steers the block scales as an imatrix does (None: plain RTN scales).
    """
    t = GGMLType.parse(qtype)
    if t not in GRID_TYPES:
        raise PyggmlError(f"GPTQ supports {', '.join(sorted(x.name for x in GRID_TYPES))}, not {t.name}")
    w = np.array(w, dtype=np.float32)
    rows, cols = w.shape
    bs = t.block_size
    if cols % bs:
        raise PyggmlError(f"{t.name}: row length {cols} is not a multiple of {bs}")
    if len(prep.u) != cols:
        raise PyggmlError(f"the Hessian is {len(prep.u)} wide; the weight has {cols} columns")
    imp = None if importance is None else np.asarray(importance, dtype=np.float32)
    w[:, prep.dead] = 0.0
    # One native call for the matrix: block scales, column loop and packing run in C++; the
    # lazy update of the later columns after each block runs here, with numpy's BLAS.
    work = w if prep.perm is None else np.ascontiguousarray(w[:, prep.perm])
    u = prep.u

    def later_columns(i1, i2, err):
        work[:, i2:] -= err @ u[i1:i2, i2:]

    perm = None if prep.perm is None else np.asarray(prep.perm, dtype=np.int64)
    data = _core.gptq_quantize(int(t), work, u, later_columns, w_file=None if perm is None else w, perm=perm,
                               importance=imp, block=block, n_threads=n_threads)
    return np.asarray(data, dtype=np.uint8).reshape(rows, t.row_size(cols))
