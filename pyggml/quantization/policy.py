"""Layer policies: which tensor type each tensor of a model gets when it is quantized.

A Policy is data: an ordered list of Rules (a regular expression searched in the GGUF tensor
name, an optional set of layers, a type) and a default type. The first rule that matches a
tensor decides its type; tensors no rule matches get the default. Tensors that are never
quantized (1-D tensors, norms -- the same test llama.cpp applies) keep their float type.
Whatever a rule picks, a row length the type's block does not divide falls back the way
llama.cpp's quantize tool falls back (Q4_K -> Q5_0, Q6_K -> Q8_0, ...), finally to F16.

llama.cpp's file types (Q4_K_M, Q3_K_S, ...) are presets: `preset_policy(name, model)` writes
out, for one model's shape (layer count, grouped-query ratio, tied embeddings), the rules that
reproduce the per-tensor choice of llama.cpp's quantize tool (src/llama-quant.cpp,
llama_tensor_get_type) for dense models. tests/data/preset_types.json.gz holds llama.cpp's own
choices for the real models' architectures; tests/quantization/test_policy.py compares against them.

Users write policies in Python or as TOML (see `load_policy`):

    name = "mine"
    base = "Q4_K_M"            # optional: a preset whose rules follow these
    default = "Q4_K"           # used when there is no base
    [[rules]]
    pattern = "ffn_down"       # regular expression, searched in the tensor name
    layers = "0-3,25-27"       # optional
    type = "Q6_K"
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Iterable, Optional

from ..errors import PyggmlError
from ..formats.types import GGMLType

_LAYER = re.compile(r"(?:^|\.)blk\.(\d+)\.")

# llama.cpp file types offered as presets: name -> (default type, llama_ftype id)
PRESETS = {
    "F32": (GGMLType.F32, 0), "F16": (GGMLType.F16, 1), "BF16": (GGMLType.BF16, 32),
    "Q4_0": (GGMLType.Q4_0, 2), "Q4_1": (GGMLType.Q4_1, 3), "Q5_0": (GGMLType.Q5_0, 8),
    "Q5_1": (GGMLType.Q5_1, 9), "Q8_0": (GGMLType.Q8_0, 7),
    "Q2_K": (GGMLType.Q2_K, 10), "Q3_K_S": (GGMLType.Q3_K, 11), "Q3_K_M": (GGMLType.Q3_K, 12),
    "Q3_K_L": (GGMLType.Q3_K, 13), "Q4_K_S": (GGMLType.Q4_K, 14), "Q4_K_M": (GGMLType.Q4_K, 15),
    "Q5_K_S": (GGMLType.Q5_K, 16), "Q5_K_M": (GGMLType.Q5_K, 17), "Q6_K": (GGMLType.Q6_K, 18),
    "IQ4_NL": (GGMLType.IQ4_NL, 25), "IQ4_XS": (GGMLType.IQ4_XS, 30),
    "IQ2_XXS": (GGMLType.IQ2_XXS, 19), "IQ2_XS": (GGMLType.IQ2_XS, 20), "IQ3_XS": (GGMLType.IQ3_S, 22),
    "IQ3_XXS": (GGMLType.IQ3_XXS, 23), "IQ1_S": (GGMLType.IQ1_S, 24), "IQ3_S": (GGMLType.IQ3_S, 26),
    "IQ3_M": (GGMLType.IQ3_S, 27), "IQ2_S": (GGMLType.IQ2_XS, 28), "IQ2_M": (GGMLType.IQ2_S, 29),
    "IQ1_M": (GGMLType.IQ1_M, 31), "TQ1_0": (GGMLType.TQ1_0, 36), "TQ2_0": (GGMLType.TQ2_0, 37),
    "MXFP4_MOE": (GGMLType.MXFP4, 38), "NVFP4": (GGMLType.NVFP4, 39), "Q1_0": (GGMLType.Q1_0, 40),
}

# presets built on the 1- and 2-bit codebook types, which llama.cpp quantizes only with an imatrix
_IQ2_FAMILY = ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")
# tensor types that need an importance matrix (llama.cpp's tensor_requires_imatrix), except in
# the token table and the output
IMATRIX_TYPES = frozenset({GGMLType.IQ3_XXS, GGMLType.IQ2_XXS, GGMLType.IQ2_XS, GGMLType.IQ2_S,
                           GGMLType.IQ1_M, GGMLType.IQ1_S})

# where a type cannot divide a row, llama.cpp's quantize tool uses these (then F16)
_FALLBACK = {
    GGMLType.Q2_K: GGMLType.Q4_0, GGMLType.Q3_K: GGMLType.Q4_0, GGMLType.Q4_K: GGMLType.Q5_0,
    GGMLType.Q5_K: GGMLType.Q5_1, GGMLType.Q6_K: GGMLType.Q8_0, GGMLType.IQ4_XS: GGMLType.IQ4_NL,
    GGMLType.IQ1_S: GGMLType.IQ4_NL, GGMLType.IQ1_M: GGMLType.IQ4_NL, GGMLType.IQ2_XXS: GGMLType.IQ4_NL,
    GGMLType.IQ2_XS: GGMLType.IQ4_NL, GGMLType.IQ2_S: GGMLType.IQ4_NL, GGMLType.IQ3_XXS: GGMLType.IQ4_NL,
    GGMLType.IQ3_S: GGMLType.IQ4_NL, GGMLType.TQ1_0: GGMLType.Q4_0, GGMLType.TQ2_0: GGMLType.Q4_0,
}

# tensors llama.cpp never quantizes (besides 1-D ones and norms)
_NEVER_QUANTIZED = ("ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj",
                    "ssm_conv1d", "attn_rel_b.weight", "position_embd", "token_types")


class PolicyError(PyggmlError, ValueError):
    """A policy or preset is malformed or unknown."""


@dataclasses.dataclass(frozen=True)
class ModelShape:
    """What llama.cpp's type choice depends on besides the tensor itself."""

    arch: str = "llama"
    n_layer: int = 1
    n_head: int = 1
    n_head_kv: int = 1
    n_expert: int = 0
    tied_embeddings: bool = False  # no output.weight: token_embd doubles as the output

    @property
    def n_gqa(self) -> int:
        return self.n_head // self.n_head_kv if self.n_head_kv else 0

    @classmethod
    def from_gguf_metadata(cls, metadata: dict, tensor_names: Iterable[str]) -> "ModelShape":
        arch = metadata.get("general.architecture", "llama")

        def first(key, default):
            v = metadata.get(f"{arch}.{key}", default)
            return int(max(v) if isinstance(v, list) else v)

        n_head = first("attention.head_count", 1)
        return cls(
            arch=arch,
            n_layer=first("block_count", 1),
            n_head=n_head,
            n_head_kv=first("attention.head_count_kv", n_head),
            n_expert=first("expert_count", 0),
            tied_embeddings="output.weight" not in set(tensor_names),
        )


def parse_layers(spec) -> Optional[frozenset]:
    """Layers from "0-3,7,10-12", a list of ints, a range, or None (all layers)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        out = set()
        for part in spec.replace(" ", "").split(","):
            if not part:
                continue
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise PolicyError(f"bad layer range {part!r} in {spec!r} (use e.g. \"0-3,7\")")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise PolicyError(f"bad layer range {part!r}: end before start")
            out.update(range(lo, hi + 1))
        return frozenset(out)
    try:
        return frozenset(int(i) for i in spec)
    except (TypeError, ValueError):
        raise PolicyError(f"layers must be a string like \"0-3,7\" or a list of ints, not {spec!r}") from None


def _format_layers(layers: frozenset) -> str:
    runs, items = [], sorted(layers)
    for i in items:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


@dataclasses.dataclass(frozen=True)
class Rule:
    """Tensors whose name matches `pattern` (re.search), in `layers` if given, get `type`."""

    pattern: str
    type: GGMLType
    layers: Optional[frozenset] = None
    # where `type` cannot divide a row: this type instead of the usual fallback
    fallback: Optional[GGMLType] = None

    def __post_init__(self):
        object.__setattr__(self, "type", _parse_type(self.type))
        if self.fallback is not None:
            object.__setattr__(self, "fallback", _parse_type(self.fallback))
        object.__setattr__(self, "layers", parse_layers(self.layers))
        try:
            re.compile(self.pattern)
        except re.error as e:
            raise PolicyError(f"bad tensor-name pattern {self.pattern!r}: {e}") from None

    def matches(self, name: str) -> bool:
        if not re.search(self.pattern, name):
            return False
        if self.layers is None:
            return True
        layer = tensor_layer(name)
        return layer is not None and layer in self.layers

    def __str__(self) -> str:
        where = f" layers {_format_layers(self.layers)}" if self.layers is not None else ""
        return f"{self.pattern!r}{where} -> {self.type.name}"


def _parse_type(value) -> GGMLType:
    try:
        return GGMLType.parse(value)
    except ValueError as e:
        raise PolicyError(str(e)) from None


def tensor_layer(name: str) -> Optional[int]:
    """The block index in a GGUF tensor name ("blk.7.attn_v.weight" -> 7), or None."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def is_quantizable(name: str, n_dims: int) -> bool:
    """llama.cpp's test for tensors it may quantize: 2-D or more, a weight, not a norm."""
    if n_dims < 2 or not name.endswith("weight") or "_norm.weight" in name:
        return False
    return not any(s in name for s in _NEVER_QUANTIZED)


def fallback_type(qtype: GGMLType, row_length: int, fallback: Optional[GGMLType] = None) -> GGMLType:
    """The type a row of `row_length` actually gets when `qtype` was asked for."""
    t = qtype
    if row_length % t.block_size:
        t = fallback if fallback is not None else _FALLBACK.get(t, GGMLType.F16)
        if row_length % t.block_size:
            t = GGMLType.F16
    return t


@dataclasses.dataclass(frozen=True)
class Policy:
    """An ordered list of rules and a default type; `base` names a preset that follows the rules.

    A policy with a base is resolved against a model's shape (`resolve`) before use.
    """

    rules: tuple = ()
    default: GGMLType = GGMLType.F16
    name: str = "custom"
    base: Optional[str] = None

    def __post_init__(self):
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "default", _parse_type(self.default))
        if self.base is not None and self.base.upper() not in PRESETS:
            raise PolicyError(f"unknown base preset {self.base!r}; presets: {', '.join(PRESETS)}")

    def resolve(self, model: ModelShape, has_imatrix: bool = False) -> "Policy":
        """This policy with its base preset written out for `model`."""
        if self.base is None:
            return self
        base = preset_policy(self.base, model, has_imatrix)
        return Policy(self.rules + base.rules, base.default, self.name)

    def choose(self, name: str, shape) -> Optional[GGMLType]:
        """The type for tensor `name` of numpy `shape` (row last), or None to keep its float type."""
        if self.base is not None:
            raise PolicyError(f"policy {self.name!r} has base {self.base!r}: call resolve(model) first")
        if not is_quantizable(name, len(shape)):
            return None
        t, fallback = self.default, None
        for rule in self.rules:
            if rule.matches(name):
                t, fallback = rule.type, rule.fallback
                break
        return fallback_type(t, int(shape[-1]), fallback)

    def to_toml(self) -> str:
        lines = [f'name = "{self.name}"']
        if self.base:
            lines.append(f'base = "{self.base}"')
        lines.append(f'default = "{self.default.name}"')
        for r in self.rules:
            lines += ["", "[[rules]]", f"pattern = {_toml_str(r.pattern)}"]
            if r.layers is not None:
                lines.append(f'layers = "{_format_layers(r.layers)}"')
            lines.append(f'type = "{r.type.name}"')
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        rows = [f"policy {self.name}: default {self.default.name}" + (f", base {self.base}" if self.base else "")]
        rows += [f"  {r}" for r in self.rules]
        return "\n".join(rows)


def _toml_str(s: str) -> str:
    return "'" + s + "'" if "'" not in s and "\n" not in s else '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pure_policy(qtype) -> Policy:
    """Every quantizable tensor gets `qtype` (llama-quantize --pure)."""
    t = _parse_type(qtype)
    return Policy((), t, f"pure {t.name}")


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _per_layer_rules(pattern: str, n_layer: int, pick, default: GGMLType) -> list:
    """Rules for `pattern` grouping the layers by the type `pick(layer)` gives them."""
    by_type: dict = {}
    for i in range(n_layer):
        t = pick(i)
        if t is not None and t != default:
            by_type.setdefault(t, set()).add(i)
    return [Rule(pattern, t, frozenset(layers)) for t, layers in by_type.items()]


def preset_policy(preset: str, model: ModelShape, has_imatrix: bool = False) -> Policy:
    """llama.cpp's file type `preset` written out as rules for `model`.

    Mirrors llama_tensor_get_type for models of any architecture except Falcon's special
    cases, mixtures of experts included: ffn_gate_inp stays F32, the 3-D ffn_*_exps follow
    their layer's ffn_* rule, and 8-expert models get llama.cpp's attn_v/attn_k/attn_output bumps. With an imatrix, llama.cpp
    changes a few choices (IQ4 and Q4_0/Q5_0 ffn_down), so pass has_imatrix accordingly.
    """
    key = preset.upper()
    if key not in PRESETS:
        raise PolicyError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    D, _ = PRESETS[key]
    if not D.is_quantized:
        return Policy((), D, key)
    n, gqa, n_expert = model.n_layer, model.n_gqa, model.n_expert
    T = GGMLType
    rules: list = []

    # output (and the token table when it doubles as the output); llama.cpp gives it Q8_0
    # where the preset's own type cannot divide its rows
    if key == "MXFP4_MOE":
        out_type = T.Q8_0
    elif key in _IQ2_FAMILY or key == "IQ3_XXS":
        out_type = T.Q5_K
    else:
        out_type = T.Q8_0 if D == T.Q8_0 else T.Q6_K
    out_names = [r"^output\.weight$"] + ([r"^token_embd\.weight$"] if model.tied_embeddings else [])
    rules += [Rule(p, out_type, fallback=T.Q8_0) for p in out_names]
    if key == "MXFP4_MOE":  # expert tensors MXFP4, everything else Q8_0
        return Policy(tuple(rules) + (Rule(r"_exps\.weight$", T.MXFP4),), T.Q8_0, key)
    if not model.tied_embeddings:
        embd = {"IQ2_XXS": T.Q2_K, "IQ2_XS": T.Q2_K, "IQ1_S": T.Q2_K, "IQ1_M": T.Q2_K, "IQ2_S": T.IQ3_S,
                "IQ2_M": T.IQ3_S, "IQ3_XXS": T.IQ3_S, "TQ1_0": T.Q4_K, "TQ2_0": T.Q4_K}.get(key)
        if embd is not None:
            rules.append(Rule(r"^token_embd\.weight$", embd))
    if key in _IQ2_FAMILY:
        return Policy(tuple(rules + _iq2_family_rules(key, model)), D, key)

    # attention V (and fused QKV / KV-B, which llama.cpp treats alike)
    is_70b = model.arch == "llama" and n == 80 and model.n_head != model.n_head_kv

    def attn_v(i):
        t = D
        if key == "Q2_K":
            t = T.Q4_K if gqa >= 4 else T.Q3_K
        elif key == "Q3_K_M":
            t = T.Q5_K if i < 2 else T.Q4_K
        elif key == "Q3_K_L":
            t = T.Q5_K
        elif key == "IQ3_XXS":
            t = T.Q4_K if gqa >= 4 else (T.IQ3_S if not has_imatrix else T.IQ3_XXS)
        elif key in ("IQ3_XS", "IQ3_S") and gqa >= 4:
            t = T.Q4_K
        elif key == "IQ3_M":
            t = T.Q4_K
        elif key in ("IQ4_NL", "IQ4_XS") and gqa >= 4:
            t = T.Q5_K
        elif key in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n):
            t = T.Q6_K
        elif key == "Q4_K_S" and i < 4:
            t = T.Q5_K
        if is_70b and t in (T.Q3_K, T.Q4_K):
            t = T.Q5_K
        if n_expert == 8:
            t = T.Q8_0
        return t

    attn_v_pattern = r"attn_v\.weight|attn_qkv\.weight|attn_kv_b\.weight"
    rules += _per_layer_rules(attn_v_pattern, n, attn_v, D)
    if n_expert == 8:
        rules.append(Rule(r"attn_k\.weight", T.Q8_0))
    elif key in ("IQ3_XS", "IQ3_XXS"):
        rules.append(Rule(r"attn_k\.weight", T.IQ3_XXS if key == "IQ3_XS" else T.IQ2_S))
    if key in ("IQ3_XS", "IQ3_XXS"):
        rules.append(Rule(r"attn_q\.weight", T.IQ3_XXS if key == "IQ3_XS" else T.IQ2_S))

    # FFN down projection
    def ffn_down(i):
        if key == "Q2_K":
            return T.Q3_K
        if key == "IQ3_XXS" and not has_imatrix:
            return T.Q4_K if i < n // 8 else T.Q3_K
        if key == "Q3_K_M":
            return T.Q5_K if i < n // 16 else T.Q4_K
        if key == "IQ3_M" and (i < n // 8 or (n_expert == 8 and _use_more_bits(i, n))):
            return T.Q4_K
        if key == "Q3_K_L":
            return T.Q5_K
        if key == "Q4_K_M":
            return T.Q6_K if _use_more_bits(i, n) else D
        if key in ("IQ4_NL", "IQ4_XS") and i < n // 8 and not has_imatrix:
            return T.Q5_K
        if key == "Q5_K_M":
            return T.Q6_K if _use_more_bits(i, n) else D
        if key == "Q4_K_S" and i < n // 8:
            return T.Q5_K
        if key in ("Q4_0", "Q5_0") and has_imatrix and i < n // 8:
            return T.Q4_1 if key == "Q4_0" else T.Q5_1
        return D

    rules += _per_layer_rules(r"ffn_down", n, ffn_down, D)

    # attention output projection
    if n_expert == 8:
        if key in ("Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ4_XS", "IQ3_XS", "IQ3_XXS",
                   "IQ3_S", "IQ3_M"):
            rules.append(Rule(r"attn_output\.weight", T.Q5_K))
    else:
        bump = {"Q2_K": T.Q3_K, "Q3_K_M": T.Q4_K, "Q3_K_L": T.Q5_K, "IQ3_XXS": T.IQ3_S, "IQ3_M": T.Q4_K}.get(key)
        if bump is not None:
            rules.append(Rule(r"attn_output\.weight", bump))
    if key == "IQ3_M":
        rules.append(Rule(r"attn_qkv\.weight", T.Q4_K))
    if key == "IQ3_XS":
        middle = frozenset(range(n // 8, 7 * n // 8))
        if middle:
            # llama.cpp's FFN_GATE / FFN_UP categories: any name holding ffn_gate / ffn_up (experts too)
            rules += [Rule(r"ffn_gate", T.IQ3_XXS, middle), Rule(r"ffn_up", T.IQ3_XXS, middle)]
    return Policy(tuple(rules), D, key)


def _iq2_family_rules(key: str, model: ModelShape) -> list:
    """llama.cpp's choices for the presets on the 1- and 2-bit codebook types (IQ1_S .. IQ2_M)."""
    T, n = GGMLType, model.n_layer
    wide = key in ("IQ2_S", "IQ2_M")  # these use IQ3_S where the others use Q2_K
    rules = []
    if model.n_gqa >= 4 or model.n_expert >= 4:
        rules.append(Rule(r"attn_v\.weight|attn_qkv\.weight|attn_kv_b\.weight", T.Q4_K))
    else:
        rules.append(Rule(r"attn_v\.weight|attn_qkv\.weight|attn_kv_b\.weight", T.IQ3_S if wide else T.Q2_K))
    if model.n_expert == 8:
        rules.append(Rule(r"attn_k\.weight", T.Q4_K))
    if n // 8 > 0:
        rules.append(Rule(r"ffn_down", T.IQ3_S if wide else T.Q2_K, frozenset(range(n // 8))))
    if model.n_expert == 8:
        rules.append(Rule(r"attn_output\.weight", T.Q5_K))
    elif key in ("IQ1_S", "IQ1_M"):
        rules.append(Rule(r"attn_output\.weight", T.IQ2_XXS))
    elif wide:
        rules.append(Rule(r"attn_output\.weight", T.IQ3_S))
    return rules


def imatrix_required(policy: Policy, tensors) -> list:
    """Names of the tensors (name, numpy shape) that `policy` gives a type needing an importance
    matrix, as llama.cpp's quantize tool checks before it refuses to run without one."""
    out = []
    for name, shape in tensors:
        if name in ("token_embd.weight", "output.weight"):
            continue
        t = policy.choose(name, shape)
        if t in IMATRIX_TYPES:
            out.append(name)
    return out


def load_policy(source) -> Policy:
    """A Policy from a TOML file path, a TOML string, or a dict of the same shape."""
    if isinstance(source, Policy):
        return source
    if isinstance(source, dict):
        return _policy_from_dict(source, "<dict>")
    text, where = source, "<string>"
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source and "=" not in source):
        where = os.fspath(source)
        try:
            with open(where, "rb") as f:
                text = f.read().decode("utf-8")
        except OSError as e:
            raise PolicyError(f"{where}: cannot read policy file: {e.strerror}") from None
    toml = _toml_module()
    try:
        data = toml.loads(text)
    except toml.TOMLDecodeError as e:
        raise PolicyError(f"{where}: not valid TOML: {e}") from None
    return _policy_from_dict(data, where)


def _toml_module():
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python < 3.11
        try:
            import tomli as tomllib
        except ImportError:
            raise PolicyError("reading TOML policies on Python < 3.11 needs the 'tomli' package") from None
    return tomllib


def _policy_from_dict(data: dict, where: str) -> Policy:
    known = {"name", "base", "default", "rules"}
    extra = set(data) - known
    if extra:
        raise PolicyError(f"{where}: unknown policy keys {sorted(extra)} (known: {sorted(known)})")
    rules = []
    for i, r in enumerate(data.get("rules", [])):
        if not isinstance(r, dict) or "pattern" not in r or "type" not in r:
            raise PolicyError(f"{where}: rule {i + 1} needs 'pattern' and 'type'")
        extra = set(r) - {"pattern", "type", "layers"}
        if extra:
            raise PolicyError(f"{where}: rule {i + 1} has unknown keys {sorted(extra)}")
        try:
            rules.append(Rule(str(r["pattern"]), r["type"], r.get("layers")))
        except PolicyError as e:
            raise PolicyError(f"{where}: rule {i + 1}: {e}") from None
    base = data.get("base")
    if base is None and "default" not in data:
        raise PolicyError(f"{where}: a policy needs 'default' (a type) or 'base' (a preset)")
    default = data.get("default", PRESETS[base.upper()][0].name if base and base.upper() in PRESETS else "F16")
    return Policy(tuple(rules), default, str(data.get("name", os.path.basename(where))), base)


def policy_for(spec, model: ModelShape, has_imatrix: bool = False, pure: bool = False) -> Policy:
    """Resolve what a user asked for into a concrete Policy for `model`.

    `spec`: a Policy, a preset name ("Q4_K_M"), a type name ("Q4_K"; with pure=True even
    preset names mean "this type everywhere"), or a path to a TOML policy.
    """
    if isinstance(spec, Policy):
        return spec.resolve(model, has_imatrix)
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and spec.lower().endswith(".toml")):
        return load_policy(os.fspath(spec)).resolve(model, has_imatrix)
    name = str(spec).upper()
    if not pure and name in PRESETS:
        return preset_policy(name, model, has_imatrix)
    return pure_policy(name)


def choose_policy(qtype, policy, model: ModelShape, has_imatrix: bool = False, pure: bool = False):
    """(Policy for `model`, llama.cpp's general.file_type) from what a user asked for: `policy` (a
    Policy, a TOML file whatever its name, or TOML text) when given, else `qtype` (a preset or a
    type; with `pure` a type everywhere)."""
    if policy is not None:
        return load_policy(policy).resolve(model, has_imatrix), 1
    return policy_for(qtype, model, has_imatrix=has_imatrix, pure=pure), ftype_of(qtype, pure)


def ftype_of(spec, pure: bool = False) -> int:
    """llama.cpp's general.file_type for a preset or type name (1 = mostly F16 otherwise)."""
    name = str(spec).upper() if isinstance(spec, str) else None
    if name in PRESETS and not pure:
        return PRESETS[name][1]
    try:
        t = GGMLType.parse(spec)
    except (ValueError, TypeError):
        return 1
    for _, (d, ft) in PRESETS.items():
        if d == t:
            return ft
    return 1
