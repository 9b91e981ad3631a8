"""A GGUF model's hyper-parameters and tensors, read from the file and checked against its
architecture before anything is allocated.

read_hparams reads the `<arch>.*` metadata keys, each checked for type and range, with the
architecture's defaults (its RuntimeSpec in pyggml/arch); check_model_tensors checks every
tensor the architecture reads (Architecture.tensors) for presence, shape and type. A failure is a
GGUFError naming the file, the key or tensor, the value and what was expected.
"""

from __future__ import annotations

import math

from .. import arch as architectures
from ..errors import GGUFError
from ..errors import show_value as _show
from ..formats.gguf_file import GGUFFile
from ..formats.types import GGMLType

# Sane ranges of what a file may declare: far beyond any real model, and small enough that
# nothing sized from them is allocated before the tensors that must match them are checked.
MAX_EMBD = 1 << 20
MAX_LAYERS = 1 << 16
MAX_HEADS = 1 << 16
MAX_HEAD_DIM = 1 << 16
MAX_FF = 1 << 24
MAX_VOCAB = (1 << 31) - 1
MAX_WINDOW = (1 << 31) - 1
MAX_EXPERTS = 1 << 16

_MISSING = object()


class _Keys:
    """Reads the `<arch>.*` hyper-parameters of one file, each checked for type and range;
    a failure is a GGUFError naming the file, the key, the value and what was expected."""

    def __init__(self, path, meta: dict, arch: str):
        self.path, self.meta, self.arch = path, meta, arch

    def fail(self, key: str, value, expected: str) -> GGUFError:
        return GGUFError(self.path, f"{key} = {_show(value)}: expected {expected}")

    def get(self, name: str, default=_MISSING):
        """(full key, value); the default when the key is absent (none: it is required)."""
        key = f"{self.arch}.{name}"
        if key in self.meta:
            return key, self.meta[key]
        if default is _MISSING:
            raise GGUFError(self.path, f"missing metadata key {key}")
        return key, default

    def check_int(self, key: str, value, lo: int, hi: int, expected: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(key, value, expected or f"an integer in [{lo}, {hi}]")
        return value

    def int(self, name: str, lo: int, hi: int, default=_MISSING) -> int:
        key, value = self.get(name, default)
        return self.check_int(key, value, lo, hi)

    def number(self, name: str, default: float, ok, expected: str) -> float:
        """A float (integers are taken too) that is finite and satisfies ok(value)."""
        key, value = self.get(name, default)
        try:
            x = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
        except OverflowError:
            x = math.nan
        if not math.isfinite(x) or not ok(x):
            raise self.fail(key, value, expected)
        return x

    def str(self, name: str, default: str) -> str:
        key, value = self.get(name, default)
        if not isinstance(value, str):
            raise self.fail(key, value, "a string")
        return value


def squeeze_ne(ne: tuple, n_dims: int) -> tuple:
    """ne without trailing dimensions of 1 beyond the first n_dims (ggml pads shapes with 1s)."""
    ne = tuple(ne)
    while len(ne) > n_dims and ne[-1] == 1:
        ne = ne[:-1]
    return ne


def read_hparams(path, meta: dict, tensors: dict) -> dict:
    """The hyper-parameters of the file's architecture, every one checked (_Keys).
    meta: the file's metadata; tensors: {name: (type id, data, ne)}."""
    supported = architectures.supported()
    if "general.architecture" not in meta:
        raise GGUFError(path, f"missing metadata key general.architecture (supported architectures: {supported})")
    arch = meta["general.architecture"]
    if not isinstance(arch, str):
        raise GGUFError(path, f"general.architecture = {_show(arch)}: expected a string, one of {supported}")
    known = architectures.get(arch)
    if known is None:
        raise GGUFError(path, f"unsupported architecture {arch!r}; supported: {supported}")
    spec = known.runtime
    k = _Keys(path, meta, arch)

    if "token_embd.weight" not in tensors:
        raise GGUFError(path, "missing tensor token_embd.weight")
    embd_ne = squeeze_ne(tensors["token_embd.weight"][2], 2)
    if len(embd_ne) != 2:
        raise GGUFError(path, f"tensor 'token_embd.weight' has shape ne={list(embd_ne)}: expected 2 dimensions "
                              "(embedding_length, vocabulary size)")
    n_vocab = embd_ne[1]
    if n_vocab > MAX_VOCAB:
        raise GGUFError(path, f"tensor 'token_embd.weight' has {n_vocab} rows: expected a vocabulary of at most {MAX_VOCAB}")

    n_embd = k.int("embedding_length", 1, MAX_EMBD)
    n_layer = k.int("block_count", 1, MAX_LAYERS)
    n_head = k.int("attention.head_count", 1, MAX_HEADS)
    key, n_head_kv = k.get("attention.head_count_kv", n_head)
    if isinstance(n_head_kv, list):  # one per layer: pyggml needs them equal
        if not n_head_kv or len(set(map(repr, n_head_kv))) != 1:
            raise k.fail(key, n_head_kv, "one KV head count for every layer (per-layer counts are not supported)")
        n_head_kv = n_head_kv[0]
    k.check_int(key, n_head_kv, 1, n_head, f"a divisor of {arch}.attention.head_count = {n_head}")
    if n_head % n_head_kv:
        raise k.fail(key, n_head_kv, f"a divisor of {arch}.attention.head_count = {n_head}")
    key, n_ff = k.get("feed_forward_length")
    if isinstance(n_ff, list):
        raise k.fail(key, n_ff, "one feed-forward size (per-layer sizes are not supported)")
    k.check_int(key, n_ff, 1, MAX_FF)
    if f"{arch}.attention.key_length" not in meta and n_embd < n_head:
        raise GGUFError(path, f"{arch}.attention.key_length is missing and {arch}.embedding_length / "
                              f"{arch}.attention.head_count = {n_embd} / {n_head} gives no head size")
    head_dim_k = k.int("attention.key_length", 1, MAX_HEAD_DIM, n_embd // n_head)
    head_dim_v = k.int("attention.value_length", 1, MAX_HEAD_DIM, head_dim_k)
    key, n_rot = k.get("rope.dimension_count", head_dim_k)
    expected = f"an even integer in [0, {arch}.attention.key_length = {head_dim_k}]"
    if k.check_int(key, n_rot, 0, head_dim_k, expected) % 2:
        raise k.fail(key, n_rot, expected)

    positive = "a finite number > 0"
    rope_base = k.number("rope.freq_base", 10000.0, lambda x: x > 0, positive)
    rope_scale = 1.0
    yarn = {}
    scaling = k.str("rope.scaling.type", "none")
    if scaling in ("linear", "yarn"):
        # llama.cpp: a factor of 0 means no scaling
        factor = k.number("rope.scaling.factor", 1.0, lambda x: x >= 0, "a finite number >= 0")
        rope_scale = 1.0 / factor if factor > 0 else 1.0
        if scaling == "yarn":
            yarn = _read_yarn(k, rope_scale)
    elif scaling not in ("none", ""):
        raise GGUFError(path, f"{arch}.rope.scaling.type = {scaling!r}: rope scaling {scaling!r} is not supported "
                              "(supported: none, linear, yarn)")
    n_swa = k.int("attention.sliding_window", 0, MAX_WINDOW, 0) if spec.swa_pattern else 0
    base_swa = k.number("rope.freq_base_swa", spec.rope_base_swa or rope_base, lambda x: x > 0, positive)
    layer_swa = [0] * n_layer
    if n_swa:
        key, pattern = k.get("attention.sliding_window_pattern", spec.swa_pattern)
        if isinstance(pattern, list):  # one flag per layer, true = sliding window
            if len(pattern) < n_layer or not all(isinstance(p, int) for p in pattern[:n_layer]):
                raise k.fail(key, pattern, f"at least {n_layer} flags (true: sliding-window layer), one per layer")
            layer_swa = [1 if p else 0 for p in pattern[:n_layer]]
        else:  # llama.cpp's set_swa_pattern(n): every n-th layer is global; 0: all sliding
            n = k.check_int(key, pattern, 0, MAX_LAYERS)
            layer_swa = [1 if n == 0 or il % n < n - 1 else 0 for il in range(n_layer)]
    rms_eps = k.number("attention.layer_norm_rms_epsilon", 1e-5, lambda x: 0 <= x < 1, "a finite number in [0, 1)")
    # llama.cpp: an attention scale of 0 means the default 1 / sqrt(head size)
    attn_scale = k.number("attention.scale", 0.0, lambda x: x >= 0, "a finite number >= 0") or 1.0 / math.sqrt(head_dim_k)
    non_negative = "a finite number >= 0 (0: none)"
    final_softcap = k.number("final_logit_softcapping", 0.0, lambda x: x >= 0, non_negative)
    attn_softcap = k.number("attn_logit_softcapping", 0.0, lambda x: x >= 0, non_negative)
    n_ctx_train = k.int("context_length", 0, 2**63 - 1, 0)
    step = spec.no_rope_every
    layer_no_rope = [1 if step and (il + 1) % step == 0 else 0 for il in range(n_layer)] if step else []
    temp_scale, temp_floor = 0.0, 0
    if spec.attn_temperature:
        temp_scale = k.number("attention.temperature_scale", 0.0, lambda x: x >= 0, non_negative)
        if temp_scale:
            # llama.cpp: the scale steps every rope.scaling.original_context_length positions
            temp_floor = k.int("rope.scaling.original_context_length", 1, 2**62, 0) or 0
            if not temp_floor:
                raise GGUFError(path, f"{arch}.attention.temperature_scale = {temp_scale} needs "
                                      f"{arch}.rope.scaling.original_context_length (missing or 0)")
    moe = _read_experts(k, spec, arch, n_ff)
    # ggml's rope multiplies cos and sin by it (phi3's LongRoPE: sqrt(1 + ln(scale) / ln(original context)))
    rope_attn_factor = k.number("rope.scaling.attn_factor", 1.0, lambda x: x > 0, positive)
    n_ctx_orig = k.int("rope.scaling.original_context_length", 0, 2**62, 0)
    if yarn:
        yarn["yarn_n_ctx_orig"] = n_ctx_orig or n_ctx_train
        if not yarn["yarn_n_ctx_orig"]:
            raise GGUFError(path, f"{arch}.rope.scaling.type = 'yarn' needs {arch}.rope.scaling.original_context_length "
                                  f"or {arch}.context_length (both missing or 0)")
        rope_attn_factor *= yarn.pop("mscale")
    return {
        "arch": arch,
        "n_vocab": n_vocab,
        "n_embd": n_embd,
        "n_layer": n_layer,
        "n_head": n_head,
        "n_head_kv": n_head_kv,
        "head_dim_k": head_dim_k,
        "head_dim_v": head_dim_v,
        "n_ff": n_ff,
        "n_rot": n_rot,
        "rope_neox": spec.rope_neox,
        "rms_eps": rms_eps,
        "attn_scale": attn_scale,
        "embd_scale": math.sqrt(n_embd) if spec.embd_scale_sqrt else 1.0,
        "final_logit_softcap": final_softcap,
        "attn_logit_softcap": attn_softcap,
        "n_swa": n_swa,
        "activation": spec.activation,
        "layer_swa": layer_swa,
        "layer_rope_base": [base_swa if s else rope_base for s in layer_swa],
        "layer_rope_scale": [1.0 if s and not spec.swa_rope_scaling else rope_scale for s in layer_swa],
        "n_ctx_train": n_ctx_train,
        "layer_no_rope": layer_no_rope,
        "attn_temp_scale": temp_scale,
        "attn_temp_floor": temp_floor,
        "rope_attn_factor": rope_attn_factor,
        "n_ctx_orig": n_ctx_orig,
        **yarn,
        **moe,
    }


def _get_mscale(scale: float, mscale: float) -> float:
    return 1.0 if scale <= 1.0 else 0.1 * mscale * math.log(scale) + 1.0


def _read_yarn(k: _Keys, freq_scale: float) -> dict:
    """YaRN rope scaling as llama.cpp applies it (llama_context's yarn_attn_factor, ggml's
    rope_yarn): ext_factor 1; the ramp between the pair indices ggml_rope_yarn_corr_dims gives for
    rope.scaling.yarn_beta_fast / _slow (default 32 and 1) rotations; and the rotated
    dimensions' magnitude ("mscale"): 1 + 0.1 ln(factor), or with
    rope.scaling.yarn_log_multiplier m (mistral3) (1 + 0.1 ln factor) / (1 + 0.1 m ln factor)."""
    positive = "a finite number > 0"
    factor = 1.0 / freq_scale
    log_mul = k.number("rope.scaling.yarn_log_multiplier", 0.0, lambda x: x >= 0, "a finite number >= 0")
    if log_mul:
        mscale = _get_mscale(factor, 1.0) / _get_mscale(factor, log_mul)
    else:
        mscale = _get_mscale(factor, 1.0)
    return {
        "yarn_ext_factor": 1.0,
        "yarn_beta_fast": k.number("rope.scaling.yarn_beta_fast", 32.0, lambda x: x > 0, positive),
        "yarn_beta_slow": k.number("rope.scaling.yarn_beta_slow", 1.0, lambda x: x > 0, positive),
        "mscale": mscale,
    }


def _read_experts(k: _Keys, spec, arch: str, n_ff: int) -> dict:
    """The mixture-of-experts keys: expert_count (0 or absent: a dense model), expert_used_count,
    expert_feed_forward_length (default: feed_forward_length, as llama.cpp's llama reads it),
    expert_weights_norm (default: the architecture's), expert_weights_scale and
    expert_gating_func (only softmax, 1, is supported)."""
    n_expert = k.int("expert_count", 0, MAX_EXPERTS, 0)
    if not n_expert:
        return {"n_expert": 0, "n_expert_used": 0, "n_ff_exp": 0, "expert_weights_norm": False,
                "expert_weights_scale": 1.0, "expert_gating": "softmax"}
    key, used = k.get("expert_used_count")
    k.check_int(key, used, 1, n_expert, f"an integer in [1, {arch}.expert_count = {n_expert}]")
    n_ff_exp = k.int("expert_feed_forward_length", 1, MAX_FF, n_ff)
    scale = k.number("expert_weights_scale", 1.0, lambda x: x >= 0, "a finite number >= 0 (0: none)")
    if spec.expert_gating == "softmax_weight":
        # gpt-oss: llama.cpp's graph fixes the gating and never renormalises, whatever the file says
        return {"n_expert": n_expert, "n_expert_used": used, "n_ff_exp": n_ff_exp, "expert_weights_norm": False,
                "expert_weights_scale": scale, "expert_gating": "softmax_weight"}
    key, norm = k.get("expert_weights_norm", spec.expert_weights_norm)
    if not isinstance(norm, bool):
        raise k.fail(key, norm, "a boolean")
    key, gating = k.get("expert_gating_func", 1)
    if gating != 1:
        raise k.fail(key, gating, "1 (softmax): pyggml routes these experts with a softmax only")
    return {"n_expert": n_expert, "n_expert_used": used, "n_ff_exp": n_ff_exp, "expert_weights_norm": norm,
            "expert_weights_scale": scale, "expert_gating": "softmax"}


def context_length(source) -> int:
    """The model's training context (<arch>.context_length, checked), 0 when absent.
    source: a GGUF path or an open GGUFFile."""
    if not isinstance(source, GGUFFile):
        with GGUFFile(source) as f:
            return context_length(f)
    arch = source.metadata.get("general.architecture")
    if not isinstance(arch, str):
        return 0
    return _Keys(source.path, source.metadata, arch).int("context_length", 0, 2**63 - 1, 0)


def check_model_tensors(path, hp: dict, tensors: dict) -> None:
    """Every tensor the architecture reads is present (when required), has the shape the
    hyper-parameters give and a type it may have; no tensor belongs to a layer past
    block_count. Names the tensor, its shape or type, and what was expected. The tensors an
    architecture reads are its Architecture.tensors (pyggml/arch)."""
    arch, n_layer = hp["arch"], hp["n_layer"]
    spec = architectures.get(arch).tensors(hp)
    tied = "output.weight" not in tensors
    weight_types = ", ".join(t.name for t in GGMLType if t.can_matmul)
    for name, (want, dims, kind, required) in spec.items():
        if name not in tensors:
            if required:
                raise GGUFError(path, f"missing tensor {name} (a {arch} model with {arch}.block_count = {n_layer} needs it)")
            continue
        type_id, _, ne = tensors[name]
        got = squeeze_ne(ne, len(want))
        if got != want:
            raise GGUFError(path, f"tensor {name!r} has shape ne={list(ne)}: expected {list(want)} = {dims} "
                                  f"from the {arch}.* hyper-parameters")
        t = GGMLType(type_id)
        if (kind == "matrix" or (kind == "table" and tied)) and not t.can_matmul:
            raise GGUFError(path, f"tensor {name!r} has type {t.name}, which is not a weight type (a matrix the model "
                                  f"multiplies may be {weight_types})")
        if not t.can_dequantize:
            raise GGUFError(path, f"tensor {name!r} has type {t.name}, which pyggml cannot read yet")
    for name in tensors:
        if name.startswith("blk."):
            layer = name.split(".")[1]
            if layer.isdigit() and int(layer) >= n_layer:
                raise GGUFError(path, f"tensor {name!r} belongs to layer {int(layer)}, but {arch}.block_count = "
                                      f"{n_layer}: the block count or the tensor table is wrong")
