"""Regenerate tests/data/golden_quants_iq2.npz: ggml's own bytes for the codebook formats IQ2_XXS,
IQ2_XS, IQ2_S, IQ1_S and IQ1_M, with and without an importance vector.

Two sets of rows, 512 columns each:
  x        the seeded rows of make_golden_quants.golden_inputs() (rebuilt by the test), with its
           two synthetic importance vectors;
  model_x  16 rows of Gemma 3 270M's blk.0.ffn_down.weight (first 512 columns), dequantized from
           the shipped Q4_K_M file and stored here, with the same columns of the tensor's entry
           in a real importance matrix of the model (model_imatrix, made by `pyggml quantize ...
           --method imatrix --imatrix-out`).
IQ2_XXS, IQ2_XS and IQ1_S have no case without an importance vector: ggml asserts one
(ggml_quantize_requires_imatrix). On a few extreme seeded rows ggml aborts (values whose squares
overflow float32 leave its grid search without a point); each case lists those rows in
"<case>/aborts" (their bytes are zero) and pyggml must refuse them with a ValueError.

The bytes come from llama-cpp-python's bundled libggml-base through ctypes (ggml_quantize_chunk),
each case in a forked child so that an abort is recorded instead of ending the script.

Usage (from the repository root):
    python3 tests/data/make_golden_quants_iq2.py --imatrix gemma3-270m.imatrix.gguf
Only rerun it to add cases or after a deliberate change of ggml's algorithms.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_golden_quants as base  # noqa: E402

GOLDEN_PATH = os.path.join(HERE, "golden_quants_iq2.npz")
# name: (ggml type id, bytes per 256 elements)
TYPES = {"IQ2_XXS": (16, 66), "IQ2_XS": (17, 74), "IQ2_S": (22, 82), "IQ1_S": (19, 50), "IQ1_M": (29, 56)}
REQUIRES_IMATRIX = {"IQ2_XXS", "IQ2_XS", "IQ1_S"}  # ggml_quantize_requires_imatrix
MODEL_TENSOR = "blk.0.ffn_down.weight"
MODEL_ROWS = 16
N_COLS = base.N_PER_ROW


def golden_keys(type_name: str) -> "list[tuple[str, str, str | None]]":
    """(npz key, rows input name, imatrix input name or None) for every case of one type."""
    keys = []
    for rows, imats in (("x", [None, "imatrix", "imatrix_sparse"]), ("model_x", [None, "model_imatrix"])):
        for imat in imats:
            if imat is None and type_name in REQUIRES_IMATRIX:
                continue
            keys.append((f"{type_name}/{rows}/{imat or 'none'}", rows, imat))
    return keys


def model_inputs(model_path: str, imatrix_path: str) -> "dict[str, np.ndarray]":
    """The model rows (MODEL_ROWS, N_COLS) and their importance columns (N_COLS,)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    from pyggml.formats.gguf_file import GGUFFile
    from pyggml.formats.imatrix import load_imatrix

    imat = load_imatrix(imatrix_path)
    with GGUFFile(model_path) as g:
        rows = np.array(g.array(MODEL_TENSOR)[:MODEL_ROWS, :N_COLS], dtype=np.float32)
    weights = np.array(imat.get(MODEL_TENSOR)[:N_COLS], dtype=np.float32)
    return {"model_x": rows, "model_imatrix": weights}


def quantize_in_child(lib, type_id: int, row_bytes: int, x: np.ndarray, imatrix) -> "np.ndarray | None":
    """ggml's bytes for rows x in a forked child; None if ggml aborted."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: quantize, send the bytes, exit without cleanup
        os.close(r)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        out = base.ggml_quantize(lib, type_id, row_bytes, x, imatrix)
        os.write(w, out.tobytes())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        c = os.read(r, 1 << 16)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    return np.frombuffer(b"".join(chunks), np.uint8).reshape(len(x), row_bytes)


def ggml_case(lib, type_id: int, row_bytes: int, x: np.ndarray, imatrix):
    """(bytes (n_rows, row_bytes), rows on which ggml aborts): all rows at once, else row by row."""
    out = quantize_in_child(lib, type_id, row_bytes, x, imatrix)
    if out is not None:
        return out, []
    out, aborts = np.zeros((len(x), row_bytes), np.uint8), []
    for i in range(len(x)):
        row = quantize_in_child(lib, type_id, row_bytes, x[i:i + 1], imatrix)
        if row is None:
            aborts.append(i)
        else:
            out[i] = row[0]
    return out, aborts


def main() -> int:
    import llama_cpp

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--imatrix", required=True, help="an importance matrix of Gemma 3 270M (GGUF or .dat)")
    ap.add_argument("--model", help="Gemma 3 270M Q4_K_M GGUF (default: the registry's)")
    args = ap.parse_args()
    if args.model is None:
        sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
        from pyggml import models

        args.model = str(models.model_path("gemma3-270m"))
    lib = base.load_ggml()
    inputs = base.golden_inputs()
    np.seterr(all="ignore")
    out = {"inputs_sha256": np.array(base.inputs_digest(inputs)),
           "ggml_source": np.array(f"llama-cpp-python {llama_cpp.__version__}")}
    model = model_inputs(args.model, args.imatrix)
    out |= model
    inputs |= model
    for name, (type_id, per_256) in TYPES.items():
        row_bytes = per_256 * N_COLS // 256
        # build ggml's grids in this process, so that each child inherits them
        base.ggml_quantize(lib, type_id, per_256, np.ones((1, 256), np.float32), np.ones(256, np.float32))
        for key, rows, imat in golden_keys(name):
            out[key], aborts = ggml_case(lib, type_id, row_bytes, inputs[rows], None if imat is None else inputs[imat])
            out[key + "/aborts"] = np.array(aborts, dtype=np.int32)
            print(f"{key}: {len(inputs[rows])} rows" + (f", ggml aborts on rows {aborts}" if aborts else ""))
    np.savez_compressed(GOLDEN_PATH, **out)
    print(f"wrote {GOLDEN_PATH} ({os.path.getsize(GOLDEN_PATH)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
