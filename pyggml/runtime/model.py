"""Load a llama-family GGUF model and run it: pyggml.Model.

Python reads the metadata and decides what each architecture needs (hparams.py, with its
RuntimeSpec in pyggml/arch); the weights stay in the memory-mapped file and the whole
forward pass runs in C++ (pyggml._core.Model) with the GIL released, one native call per
batch of tokens.
"""

from __future__ import annotations

import operator
import os
import re

import numpy as np

from .. import _core
from .. import arch as architectures
from ..errors import ArgumentError, GGUFError, GPUError, NonFiniteError, PyggmlError, ResourceError
from ..errors import show_value as _show
from ..formats.gguf_file import GGUFFile
from ..formats.types import GGMLType
from .cpu_tier import check_cpu_tier_request
from .hparams import check_model_tensors, read_hparams, squeeze_ne


class ContextFullError(PyggmlError):
    """The tokens do not fit in the model's context (n_ctx) and context shift is off."""


# The KV cache types, by GGMLType (their lower-case names are what kv_type and the CLI's -ctk take).
KV_TYPES = (GGMLType.F16, GGMLType.Q8_0, GGMLType.F32)


def kv_cache_type(value) -> GGMLType:
    """The KV cache type `value` names: "f16", "q8_0", "f32", a GGMLType or its id."""
    try:
        t = None if isinstance(value, bool) else GGMLType.parse(value)
    except (ValueError, TypeError):
        t = None
    if t not in KV_TYPES:
        names = ", ".join(k.name.lower() for k in sorted(KV_TYPES))
        raise ArgumentError(f"kv_type must be one of {names}, got {value!r}")
    return t


def _open_gguf(source, check_tensors: bool = False):
    """Read a GGUF file (a path, or a GGUFFile already open); returns (path, metadata dict,
    {name: (type, uint8 view, ne)}).

    The one place that knows the GGUF reader. The views point into the mapping and keep
    it alive; the tokenizer's metadata (tens of MB of Python objects for a large
    vocabulary) is dropped here since the forward pass does not need it.
    check_tensors: first scan every tensor's data for NaN and infinity (GGUFFile.check_tensors).
    """
    if not isinstance(source, GGUFFile):
        with GGUFFile(source) as f:
            return _open_gguf(f, check_tensors)
    if check_tensors:
        source.check_tensors(progress=None)
    tensors = {t.name: (int(t.type), source.raw(t.name), tuple(int(n) for n in t.ne)) for t in source.tensors}
    meta = {k: v for k, v in source.metadata.items() if not k.startswith("tokenizer.")}
    return source.path, meta, tensors


# Sane ranges of what a caller may ask for (the file's own limits are in hparams.py).
MAX_CTX = 1 << 24
MAX_BATCH = 1 << 24
MAX_GPU_LAYERS = 1 << 30  # n_gpu_layers above the block count: everything
MAX_THREADS = 1024


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def _physical_memory() -> "int | None":
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _address_space_left() -> "int | None":
    """Bytes of address space the process may still map under RLIMIT_AS; None: no limit."""
    try:
        import resource
    except ImportError:
        return None
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    used = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return max(0, limit - used)


def _thread_stack_bytes() -> int:
    """Address space a thread's stack takes (glibc sizes it from RLIMIT_STACK)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            return soft
    except (ImportError, ValueError, OSError):
        pass
    return 8 << 20


def _check_resources(path, hp: dict, tensors: dict, n_ctx: int, n_batch: int, n_threads: int, kt: GGMLType,
                     copies: bool, gpu_blocks=(), gpu_output: bool = False, n_seq_max: int = 1) -> None:
    """Compute what the model will allocate (KV cache, scratch, copies of the weights,
    thread stacks) and refuse, before any of it is allocated, what the machine cannot hold.
    Blocks on the GPU (gpu_blocks, and the head with gpu_output) keep their KV cache and
    weights in GPU memory (runtime.gpu.check accounts for them): their rows of the CPU cache
    are never written (no memory taken), their matrices are not copied, and with every block
    on the GPU the CPU's attention buffers are never used."""
    gpu_blocks = {int(i) for i in gpu_blocks}
    cpu_layers = hp["n_layer"] - len(gpu_blocks)
    k_dim, v_dim = hp["n_head_kv"] * hp["head_dim_k"], hp["n_head_kv"] * hp["head_dim_v"]
    kv_row = n_seq_max * n_ctx * (k_dim + v_dim) * kt.type_size / kt.block_size
    kv = cpu_layers * kv_row
    E, F, B = hp["n_embd"], hp["n_ff"], min(n_batch, n_ctx)
    threads = n_threads or os.cpu_count() or 1
    per_token = 3 * E + hp["n_head"] * (hp["head_dim_k"] + hp["head_dim_v"]) + k_dim + v_dim + 2 * F + 2 * hp["n_rot"]
    if hp.get("n_expert"):  # moe.cpp's buffers instead of the dense gate and up
        per_token += hp["n_expert"] + hp["n_expert_used"] * (2 + 2 * E + 2 * hp["n_ff_exp"]) - 2 * F
    attn_scratch = n_ctx * (k_dim + v_dim) + threads * 64 * (n_ctx + 8) if cpu_layers else 0
    scratch = 4 * (B * per_token + attn_scratch)

    def on_gpu(name: str) -> bool:
        if gpu_output and name == "output.weight":
            return True
        m = re.match(r"blk\.(\d+)\.", name)
        return bool(m) and int(m.group(1)) in gpu_blocks

    weights = sum(view.nbytes for name, (_, view, ne) in tensors.items()
                  if len(squeeze_ne(ne, 1)) >= 2 and not on_gpu(name)) if copies else 0
    need = kv + scratch + weights
    seqs = f" x {n_seq_max} sequences" if n_seq_max > 1 else ""
    what = (f"n_ctx = {n_ctx}{seqs} needs {_size(need)}: a {_size(kv)} KV cache ({kt.name.lower()}), {_size(scratch)} of buffers"
            + (f" and {_size(weights)} of weights held in memory (repack)" if weights else ""))
    phys = _physical_memory()
    if phys and need > phys:
        raise ResourceError(f"{path}: {what}, more than this machine's {_size(phys)} of memory: use a smaller n_ctx"
                            + (" or kv_type='q8_0'" if kt != GGMLType.Q8_0 else ""))
    left = _address_space_left()
    if left is not None:
        stacks = (threads - 1) * _thread_stack_bytes()
        # the CPU cache is reserved for every block, the GPU's ones included (address space, not memory)
        if need + (hp["n_layer"] - cpu_layers) * kv_row + stacks > left:
            raise ResourceError(f"{path}: {what}, and {threads} threads reserve {_size(stacks)} for their stacks; "
                                f"the process's address-space limit (RLIMIT_AS) leaves {_size(left)}: use a smaller "
                                "n_ctx or fewer threads")


def _int_argument(name: str, value, lo: int, hi: int) -> int:
    """An integer argument in [lo, hi] (numpy integers too; not bool, not float)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ArgumentError(f"{name} must be an integer in [{lo}, {hi}], got {value!r} ({type(value).__name__})")
    v = operator.index(value)
    if not lo <= v <= hi:
        raise ArgumentError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def _cpu_only_features(hp: dict, tensors: dict) -> str:
    """What of this model only the CPU forward pass runs ("" when nothing): the GPU blocks
    have the dense llama-family block only."""
    found = []
    if hp.get("n_expert"):
        found.append("a mixture of experts")
    if any(hp.get("layer_no_rope") or ()):
        found.append("layers without rope (smollm3)")
    if hp.get("attn_temp_scale"):
        found.append("attention temperature tuning (mistral3)")
    if hp.get("yarn_ext_factor"):
        found.append("YaRN rope scaling")
    elif hp.get("rope_attn_factor", 1.0) != 1.0 or any(n.endswith(("attn_qkv.weight",)) for n in tensors):
        found.append("phi3's fused matrices and LongRoPE")
    if any(n.endswith("attn_sinks.weight") for n in tensors):
        found.append("attention sinks (gpt-oss)")
    return ", ".join(found)


def _with_rope_factors(tensors: dict, hp: dict, n_ctx: int) -> dict:
    """LongRoPE files (phi3) hold two sets of rope frequency factors: as llama.cpp does, the
    model rotates with rope_factors_long when its context exceeds the training's original
    (rope.scaling.original_context_length), else with rope_factors_short; either becomes the
    rope_freqs the forward pass reads."""
    if "rope_freqs.weight" in tensors or "rope_factors_short.weight" not in tensors:
        return tensors
    which = "long" if n_ctx > hp["n_ctx_orig"] and "rope_factors_long.weight" in tensors else "short"
    return {**tensors, "rope_freqs.weight": tensors[f"rope_factors_{which}.weight"]}


def _native_tensors(path, tensors, names=None):
    """Weights pass through as views; 1-D tensors (norms, biases) and the experts' biases go
    to C++ as float32. names: per-layer names the forward pass reads under another one
    (Architecture.native_names)."""
    out = {}
    for name, (ttype, view, ne) in tensors.items():
        parts = name.split(".", 2)
        if names and len(parts) == 3 and parts[0] == "blk" and parts[2] in names:
            name = f"blk.{parts[1]}.{names[parts[2]]}"
        if len(ne) == 1 or name.endswith(".bias"):
            if len(ne) > 1:
                ne = (int(np.prod(ne, dtype=np.int64)),)
            if ttype != GGMLType.F32:
                from ..formats.quants import dequantize

                view = dequantize(view, ttype, shape=ne).view(np.uint8)
                ttype = int(GGMLType.F32)
            out[name] = (ttype, view, (ne[0], 1))
        elif len(ne) == 2:
            out[name] = (ttype, view, ne)
        elif name.endswith("_exps.weight") and len(squeeze_ne(ne, 3)) == 3:
            out[name] = (ttype, view, squeeze_ne(ne, 3))  # experts stacked: (ne0, ne1, n_expert)
        elif all(n == 1 for n in ne[2:]):
            out[name] = (ttype, view, ne[:2])
        else:
            raise GGUFError(path, f"tensor {name} has shape {ne}, which a decoder layer does not use")
    return out


class Model:
    """A loaded GGUF decoder with its KV cache. Create with Model.load(path)."""

    def __init__(self, native, hparams, path, context_shift, n_keep, gpu_placement=None, weight_format=None):
        from .gpu import Placement

        self._native = native
        self.hparams = hparams
        self.path = path
        self.context_shift = context_shift
        self.n_keep = n_keep
        self.gpu_placement = gpu_placement or Placement()
        self._weight_format = weight_format  # None, or (WeightFormat, report dict)

    @classmethod
    def load(
        cls,
        path,
        n_ctx: int = 4096,
        n_threads: "int | None" = None,
        n_batch: int = 512,
        kv_type: "str | GGMLType" = "f16",
        context_shift: bool = False,
        n_keep: int = 0,
        precise: bool = False,
        repack: bool = True,
        check_tensors: bool = False,
        n_gpu_layers: int = 0,
        gpu_layers=None,
        n_seq_max: int = 1,
        weight_format: "str | None" = None,
        int8_threshold: float = 6.0,
    ) -> "Model":
        """Map `path` (no copy) and build the model. `path` may also be a GGUFFile already open
        (the model keeps its mapping, not the file object).

        kv_type: "f16" (default), "q8_0" or "f32" (or the GGMLType, or its id). n_ctx: context size in tokens, in
        [1, 2^24]. n_threads: None (or 0) uses every physical core (the performance cores where
        there are efficiency cores too), else in [1, 1024].
        n_batch: tokens per native call when evaluating a prompt, in [1, 2^24].
        context_shift: when the context is full, drop the older half of the
        tokens after the first n_keep instead of raising ContextFullError.
        precise: keep activations in float32 in every matrix product (slower; for
        checking against a float reference) instead of converting them to the
        weights' dot types (Q8_0, Q8_K, F16) as llama.cpp does.
        repack: on CPUs with kernels for it, hold matrices regrouped 8 rows at a time (x86 with
        AVX2, and aarch64 with NEON SDOT: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL,
        IQ4_XS, MXFP4) (a copy in memory, built here, the file's
        pages of those tensors released; faster matrix products). On Linux with
        transparent huge pages the copies take huge pages, and the other matrices are
        copied there too, as they are. False: every matrix is read from the mapped file.
        Ignored with precise.
        check_tensors: first scan every tensor's data for NaN and infinity (values, and
        the scales of quantized blocks), with a progress bar on a terminal, as llama.cpp's
        --check-tensors (GGUFFile.check_tensors).
        n_seq_max: sequences the KV cache holds, each with n_ctx positions of its own (eval_batch
        runs several in one pass; eval, embed and the rest use sequence 0 unless told otherwise).
        weight_format: quantize the blocks' matrices at load into one of the literature's formats
        ("int8-absmax", "int8-zeropoint" with ":tensor" / ":row" / ":block64", "llm.int8", "nf4",
        "fp4", the 4-bit ones with ":nodq"; see pyggml.runtime.weight_format), from an F16, BF16
        or F32 file; int8_threshold: llm.int8's outlier threshold. weight_format_report() gives
        the format's bits per weight.

        Every hyper-parameter and tensor the model reads is checked against the
        architecture before anything is allocated (GGUFError naming the key or tensor),
        and so is the memory the KV cache and buffers need (ResourceError). A bad
        argument is an ArgumentError (a ValueError, and a TypeError for a wrong type).
        n_gpu_layers: with a CUDA build and GPU, the last N blocks run on the GPU, and the
        output head too when N exceeds the block count (-1: everything); gpu_layers names the
        blocks instead ("12-27,output", a list, or a placement file; see pyggml.runtime.gpu).
        Their weights are uploaded once in their GGUF layout, their KV cache (F16 whatever
        kv_type says) lives on the GPU, and they compute with float32 activations. Raises
        GPUError, before anything is uploaded, when there is no usable GPU or the placement
        does not fit in its free memory.
        """
        check_cpu_tier_request()
        n_ctx = _int_argument("n_ctx", n_ctx, 1, MAX_CTX)
        n_batch = _int_argument("n_batch", n_batch, 1, MAX_BATCH)
        n_threads = 0 if n_threads is None else _int_argument("n_threads", n_threads, 0, MAX_THREADS)
        n_keep = _int_argument("n_keep", n_keep, 0, n_ctx - 1)
        n_seq_max = _int_argument("n_seq_max", n_seq_max, 1, 4096)
        if n_ctx * n_seq_max > MAX_CTX:
            raise ArgumentError(f"n_ctx * n_seq_max must be at most {MAX_CTX}, got {n_ctx} * {n_seq_max}")
        kv = kv_cache_type(kv_type)
        path, meta, tensors = _open_gguf(path, check_tensors=bool(check_tensors))
        hp = read_hparams(path, meta, tensors)
        check_model_tensors(path, hp, tensors)
        native_tensors = _native_tensors(path, _with_rope_factors(tensors, hp, n_ctx),
                                         architectures.get(hp["arch"]).native_names)
        from . import gpu
        from .weight_format import convert_tensors, parse_weight_format

        wf = parse_weight_format(weight_format, int8_threshold)

        if gpu_layers is None:
            n_gpu_layers = _int_argument("n_gpu_layers", n_gpu_layers, -1, MAX_GPU_LAYERS)
        try:
            where = gpu.placement(hp["n_layer"], n_gpu_layers, gpu_layers)
        except ValueError as e:
            raise GPUError(str(e)) from e
        if where.any and wf is not None:
            raise GPUError(f"weight_format={wf.name} runs on the CPU only: load with n_gpu_layers=0")
        wf_report = None
        if wf is not None:
            native_tensors, wf_report = convert_tensors(path, native_tensors, wf)
        if where.any:  # before anything is allocated: a GPU, kernels for every tensor, memory
            what = f"gpu_layers={gpu_layers!r}" if gpu_layers is not None else f"n_gpu_layers={n_gpu_layers}"
            cpu_only = _cpu_only_features(hp, tensors)
            if cpu_only:
                raise GPUError(f"{what}: the GPU back end does not run {cpu_only} yet; load with n_gpu_layers=0")
            gpu.check(hp, native_tensors, where, n_ctx, min(n_batch, n_ctx), what)
        # then the CPU's share: what the blocks left on the CPU allocate
        if where.any and n_seq_max > 1:
            raise ArgumentError("several sequences (n_seq_max > 1) run on the CPU only: load with n_gpu_layers=0")
        _check_resources(path, hp, tensors, n_ctx, n_batch, n_threads, kv, copies=bool(repack) and not precise,
                         gpu_blocks=where.layers, gpu_output=where.output, n_seq_max=n_seq_max)
        try:
            native = _core.Model(
                _core.ModelHParams(**{k: v for k, v in hp.items() if k not in ("arch", "n_ctx_train", "n_ctx_orig")}),
                native_tensors,
                n_ctx,
                n_batch,
                n_threads,
                int(kv),
                bool(precise),
                repack=bool(repack),
                gpu_layers=list(where.layers),
                gpu_output=where.output,
                n_seq_max=n_seq_max,
            )
        except ResourceError as e:
            raise ResourceError(f"{os.fspath(path)}: {e}") from None
        except ValueError as e:
            raise GGUFError(path, str(e)) from e
        except RuntimeError as e:
            if where.any:  # the GPU part could not be set up (its messages name the cause)
                raise GPUError(str(e)) from e
            raise
        return cls(native, hp, os.fspath(path), context_shift, n_keep, where,
                   None if wf is None else (wf, wf_report))

    @property
    def weight_format(self) -> "str | None":
        """The weight format the blocks' matrices were quantized into at load, or None."""
        return None if self._weight_format is None else self._weight_format[0].name

    def weight_format_report(self) -> "dict | None":
        """None without a weight format; else {weight_format, native_type, tensors, parameters,
        bytes, source_bytes, bits_per_weight (scales included)[, int8_threshold]} of the converted
        matrices."""
        return None if self._weight_format is None else dict(self._weight_format[1])

    def int8_outliers(self, tokens, threshold: "float | None" = None) -> dict:
        """llm.int8's outlier feature dimensions over `tokens` (evaluated after those cached, as
        capture does): {layer: {site: count}} with the sites of pyggml.arch.Site (0: the input of
        attn_q/k/v, 1: of attn_output, 2: of ffn_gate/up, 3: of ffn_down), a dimension counted when
        |x| >= threshold for any of the tokens (LLM.int8()'s rule). threshold: the model's
        int8_threshold under llm.int8, else 6.0."""
        if threshold is None:
            wf = self._weight_format[0] if self._weight_format else None
            threshold = wf.threshold if wf is not None and wf.threshold is not None else 6.0
        sites = [(layer, site) for layer in range(self.hparams["n_layer"]) for site in range(4)]
        captured = self.capture(tokens, sites)
        out: dict = {}
        for (layer, site), x in captured.items():
            out.setdefault(layer, {})[site] = int(np.count_nonzero((np.abs(x) >= threshold).any(axis=0)))
        return out

    @property
    def arch(self) -> str:
        return self.hparams["arch"]

    @property
    def n_vocab(self) -> int:
        return self.hparams["n_vocab"]

    @property
    def n_ctx(self) -> int:
        return self._native.n_ctx

    @property
    def n_past(self) -> int:
        """Tokens currently held in the KV cache."""
        return self._native.n_past

    @property
    def n_seq_max(self) -> int:
        """Sequences the KV cache holds (Model.load's n_seq_max)."""
        return self._native.n_seq_max

    @property
    def n_batch(self) -> int:
        return self._native.n_batch

    @property
    def n_threads(self) -> int:
        return self._native.n_threads

    @property
    def kv_bytes(self) -> int:
        return self._native.kv_bytes

    @property
    def gpu_bytes(self) -> "dict | None":
        """GPU memory the model holds ({weights, kv, scratch, total} bytes), or None."""
        return self._native.gpu_bytes

    @property
    def gpu_device(self) -> "str | None":
        """The name of the GPU running some of the blocks, or None."""
        return self._native.gpu_device

    def placement_summary(self) -> str:
        """Where the model runs, for load logs: 'CPU' or 'GPU <name>: blocks 14-27 (14 of
        28); the rest on the CPU; 512.0 MiB on the GPU (weights ..., KV cache ..., scratch ...)'."""
        from .gpu import describe_plan

        where = self.gpu_placement
        if not where.any:
            return "all on the CPU"
        n_layer = self.hparams["n_layer"]
        cpu = []
        if len(where.layers) < n_layer:
            cpu.append("the other blocks")
        if not where.output:
            cpu.append("the output head")
        rest = f"; {' and '.join(cpu)} on the CPU" if cpu else ""
        return (f"GPU {self.gpu_device}: {where.describe(n_layer)}{rest}; "
                f"{describe_plan(self.gpu_bytes)} on the GPU")

    def eval(self, tokens, all_logits: bool = False) -> np.ndarray:
        """Run `tokens` after those already cached and return float32 logits:
        (n_vocab,) for the last token, or (len(tokens), n_vocab) with all_logits."""
        toks = self._checked_tokens(tokens, "eval")
        if self.n_past + toks.size > self.n_ctx:
            self._make_room(toks.size)
        out = self._native_call(self._native.eval, toks.astype(np.int32), bool(all_logits))
        return out if all_logits else out[0]

    def eval_batch(self, batch, all_logits: bool = False) -> "list[np.ndarray]":
        """Run several sequences' tokens in one forward pass: `batch` is [(seq, tokens), ...]
        with distinct sequence ids in [0, n_seq_max), each entry's tokens going after those its
        sequence holds. The tokens of all entries share each matrix product; attention stays
        within each sequence. Returns one float32 array per entry: (n_vocab,) for its last
        token, or (len(tokens), n_vocab) with all_logits. More than n_batch tokens in all run
        as several passes. No context shift happens here (a full sequence is a
        ContextFullError), and on any error no sequence keeps the batch's tokens."""
        entries = self._checked_batch(batch)
        before = {seq: self.seq_pos(seq) for seq, _ in entries}
        out: "list[list[np.ndarray]]" = [[] for _ in entries]
        try:
            for call in self._batch_calls(entries, self._native.n_batch):
                want = [all_logits or last for _, _, _, last in call]
                rows = self._native_call(self._native.eval_batch, [(seq, toks) for seq, toks, _, _ in call],
                                         bool(all_logits))
                r = 0
                for (seq, toks, i, last), w in zip(call, want):
                    n = toks.size if all_logits else 1
                    if w:
                        out[i].append(rows[r:r + n])
                    r += n
        except BaseException:
            for seq, n in before.items():
                if self.seq_pos(seq) > n:
                    self._native.truncate(n, seq)
            raise
        return [np.concatenate(parts) if all_logits else parts[-1][0] for parts in out]

    def _checked_batch(self, batch) -> "list[tuple[int, np.ndarray]]":
        if isinstance(batch, (str, bytes)) or not hasattr(batch, "__iter__"):
            raise ArgumentError(f"eval_batch takes a list of (sequence id, tokens) pairs, got {_show(batch)}")
        entries, seen = [], set()
        for item in batch:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ArgumentError(f"eval_batch takes (sequence id, tokens) pairs, got {_show(item)}")
            seq = _int_argument("sequence id", item[0], 0, self.n_seq_max - 1)
            if seq in seen:
                raise ArgumentError(f"sequence {seq} appears twice in one eval_batch")
            seen.add(seq)
            toks = self._checked_tokens(item[1], "eval_batch")
            if self.seq_pos(seq) + toks.size > self.n_ctx:
                raise ContextFullError(f"context of sequence {seq} is full: {self.seq_pos(seq)} cached + "
                                       f"{toks.size} new tokens > n_ctx {self.n_ctx}")
            entries.append((seq, toks.astype(np.int32)))
        if not entries:
            raise ArgumentError("eval_batch needs at least one (sequence id, tokens) pair")
        return entries

    @staticmethod
    def _batch_calls(entries, n_batch: int):
        """Split the entries into native calls of at most n_batch tokens, in order; yields
        lists of (seq, tokens, entry index, is the entry's last slice)."""
        call, room = [], n_batch
        for i, (seq, toks) in enumerate(entries):
            t0 = 0
            while t0 < toks.size:
                n = min(room, toks.size - t0)
                call.append((seq, toks[t0:t0 + n], i, t0 + n == toks.size))
                t0 += n
                room -= n
                if room == 0:
                    yield call
                    call, room = [], n_batch
        if call:
            yield call

    def seq_pos(self, seq: int) -> int:
        """Tokens sequence `seq` holds in the KV cache (its next token's position)."""
        return self._native.seq_pos(_int_argument("seq", seq, 0, self.n_seq_max - 1))

    def seq_rm(self, seq: int, p0: int = 0) -> None:
        """Forget the positions p0.. of sequence `seq` (all of them by default): its cells are
        free at once, and its next tokens go at position p0."""
        seq = _int_argument("seq", seq, 0, self.n_seq_max - 1)
        self._native.truncate(_int_argument("p0", p0, 0, self.seq_pos(seq)), seq)

    def seq_copy(self, src: int, dst: int, n: "int | None" = None) -> None:
        """Make sequence `dst` hold the first n positions of sequence `src` (all of them by
        default), their keys and values copied: a shared prompt prefix is evaluated once."""
        src = _int_argument("src", src, 0, self.n_seq_max - 1)
        dst = _int_argument("dst", dst, 0, self.n_seq_max - 1)
        n = self.seq_pos(src) if n is None else _int_argument("n", n, 0, self.seq_pos(src))
        self._native.seq_copy(src, dst, n)

    def seq_shift(self, seq: int, n_keep: int, n_discard: int) -> None:
        """Drop positions [n_keep, n_keep + n_discard) of sequence `seq`; the later ones move
        down by n_discard (their keys re-rotated to their new positions)."""
        seq = _int_argument("seq", seq, 0, self.n_seq_max - 1)
        n_pos = self.seq_pos(seq)
        n_keep = _int_argument("n_keep", n_keep, 0, n_pos)
        if n_keep == n_pos:
            raise ArgumentError(f"seq_shift: sequence {seq} holds {n_pos} positions, none after n_keep = {n_keep}")
        n_discard = _int_argument("n_discard", n_discard, 1, n_pos - n_keep)
        self._native.shift_context(n_keep, n_discard, seq)

    def embed(self, tokens, seq: int = 0) -> np.ndarray:
        """Run `tokens` after those already cached, like eval, and return the hidden
        states after the final norm, (len(tokens), n_embd) float32, instead of logits.
        seq: the sequence they go to (context shift applies to sequence 0 only)."""
        toks = self._checked_tokens(tokens, "embed")
        seq = _int_argument("seq", seq, 0, self.n_seq_max - 1)
        if self.seq_pos(seq) + toks.size > self.n_ctx:
            if seq != 0:
                raise ContextFullError(f"context of sequence {seq} is full: {self.seq_pos(seq)} cached + "
                                       f"{toks.size} new tokens > n_ctx {self.n_ctx}")
            self._make_room(toks.size)
        return self._native_call(self._native.embed, toks.astype(np.int32), seq)

    def capture(self, tokens, sites, output: bool = False, last_layer: int = -1) -> dict:
        """Run `tokens` after those already cached and return the inputs of the linear layers,
        for calibration: {(layer, site): (len(tokens), width) float32}, sites as pyggml.arch.Site
        numbers them (0 the normed input of attn_q/k/v, 1 the input of attn_output, 2 the normed
        input of ffn_gate/up, 3 the input of ffn_down). output: also {"output": input of the output matrix}.
        last_layer >= 0 stops the pass after that layer. No context shift happens here."""
        toks = self._checked_tokens(tokens, "capture")
        if self.n_past + toks.size > self.n_ctx:
            raise ContextFullError(f"context is full: {self.n_past} cached + {toks.size} new tokens > n_ctx {self.n_ctx}")
        sites = [(int(layer), int(site)) for layer, site in sites]
        arrays = self._native_call(self._native.eval_capture, toks.astype(np.int32), sites, bool(output), int(last_layer))
        out = dict(zip(sites, arrays))
        if output:
            out["output"] = arrays[-1]
        return out

    def capture_batch(self, batch, sites, output: bool = False, last_layer: int = -1) -> "list[dict]":
        """capture for several sequences at once, as eval_batch runs them ([(seq, tokens), ...],
        each entry's tokens after those its sequence holds): one dict per entry, as capture
        returns. The entries share each matrix product; the arrays equal those of one capture
        per sequence (bit for bit with quantized weights, to float rounding with float ones).
        On any error no sequence keeps the batch's tokens."""
        entries = self._checked_batch(batch)
        sites = [(int(layer), int(site)) for layer, site in sites]
        keys = sites + (["output"] if output else [])
        before = {seq: self.seq_pos(seq) for seq, _ in entries}
        parts: "list[list[list[np.ndarray]]]" = [[] for _ in entries]
        try:
            for call in self._batch_calls(entries, self._native.n_batch):
                arrays = self._native_call(self._native.eval_capture_batch, [(seq, toks) for seq, toks, _, _ in call],
                                           sites, bool(output), int(last_layer))
                r = 0
                for _, toks, i, _ in call:
                    parts[i].append([a[r:r + toks.size] for a in arrays])
                    r += toks.size
        except BaseException:
            for seq, n in before.items():
                if self.seq_pos(seq) > n:
                    self._native.truncate(n, seq)
            raise
        return [{k: (pieces[0][j] if len(pieces) == 1 else np.concatenate([p[j] for p in pieces]))
                 for j, k in enumerate(keys)} for pieces in parts]

    def _native_call(self, fn, *args):
        """Run a forward pass; a NaN or infinity it produced is a NonFiniteError naming the
        file and where it first appeared (the tokens of the call are not kept)."""
        try:
            return fn(*args)
        except NonFiniteError as e:
            raise NonFiniteError(
                f"{self.path}: {e}. The weights may be corrupt: Model.load(path, check_tensors=True) "
                "or `pyggml info --check-tensors` scans them"
            ) from None

    def _checked_tokens(self, tokens, what: str) -> np.ndarray:
        """tokens as a flat int64 array: a token id or a 1-D sequence of them, integers in
        [0, n_vocab). Floats, nested sequences and empty input are refused, not converted."""
        problem = f"{what} takes a token id or a 1-D sequence of token ids (integers in [0, {self.n_vocab}))"
        try:
            arr = np.asarray(tokens)
        except (ValueError, TypeError, OverflowError):
            raise ArgumentError(f"{problem}, got {_show(tokens)}") from None
        if arr.ndim > 1:
            raise ArgumentError(f"{problem}, got an array of shape {arr.shape}")
        if arr.size == 0:
            raise ArgumentError(f"{what} needs at least one token")
        arr = arr.reshape(-1)
        if arr.dtype == object:  # Python ints beyond int64, or mixed types
            if not all(isinstance(t, (int, np.integer)) and not isinstance(t, (bool, np.bool_)) for t in arr):
                raise ArgumentError(f"{problem}, got {_show(arr.tolist())}")
            bad = next((int(t) for t in arr if not 0 <= t < self.n_vocab), None)
            if bad is not None:
                raise ArgumentError(f"token ids must be in [0, {self.n_vocab}), got {bad}")
            arr = np.array([int(t) for t in arr], dtype=np.int64)
        if arr.dtype.kind not in "iu":
            raise ArgumentError(f"{problem}, got {arr.dtype} values: {_show(arr[:8].tolist())}")
        if arr.min() < 0 or arr.max() >= self.n_vocab:
            bad = int(arr[(arr < 0) | (arr >= self.n_vocab)][0])
            raise ArgumentError(f"token ids must be in [0, {self.n_vocab}), got {bad}")
        return arr.astype(np.int64)

    def _make_room(self, n_new: int) -> None:
        free = self.n_ctx - self.n_past
        if not self.context_shift or n_new > self.n_ctx - self.n_keep:
            raise ContextFullError(
                f"context is full: {self.n_past} cached + {n_new} new tokens > n_ctx {self.n_ctx}"
                + ("" if self.context_shift else " (reset(), a larger n_ctx, or context_shift=True)")
            )
        n_discard = max(n_new - free, (self.n_past - self.n_keep) // 2)
        self._native.shift_context(self.n_keep, n_discard)

    def reset(self) -> None:
        """Forget every cached token (of every sequence)."""
        self._native.reset()

    def truncate(self, n_past: int) -> None:
        """Keep the first n_past cached tokens and forget the rest (0 <= n_past <= self.n_past),
        so that a new prompt sharing that prefix only evaluates what differs."""
        self._native.truncate(_int_argument("n_past", n_past, 0, self.n_past))

    def __repr__(self) -> str:
        return f"Model({self.path!r}, arch={self.arch}, n_ctx={self.n_ctx}, n_past={self.n_past})"
