"""Error-measured bit allocation (ExLlamaV2's measurement, into standard GGUF types).

`pyggml quantize IN OUT --target-bpw B --measure` chooses each tensor's type from what its
rounding does to the model's outputs, not to its own weights (plain --target-bpw, bpw_target.py):

1. Calibration. The calibration sequences run through the float model (F16/BF16/F32 source);
   every linear input (capture site, and the output matrix's input) keeps a random sample of its
   rows, and the importance matrix is gathered on the way unless one is given.
2. Layer output error. For each quantizable tensor W and candidate type T, a sample of W's rows
   goes through T and back; the error of the layer's output on the sampled activations X is
   e(T) = ||X (W_T - W)^T||^2 (the token table, when only looked up: ||W_T - W||^2 over the rows
   of the calibration tokens, each counted as often as it occurs).
3. Sensitivity. Equal output errors do not hurt equally: a layer's error passes through the rest
   of the network. So each tensor in turn is swapped for its round trip through one reference type
   (Q3_K, or the type its row length falls back to; the next of REFERENCES where the tensor
   already sits on that grid), in place, in a private copy-on-write mapping
   of the file, and the first calibration tokens run again: the mean KL divergence of the
   next-token distributions from the float model's, KLD_ref, is what that tensor's rounding costs.
4. cost(W, T) = KLD_ref * e(T) / e(ref): the KLD the tensor alone would cost in T (KLD grows with
   the square of a small output error, as e does). Errors of different tensors are independent,
   so their costs add, and choose_types minimises the sum under the bits budget.

Step 3 is one forward pass over `measure_tokens` per tensor; everything else is a quantization of
a few hundred rows per candidate and a matrix product.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from ..errors import PyggmlError
from ..formats.gguf_file import GGUFFile
from ..formats.quants import dequantize, encode_tensor, quantize
from ..formats.types import GGMLType
from ..progress import progress_bar
from . import calibration as C
from .bpw_target import TensorCost, candidates, choose_types, policy_from_types
from .policy import fallback_type, is_quantizable

# Reference types for the sensitivity, in order of preference: the first whose round trip moves
# the sampled rows at all (a source that was itself dequantized from a k-quant file, as a
# shipped Q4_K_M turned F16, sits exactly on some grids: no error to measure a sensitivity by).
REFERENCES = (GGMLType.Q3_K, GGMLType.Q2_K, GGMLType.Q4_K, GGMLType.Q5_K)
ON_GRID = 1e-6  # relative weight error below which a round trip counts as exact
SAMPLE_ROWS = 256      # weight rows per tensor whose output error is measured for every candidate
ACTIVATION_ROWS = 1024  # activation rows kept per linear input
_FLOAT = (GGMLType.F32, GGMLType.F16, GGMLType.BF16)


@dataclasses.dataclass
class Measurement:
    """What --measure found: per tensor the reference type, its KLD and the candidates' costs."""

    costs: list          # [TensorCost] (options: (type, bits, predicted KLD))
    reference: dict      # name -> (reference type, measured KLD)
    fixed_bits: float
    n_total: int
    n_tokens: int        # calibration tokens
    measure_tokens: int  # tokens each KLD is measured over
    imatrix: dict

    def choose(self, target_bpw: float) -> dict:
        """{tensor name: type} meeting `target_bpw` at the least summed predicted KLD."""
        return choose_types(self.costs, self.fixed_bits, self.n_total, target_bpw)

    def predicted_kld(self, types: dict) -> float:
        """The summed predicted KLD of a choice of types."""
        total = 0.0
        for c in self.costs:
            total += next(cost for t, _, cost in c.options if t == types[c.name])
        return total


class ActivationSample:
    """Up to n_rows randomly chosen input rows per capture key, the output's input included."""

    def __init__(self, n_rows: int, n_seq: int, seed: int = 0):
        self.per_seq = max(1, math.ceil(n_rows / max(n_seq, 1)))
        self.rng = np.random.default_rng(seed)
        self.rows = {}

    def add(self, key, x: np.ndarray, tensors: list) -> None:
        pick = np.sort(self.rng.choice(len(x), size=min(self.per_seq, len(x)), replace=False))
        self.rows.setdefault(key, []).append(np.array(x[pick], dtype=np.float32))

    def get(self, key) -> np.ndarray:
        return np.concatenate(self.rows[key])


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32, copy=True)
    x -= x.max(axis=1, keepdims=True)
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    return x


def _eval_logp(model, seqs, rows_at_once: int = 64):
    """Log-probabilities of every position of every sequence, (tokens, vocab) float32."""
    out = []
    for s in seqs:
        model.reset()
        logits = model.eval(s, all_logits=True)
        out.extend(_log_softmax(logits[i:i + rows_at_once]) for i in range(0, len(logits), rows_at_once))
    model.reset()
    return np.concatenate(out)


def _mean_kld(model, seqs, base_logp: np.ndarray, rows_at_once: int = 64) -> float:
    """Mean KL(base || model) over every position of `seqs`."""
    total, n, row = 0.0, 0, 0
    for s in seqs:
        model.reset()
        logits = model.eval(s, all_logits=True)
        for i in range(0, len(logits), rows_at_once):
            q = _log_softmax(logits[i:i + rows_at_once])
            p = base_logp[row + i:row + i + len(q)]
            total += float(np.sum(np.exp(p) * (p - q), dtype=np.float64))
            n += len(q)
        row += len(logits)
    model.reset()
    return total / max(n, 1)


def _output_error(x: np.ndarray, d: np.ndarray, counts) -> float:
    """||x d^T||^2 (x: activations, d: weight-row errors); counts: token-table rows, no x."""
    if x is None:
        return float(np.sum(counts[:, None] * d.astype(np.float64) ** 2))
    y = x @ d.T
    return float(np.sum(y.astype(np.float64) ** 2))


def _encode_as(x: np.ndarray, t: GGMLType) -> np.ndarray:
    """x in the bytes of a float type (the source's storage)."""
    if t == GGMLType.F32:
        return np.ascontiguousarray(x, np.float32).view(np.uint8).reshape(-1)
    if t == GGMLType.F16:
        return np.ascontiguousarray(x, np.float16).view(np.uint8).reshape(-1)
    return quantize(x, t).reshape(-1)


def _keys_of(model, names) -> dict:
    """{tensor name: capture key} for the matrices the forward pass reads through a linear input."""
    keys = {}
    for cs in C.capture_sites(model):
        for layer in range(model.hparams["n_layer"]):
            for name in cs.tensors(layer):
                keys[name] = (layer, cs.site)
    if "output.weight" in names:
        keys["output.weight"] = "output"
    else:
        keys["token_embd.weight"] = "output"  # tied: the token table is the output matrix too
    return keys


def measure(in_path, *, imatrix=None, text=None, n_seq: int = 16, seq_len: int = 512, measure_tokens: int = 512,
            references=REFERENCES, sample_rows: int = SAMPLE_ROWS, n_threads: int = 0,
            progress: bool = True, seed: int = 0) -> Measurement:
    """Measure every quantizable tensor of the float GGUF `in_path` (see the module docstring).

    imatrix: {name: importance} or a file, else gathered from the calibration (text: a text file,
    default the shipped calibration text; n_seq sequences of seq_len tokens). measure_tokens: the
    tokens (from the first calibration sequences) over which each tensor's KLD is measured.
    """
    from ..formats.imatrix import load_imatrix
    from ..runtime.model import Model

    if measure_tokens < 2:
        raise PyggmlError("--measure-tokens must be at least 2")
    imat = load_imatrix(imatrix)
    seqs = C.load_sequences(in_path, text, n_seq, seq_len)
    per = min(seq_len, measure_tokens)
    kld_seqs = [s[:per] for s in seqs[:max(1, math.ceil(measure_tokens / per))]]
    with GGUFFile(in_path, copy_on_write=True) as g:
        names = [t.name for t in g.tensors]
        quantizable = [t for t in g.tensors if is_quantizable(t.name, len(t.shape))]
        matrices = {t.name for t in quantizable}
        not_float = [t for t in quantizable if t.type not in _FLOAT]
        if not_float:
            raise PyggmlError(f"{g.path}: --measure swaps tensors in a float model, and {not_float[0].name} is "
                              f"{not_float[0].type.name}; make a float file first (`pyggml quantize IN base.gguf F16`, "
                              "or `pyggml convert` from the checkpoint)")
        experts = [t.name for t in quantizable if len(t.shape) > 2]
        if experts:
            raise PyggmlError(f"{g.path}: --measure does not measure expert tensors yet ({experts[0]} and "
                              f"{len(experts) - 1} more); use --target-bpw without --measure")
        model = Model.load(g, n_ctx=seq_len, n_batch=seq_len, n_threads=n_threads or None, repack=False)
        sample = ActivationSample(ACTIVATION_ROWS, len(seqs), seed)
        collectors = [sample]
        imc = None
        if imat is None:
            imc = C.ImatrixCollector()
            collectors.append(imc)
        C.run(model, seqs, collectors, output=True, progress=progress, desc="calibrating")
        if imc is not None:
            imat = imc.importance()
        keys = _keys_of(model, names)
        token_counts = np.bincount(seqs.reshape(-1), minlength=model.n_vocab).astype(np.float64)
        base_logp = _eval_logp(model, kld_seqs)
        rng = np.random.default_rng(seed)
        costs, ref_kld, fixed_bits, n_total = [], {}, 0.0, 0
        options = candidates(True)
        with progress_bar(total=len(g.tensors), unit="tensor", desc="measuring", enabled=progress) as bar:
            for t in g.tensors:
                n_total += t.n_elements
                if t.name not in matrices:
                    fixed_bits += t.n_bytes * 8
                    bar.update(1)
                    continue
                bar.set_description(f"measuring {t.name}", refresh=False)
                w = g.array(t.name, n_threads).reshape(-1, t.shape[-1])
                key = keys.get(t.name)
                if key is None and t.name != "token_embd.weight":
                    raise PyggmlError(f"{g.path}: no calibration input is known for tensor {t.name}")
                if key is None:  # looked up only: the rows of the calibration tokens, by count
                    seen = np.flatnonzero(token_counts[:len(w)])
                    rows = np.sort(rng.choice(seen, size=min(sample_rows, len(seen)), replace=False))
                    x, counts = None, token_counts[rows]
                else:
                    rows = np.sort(rng.choice(len(w), size=min(sample_rows, len(w)), replace=False))
                    x, counts = sample.get(key), None
                sub = np.ascontiguousarray(w[rows])
                imp = imat.get(t.name)
                errors, seen_types, weight_err = [], set(), {}
                refs = [fallback_type(r, t.shape[-1]) for r in references]
                energy = float(np.sum(sub.astype(np.float64) ** 2)) or 1.0
                for c in options + tuple(refs):
                    qt = fallback_type(c, t.shape[-1])
                    if qt in seen_types or (qt.requires_imatrix and imp is None):
                        continue
                    seen_types.add(qt)
                    try:
                        back = dequantize(quantize(sub, qt, imatrix=imp if qt.uses_imatrix else None,
                                                   n_threads=n_threads), qt, sub.shape, n_threads=n_threads)
                    except ValueError:  # rows a codebook grid cannot take: not an option
                        continue
                    d = back - sub
                    weight_err[qt] = float(np.sum(d.astype(np.float64) ** 2)) / energy
                    errors.append((qt, qt.type_size * 8 / qt.block_size, _output_error(x, d, counts)))
                ref = next((r for r in refs if weight_err.get(r, 0.0) > ON_GRID), None)
                if ref is None:
                    raise PyggmlError(f"{g.path}: tensor {t.name}: no reference type moves its weights "
                                      f"({', '.join(r.name for r in refs)} all reproduce them)")
                e_ref = next(e for qt, _, e in errors if qt == ref)
                # the reference round trip of the whole tensor, in place, then the KLD it costs
                raw = g.raw(t.name)
                saved = raw.copy()
                back = dequantize(encode_tensor(w, ref, t.name, imat, n_threads), ref, w.shape, n_threads=n_threads)
                raw[:] = _encode_as(back.reshape(t.shape), t.type)
                del back, w
                try:
                    kld = _mean_kld(model, kld_seqs, base_logp)
                finally:
                    raw[:] = saved
                ref_kld[t.name] = (ref, kld)
                scale = kld / e_ref if e_ref > 0 else 0.0
                costs.append(TensorCost(t.name, t.n_elements,
                                        sorted(((qt, bits, scale * e) for qt, bits, e in errors), key=lambda o: o[1])))
                bar.update(1)
        del model
    return Measurement(costs, ref_kld, fixed_bits, n_total, int(seqs.size), sum(len(s) for s in kld_seqs), imat)


def quantize_measured(in_path, out_path, target_bpw: float, *, measurement: "Measurement | None" = None,
                      n_threads: int = 0, progress: bool = True, **options):
    """Write `in_path` to `out_path` with the measured choice of types for `target_bpw` bits per
    weight, quantized with the measurement's importance matrix; returns (table, Measurement).
    measurement: one made before (measure, load_measurement), else `options` go to measure()."""
    import warnings

    from .requantize import requantize

    m = measurement if measurement is not None else measure(in_path, n_threads=n_threads, progress=progress, **options)
    types = m.choose(target_bpw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # measure() refused anything but a float source
        table = requantize(in_path, out_path, policy=policy_from_types(types, f"measured {target_bpw:g} bpw"),
                           imatrix=m.imatrix, n_threads=n_threads, progress=progress)
    return table, m


def save_measurement(m: Measurement, path) -> None:
    """Write a measurement as JSON (ExLlamaV2's measurement.json idea): measure once, then
    quantize to several sizes with load_measurement. The importance matrix goes along."""
    import base64
    import json

    from ..formats.imatrix import _replacing as replacing

    doc = {"format": "pyggml-measurement-1", "fixed_bits": m.fixed_bits, "n_total": m.n_total,
           "n_tokens": m.n_tokens, "measure_tokens": m.measure_tokens,
           "tensors": [{"name": c.name, "n_elements": c.n_elements,
                        "reference": m.reference[c.name][0].name, "reference_kld": m.reference[c.name][1],
                        "options": [[t.name, bits, cost] for t, bits, cost in c.options]} for c in m.costs],
           "imatrix": {n: base64.b64encode(np.asarray(v, "<f4").tobytes()).decode() for n, v in m.imatrix.items()}}
    with replacing(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(doc, f)


def load_measurement(path) -> Measurement:
    import base64
    import json

    try:
        with open(path) as f:
            doc = json.load(f)
        if doc.get("format") != "pyggml-measurement-1":
            raise ValueError("not a pyggml measurement (format pyggml-measurement-1)")
        costs = [TensorCost(e["name"], int(e["n_elements"]),
                            [(GGMLType[t], float(b), float(c)) for t, b, c in e["options"]]) for e in doc["tensors"]]
        ref = {e["name"]: (GGMLType[e["reference"]], float(e["reference_kld"])) for e in doc["tensors"]}
        imat = {n: np.frombuffer(base64.b64decode(v), "<f4").copy() for n, v in doc["imatrix"].items()}
        return Measurement(costs, ref, float(doc["fixed_bits"]), int(doc["n_total"]), int(doc["n_tokens"]),
                           int(doc["measure_tokens"]), imat)
    except FileNotFoundError:
        raise PyggmlError(f"{path}: no such measurement file") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PyggmlError(f"{path}: cannot read the measurement: {e}") from None
