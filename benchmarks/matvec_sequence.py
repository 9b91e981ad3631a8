"""One generated token's matrix-vector products, without the rest of the forward pass.

Takes a model's weight matrices (q, k, v, o, gate, up and down of every layer, then the
output matrix), copies them into one buffer as the model holds them (regrouped where this
CPU's kernels want it), and times one token's matvecs dispatched as the model dispatches
them (q/k/v together, o, gate/up together, down; the output matrix last). Parts, taking
turns round by round with 256 MiB streaming reads, since a shared machine's bandwidth
drifts within seconds:

  all     the whole sequence;
  large   gate/up, down and output only;
  small   q/k/v and o only;
  model   the model's own forward pass for one token (Model.eval), everything included.

Prints per part the milliseconds per token, the weight MB it reads, GB/s, and its share of
the read bandwidth (each round's GB/s against the faster of the reads right before and
after it); medians over the rounds. "model" reads the same bytes as "all": the gap between
the two is what the rest of the forward pass costs.

    PYTHONPATH=. python3 benchmarks/matvec_sequence.py [-m MODEL] [-t 2] [--rounds 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from gguf import GGUFReader

from pyggml import _core, models
from pyggml.cli.bench import aligned_empty, median_share, memory_read_bandwidth
from pyggml.runtime.model import Model

LAYER_MATRICES = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def load_matrices(path):
    """{name: (type id, (n_rows, row_bytes) uint8 view of the file, n_cols)} of the matrices
    one token multiplies; "output" falls back to token_embd when the file ties them."""
    tensors = {t.name: t for t in GGUFReader(path).tensors}
    out = {}
    for name, t in tensors.items():
        base = name.removesuffix(".weight")
        parts = base.split(".")
        if name.endswith(".weight") and len(t.shape) == 2 and (
                (parts[0] == "blk" and parts[-1] in LAYER_MATRICES) or base == "output"):
            n_cols, n_rows = int(t.shape[0]), int(t.shape[1])
            out[base] = (int(t.tensor_type), np.asarray(t.data).view(np.uint8).reshape(n_rows, -1), n_cols)
    if "output" not in out:
        t = tensors["token_embd.weight"]
        out["output"] = (int(t.tensor_type), np.asarray(t.data).view(np.uint8).reshape(int(t.shape[1]), -1),
                         int(t.shape[0]))
    return out


def held_like_the_model(matrices):
    """The matrices copied into one buffer starting on a 2 MiB boundary, each at a multiple
    of 64 bytes (numpy gives large buffers huge pages on Linux, as the model's own buffer),
    regrouped where this CPU prefers: {name: (type, w, n_cols, layout)}."""
    align = 64
    total = sum((w.nbytes + align - 1) // align * align for _, w, _ in matrices.values())
    arena = aligned_empty(total)
    held, off = {}, 0
    for name, (typ, w, n_cols) in matrices.items():
        layout = _core.testing.repacked_layout(typ) if w.shape[0] % 8 == 0 else 0
        src = _core.testing.repack(w, typ, n_cols) if layout else w
        dst = arena[off:off + src.nbytes].reshape(src.shape)
        dst[...] = src
        held[name] = (typ, dst, n_cols, layout)
        off += (src.nbytes + align - 1) // align * align
    return held


def dispatches(held, n_layers):
    """One token's dispatches in the model's order, each tagged "small" or "large": lists
    of matrix names sharing one input."""
    seq = []
    for il in range(n_layers):
        b = f"blk.{il}."
        seq += [("small", [b + "attn_q", b + "attn_k", b + "attn_v"]), ("small", [b + "attn_output"]),
                ("large", [b + "ffn_gate", b + "ffn_up"]), ("large", [b + "ffn_down"])]
    seq.append(("large", ["output"]))
    return seq


def run_part(pool, held, seq, xs, which):
    for kind, names in seq:
        if which in ("all", kind):
            mats = [held[n] for n in names]
            _core.testing.matmul_shared_input(pool, [(t, w, lay) for t, w, _, lay in mats], mats[0][2], xs[mats[0][2]])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", default="qwen2.5-coder-1.5b", help="a .gguf file or a model name")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=8, help="tokens timed per part and round")
    args = ap.parse_args(argv)
    path = models.resolve(args.model)

    matrices = load_matrices(path)
    n_layers = 1 + max(int(n.split(".")[1]) for n in matrices if n.startswith("blk."))
    held = held_like_the_model(matrices)
    seq = dispatches(held, n_layers)
    pool = _core.ThreadPool(args.threads)
    rng = np.random.default_rng(0)
    xs = {c: rng.standard_normal((1, c)).astype(np.float32) for _, _, c, _ in held.values()}
    nbytes = {"all": sum(w.nbytes for _, w, _, _ in held.values())}
    nbytes["small"] = sum(held[n][1].nbytes for kind, names in seq if kind == "small" for n in names)
    nbytes["large"] = nbytes["all"] - nbytes["small"]
    nbytes["model"] = nbytes["all"]

    model = Model.load(path, n_ctx=max(64, 2 * args.tokens + 8), n_threads=args.threads)
    n_vocab = model.n_vocab
    toks = rng.integers(0, n_vocab, size=args.tokens).tolist()

    def model_tokens():
        model.reset()
        for t in toks:
            model.eval([t])

    parts = {"all": lambda: run_part(pool, held, seq, xs, "all"),
             "large": lambda: run_part(pool, held, seq, xs, "large"),
             "small": lambda: run_part(pool, held, seq, xs, "small")}
    for f in parts.values():
        f()
    model_tokens()
    times = {k: [] for k in list(parts) + ["model"]}
    reads = [memory_read_bandwidth(args.threads, 256 << 20, reps=1)]
    for _ in range(args.rounds):
        for k, f in parts.items():
            t0 = time.perf_counter()
            for _ in range(args.tokens):
                f()
            times[k].append((time.perf_counter() - t0) / args.tokens)
        t0 = time.perf_counter()
        model_tokens()
        times["model"].append((time.perf_counter() - t0) / args.tokens)
        reads.append(memory_read_bandwidth(args.threads, 256 << 20, reps=1))

    print(f"{path.name}: {n_layers} layers, {args.threads} threads, {args.rounds} rounds of {args.tokens} tokens; "
          f"256 MiB reads beside each round: median {statistics.median(reads):.1f} GB/s")
    print(f"{'part':>6} {'ms/token':>9} {'MB':>8} {'GB/s':>6} {'% of reads':>10}")
    for k, ts in times.items():
        rates = [nbytes[k] / t / 1e9 for t in ts]
        print(f"{k:>6} {1e3 * statistics.median(ts):>9.2f} {nbytes[k] / 1e6:>8.1f} {statistics.median(rates):>6.1f} "
              f"{100 * median_share(rates, reads):>9.0f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
